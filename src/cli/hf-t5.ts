// T5 (model_type "t5", T5ForConditionalGeneration: T5 1.0, T5 1.1, Flan-T5) → an mdl spec and mdl's parameter names.
//
// T5 is an encoder-decoder of pre-norm stacks with RMS norms ("T5LayerNorm"), no biases anywhere, no position
// embeddings but a learned relative-position bias added to the attention scores, one table per stack held by the
// first block and shared by all (bidirectional in the encoder, causal in the decoder; `shared = true` in mdl, stored
// in the stack's first layer as well), and scores that are not divided by √d_head. One embedding table ("shared") feeds both stacks. With tied embeddings the decoder's output is
// multiplied by d_model^−½ before the shared table projects it; that factor is folded here into the decoder's final
// norm scale, which multiplies the same vector.

import { specNumber, type HfConfig } from './hf-config.ts';
import { output, sameValues, type Checkpoint, type ImportDType, type Imported } from './hf-tensors.ts';
import { SpecWriter } from './spec-writer.ts';
import { UserError } from './user-error.ts';
import type { Tensor, TensorToWrite } from '../runtime/safetensors.ts';

/** feed_forward_proj → the ffn line's activation and whether it is gated (wi_0, wi_1) or not (wi). */
const FEED_FORWARD = { relu: { act: 'relu', gated: false }, 'gated-gelu': { act: 'geglu', gated: true }, 'gated-silu': { act: 'swiglu', gated: true } };

