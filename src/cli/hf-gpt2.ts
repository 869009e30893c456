// GPT-2 (model_type "gpt2", GPT2LMHeadModel) → an mdl spec and mdl's parameter names.
//
// GPT-2 is a pre-norm decoder: token and learned position embeddings added unscaled, per block
// x + attn(ln_1(x)) then x + mlp(ln_2(x)), a final ln_f, and logits from the token embedding (tied). Its linear
// layers are Conv1D modules that store weights `[in, out]`, transposed here to mdl's `[out, in]`, and attention's
// q, k and v are one fused `c_attn` of `3 × n_embd` outputs, split here into three projections.

import { specNumber, usablePad, type HfConfig } from './hf-config.ts';
import { output, sameValues, splitRows, transpose, type Checkpoint, type ImportDType, type Imported } from './hf-tensors.ts';
import { SpecWriter } from './spec-writer.ts';
import type { TensorToWrite } from '../runtime/safetensors.ts';

/** Activations GPT2Config accepts that mdl has, by the name the spec uses. */
const ACTIVATIONS = { gelu_new: 'gelu', gelu_pytorch_tanh: 'gelu', gelu: 'gelu_erf', relu: 'relu', silu: 'silu', swish: 'silu' };

export function importGpt2(cfg: HfConfig, ckpt: Checkpoint, name: string, dtype: ImportDType): Imported {
  const vocab = cfg.int('vocab_size', 50257);
  const width = cfg.int('n_embd', 768);
  const heads = cfg.int('n_head', 12);
  const layers = cfg.int('n_layer', 12);
  const context = cfg.int('n_positions', 1024);
  const dff = cfg.int('n_inner', 4 * width);
  const eps = cfg.num('layer_norm_epsilon', 1e-5);
  const act = cfg.choice('activation_function', 'gelu_new', ACTIVATIONS);
  const tied = cfg.bool('tie_word_embeddings', true);
  if (width % heads) throw cfg.error('n_head', `${heads} does not divide n_embd ${width}`);
  cfg.requireDefault('scale_attn_weights', true, 'GPT-2 attention without the 1/√d_head scale');
  cfg.requireDefault('scale_attn_by_inverse_layer_idx', false, 'scores divided by the layer number are not expressible in mdl');
  cfg.requireDefault('add_cross_attention', false, 'GPT-2 with cross-attention is not a decoder-only model');
  const eos = cfg.optionalId('eos_token_id');
  const bos = cfg.optionalId('bos_token_id');

  const w = new SpecWriter();
  w.comment(`GPT-2 (GPT2LMHeadModel), written by mdl import from ${cfg.source}.`);
  w.comment('After each choice, the config.json key it comes from.');
  w.open(`model ${name}`);
  w.line(`dim vocab = ${vocab}`, 'vocab_size');
  w.line(`dim d_model = ${width}`, 'n_embd');
  w.line(`dim heads = ${heads}`, 'n_head');
  w.line(`dim layers = ${layers}`, 'n_layer');
  w.line(`dim d_ff = ${dff}`, cfg.has('n_inner') ? 'n_inner' : 'n_inner is null: 4 × n_embd');
  w.line(`dim context = ${context}`, 'n_positions');
  w.line(`dim B, T <= ${context}`, 'n_positions');
  w.blank();
  // GPT-2 has no pad token, and end-of-text is not borrowed for one (labels equal to the pad id never count in the
  // loss). As eos it ends generation and each training document, as in GPT-2's training data.
  const pad = usablePad(cfg.optionalId('pad_token_id'), eos);
  const specials = [pad !== undefined ? `pad ${pad}` : '', eos !== undefined ? `eos ${eos}` : ''].filter(Boolean).join(' ');
  w.line(`input ids: tokens[B, T] ${specials}`.trimEnd(), `${pad !== undefined ? 'pad_token_id' : 'no pad token'}; eos_token_id (<|endoftext|>)`);
  w.line('mask causal_lm = causal(align = bottom_right)', 'GPT-2 attends to earlier positions only');
  w.blank();
  w.line('embed tokens: learned(vocab, d_model, scale = 1), positions: learned(context)', 'wte + wpe, unscaled');
  w.open(`stack decoder x layers on ids (norm = pre layer, eps = ${specNumber(eps)}, bias = true)`, 'ln_1, ln_2 before each sublayer, ln_f at the end; layer_norm_epsilon');
  w.line('attention self heads = heads mask = causal_lm', 'c_attn split into q, k, v; scores × 1/√(n_embd / n_head)');
  w.line(`ffn d_ff ${act.as}`, `activation_function ${JSON.stringify(act.value)}${act.as === 'gelu' ? ' (the tanh form)' : ''}`);
  w.close();
  w.blank();
  w.line(`output logits = project(decoder, vocab${tied ? ', tied = tokens' : ''})`, tied ? 'tie_word_embeddings: lm_head is wte' : 'tie_word_embeddings is false: lm_head of its own');
  w.line('loss next_token = cross_entropy(logits, labels = next(ids))', 'position q predicts ids[q + 1]');
  w.close();

  const out = new Map<string, TensorToWrite>();
  const put = (n: string, t: Parameters<typeof output>[0]) => out.set(n, output(t, dtype));
  const wte = ckpt.take('wte.weight', [vocab, width], 'vocab_size × n_embd');
  put('embed.tokens.weight', wte);
  put('embed.positions.weight', ckpt.take('wpe.weight', [context, width], 'n_positions × n_embd'));
  const norm = (from: string, to: string) => {
    put(`${to}.weight`, ckpt.take(`${from}.weight`, [width], 'n_embd'));
    put(`${to}.bias`, ckpt.take(`${from}.bias`, [width], 'n_embd'));
  };
  // A Conv1D weight `[in, out]` and its bias, as a linear layer `[out, in]`.
  const conv = (from: string, inputs: number, outputs: number, why: string) => ({
    weight: transpose(ckpt.take(`${from}.weight`, [inputs, outputs], why)),
    bias: ckpt.take(`${from}.bias`, [outputs], why),
  });
  for (let i = 0; i < layers; i++) {
    const h = `h.${i}`;
    const to = `decoder.layers.${i}`;
    norm(`${h}.ln_1`, `${to}.self_attn_norm`);
    const qkv = conv(`${h}.attn.c_attn`, width, 3 * width, 'n_embd × 3·n_embd');
    const [qw, kw, vw] = splitRows(qkv.weight, 3);
    const [qb, kb, vb] = splitRows(qkv.bias, 3);
    for (const [p, weight, bias] of [['q', qw, qb], ['k', kw, kb], ['v', vw, vb]] as const) {
      put(`${to}.self_attn.${p}_proj.weight`, weight);
      put(`${to}.self_attn.${p}_proj.bias`, bias);
    }
    const o = conv(`${h}.attn.c_proj`, width, width, 'n_embd × n_embd');
    put(`${to}.self_attn.o_proj.weight`, o.weight);
    put(`${to}.self_attn.o_proj.bias`, o.bias);
    norm(`${h}.ln_2`, `${to}.ffn_norm`);
    const up = conv(`${h}.mlp.c_fc`, width, dff, 'n_embd × n_inner');
    put(`${to}.ffn.up_proj.weight`, up.weight);
    put(`${to}.ffn.up_proj.bias`, up.bias);
    const down = conv(`${h}.mlp.c_proj`, dff, width, 'n_inner × n_embd');
    put(`${to}.ffn.down_proj.weight`, down.weight);
    put(`${to}.ffn.down_proj.bias`, down.bias);
  }
  norm('ln_f', 'decoder.norm');
  // Checkpoints saved before transformers made them non-persistent carry the causal mask as buffers.
  ckpt.skip((n) => /(^|\.)h\.\d+\.attn\.(masked_)?bias$/.test(n));
  if (ckpt.has('/lm_head.weight') || !tied) {
    const head = ckpt.take('/lm_head.weight', [vocab, width], 'vocab_size × n_embd');
    if (tied && !sameValues(head, wte)) throw cfg.error('tie_word_embeddings', 'is true, but lm_head.weight differs from wte.weight');
    if (!tied) put('lm_head.weight', head);
  }
  ckpt.checkAllTaken();
  return { family: 'GPT-2', spec: w.text(), tensors: out, specials: { bos, eos, pad } };
}