export function importT5(cfg: HfConfig, ckpt: Checkpoint, name: string, dtype: ImportDType): Imported {
  const vocab = cfg.int('vocab_size', 32128);
  const width = cfg.int('d_model', 512);
  const heads = cfg.int('num_heads', 8);
  const dKv = cfg.int('d_kv', 64);
  const dff = cfg.int('d_ff', 2048);
  const encLayers = cfg.int('num_layers', 6);
  const decLayers = cfg.int('num_decoder_layers', encLayers);
  const buckets = cfg.int('relative_attention_num_buckets', 32);
  const maxDistance = cfg.int('relative_attention_max_distance', 128);
  const eps = cfg.num('layer_norm_epsilon', 1e-6);
  const ff = cfg.choice('feed_forward_proj', 'relu', FEED_FORWARD);
  const tied = cfg.bool('tie_word_embeddings', true);
  const context = cfg.int('n_positions', 512);
  if (heads * dKv !== width) throw cfg.error('d_kv', `${dKv} × num_heads ${heads} is not d_model ${width}: mdl's heads are d_model / heads wide`);
  const pad = cfg.optionalId('pad_token_id') ?? 0;
  const eos = cfg.optionalId('eos_token_id') ?? 1;
  const start = cfg.optionalId('decoder_start_token_id') ?? pad;

  const w = new SpecWriter();
  w.comment(`T5 (T5ForConditionalGeneration), written by mdl import from ${cfg.source}.`);
  w.comment('After each choice, the config.json key it comes from.');
  w.open(`model ${name}`);
  w.line(`dim vocab = ${vocab}`, 'vocab_size');
  w.line(`dim d_model = ${width}`, 'd_model (d_kv × num_heads)');
  w.line(`dim heads = ${heads}`, 'num_heads');
  w.line(`dim enc_layers = ${encLayers}`, 'num_layers');
  w.line(`dim dec_layers = ${decLayers}`, cfg.has('num_decoder_layers') ? 'num_decoder_layers' : 'num_decoder_layers is absent: num_layers');
  w.line(`dim d_ff = ${dff}`, 'd_ff');
  w.line(`dim B, S <= ${context}, T <= ${context}`, cfg.has('n_positions') ? 'n_positions' : 'relative positions have no limit; 512 as T5 was trained');
  w.blank();
  w.line(`input src: tokens[B, S] pad ${pad}`, 'pad_token_id');
  w.line(`input tgt: tokens[B, T] pad ${pad} eos ${eos}`, 'pad_token_id, eos_token_id');
  w.line(`decoder_input dec_in = shift_right(tgt, bos = ${start})`, 'decoder_start_token_id');
  w.blank();
  w.line('mask src_keys = key_padding(src)', 'the encoder never looks at source padding');
  w.line('mask look_back = causal', 'the start token is the pad id, so decoder keys are not padding-masked');
  w.line('mask memory = key_padding(src)');
  const rel = `buckets = ${buckets}, max_distance = ${maxDistance}`;
  w.line(`score enc_rel = relative_bias(${rel}, shared = true)`, 'relative_attention_num_buckets, relative_attention_max_distance');
  w.line(`score dec_rel = relative_bias(${rel}, bidirectional = false, shared = true)`, "one table per stack, in its first block");
  w.blank();
  w.line('embed tokens: learned(vocab, d_model, scale = 1), positions: none', 'shared, unscaled; positions come from the relative bias');
  w.open(`stack encoder x enc_layers on src (norm = pre rms, eps = ${specNumber(eps)}, bias = false)`, 'T5LayerNorm is an RMS norm; layer_norm_epsilon');
  w.line('attention self heads = heads mask = src_keys score = enc_rel scale = 1', 'T5 does not divide scores by √d_kv');
  w.line(`ffn d_ff ${ff.as.act}`, `feed_forward_proj ${JSON.stringify(ff.value)}`);
  w.close();
  w.open(`stack decoder x dec_layers on dec_in (norm = pre rms, eps = ${specNumber(eps)}, bias = false)`);
  w.line('attention self heads = heads mask = look_back score = dec_rel scale = 1');
  w.line('attention cross memory = encoder heads = heads mask = memory scale = 1', 'EncDecAttention has no position bias');
  w.line(`ffn d_ff ${ff.as.act}`);
  w.close();
  w.blank();
  w.line(`output logits = project(decoder, vocab${tied ? ', tied = tokens' : ''})`, tied ? `tie_word_embeddings: the final norm scale holds the d_model^-0.5` : 'tie_word_embeddings is false: lm_head');
  w.line('loss xent = cross_entropy(logits, labels = tgt)', 'position q predicts tgt[q]; pad never counts');
  w.close();

  const out = new Map<string, TensorToWrite>();
  const put = (n: string, t: Tensor) => out.set(n, output(t, dtype));
  const shared = ckpt.take('shared.weight', [vocab, width], 'vocab_size × d_model');
  put('embed.tokens.weight', shared);
  // save_pretrained drops the stacks' copies of the shared table; older files keep them, and they must be the same.
  for (const copy of ['encoder.embed_tokens.weight', 'decoder.embed_tokens.weight']) {
    if (ckpt.has(copy) && !sameValues(ckpt.take(copy, [vocab, width], 'vocab_size × d_model'), shared)) throw new UserError(`${cfg.source}: ${copy} differs from shared.weight, which T5 ties it to`);
  }
  const attention = (from: string, to: string) => {
    for (const p of ['q', 'k', 'v']) put(`${to}.${p}_proj.weight`, ckpt.take(`${from}.${p}.weight`, [width, width], 'num_heads · d_kv × d_model'));
    put(`${to}.o_proj.weight`, ckpt.take(`${from}.o.weight`, [width, width], 'd_model × num_heads · d_kv'));
  };
  const feedForward = (from: string, to: string) => {
    if (ff.as.gated) {
      put(`${to}.gate_proj.weight`, ckpt.take(`${from}.wi_0.weight`, [dff, width], 'd_ff × d_model'));
      put(`${to}.up_proj.weight`, ckpt.take(`${from}.wi_1.weight`, [dff, width], 'd_ff × d_model'));
    } else put(`${to}.up_proj.weight`, ckpt.take(`${from}.wi.weight`, [dff, width], 'd_ff × d_model'));
    put(`${to}.down_proj.weight`, ckpt.take(`${from}.wo.weight`, [width, dff], 'd_model × d_ff'));
  };
  const norm = (from: string, to: string, factor = 1) => {
    const t = ckpt.take(`${from}.weight`, [width], 'd_model');
    put(`${to}.weight`, factor === 1 ? t : { ...t, data: t.data.map((x) => x * factor) });
  };
  const relBias = (stack: string) =>
    put(`${stack}.layers.0.self_attn.relative_attention_bias.weight`, ckpt.take(`${stack}.block.0.layer.0.SelfAttention.relative_attention_bias.weight`, [buckets, heads], 'relative_attention_num_buckets × num_heads'));
  for (let i = 0; i < encLayers; i++) {
    const b = `encoder.block.${i}.layer`;
    const to = `encoder.layers.${i}`;
    norm(`${b}.0.layer_norm`, `${to}.self_attn_norm`);
    attention(`${b}.0.SelfAttention`, `${to}.self_attn`);
    norm(`${b}.1.layer_norm`, `${to}.ffn_norm`);
    feedForward(`${b}.1.DenseReluDense`, `${to}.ffn`);
  }
  relBias('encoder');
  norm('encoder.final_layer_norm', 'encoder.norm');
  for (let i = 0; i < decLayers; i++) {
    const b = `decoder.block.${i}.layer`;
    const to = `decoder.layers.${i}`;
    norm(`${b}.0.layer_norm`, `${to}.self_attn_norm`);
    attention(`${b}.0.SelfAttention`, `${to}.self_attn`);
    norm(`${b}.1.layer_norm`, `${to}.cross_attn_norm`);
    attention(`${b}.1.EncDecAttention`, `${to}.cross_attn`);
    norm(`${b}.2.layer_norm`, `${to}.ffn_norm`);
    feedForward(`${b}.2.DenseReluDense`, `${to}.ffn`);
  }
  relBias('decoder');
  norm('decoder.final_layer_norm', 'decoder.norm', tied ? width ** -0.5 : 1);
  if (ckpt.has('lm_head.weight') || !tied) {
    const head = ckpt.take('lm_head.weight', [vocab, width], 'vocab_size × d_model');
    if (tied && !sameValues(head, shared)) throw cfg.error('tie_word_embeddings', 'is true, but lm_head.weight differs from shared.weight');
    if (!tied) put('lm_head.weight', head);
  }
  ckpt.checkAllTaken();
  return { family: 'T5', spec: w.text(), tensors: out, specials: { eos, pad } };
}
