// The Llama family (model_type "llama", "mistral", "qwen2": LlamaForCausalLM and its descendants) → an mdl spec and
// mdl's parameter names.
//
// All are pre-norm decoders with RMS norms, no embedding scale, rotary positions rotating the two halves of each head
// (the Hugging Face layout of q and k), grouped-query attention and a SwiGLU feed-forward. They differ in biases
// (Llama: `attention_bias`/`mlp_bias`; Qwen2: q, k and v only), in θ, and in Mistral's sliding window. Linear weights
// are already `[out, in]`, so apart from Qwen2's missing o_proj bias (written as zeros, which is exact) the conversion
// is a renaming.

import { specNumber, usablePad, type HfConfig } from './hf-config.ts';
import { output, sameValues, type Checkpoint, type ImportDType, type ImportHints, type Imported } from './hf-tensors.ts';
import { SpecWriter } from './spec-writer.ts';
import type { Tensor, TensorToWrite } from '../runtime/safetensors.ts';

const TITLES: Record<string, string> = { llama: 'Llama (LlamaForCausalLM)', mistral: 'Mistral (MistralForCausalLM)', qwen2: 'Qwen2 (Qwen2ForCausalLM)' };

export function importLlama(cfg: HfConfig, ckpt: Checkpoint, name: string, dtype: ImportDType, hints: ImportHints): Imported {
  const type = cfg.str('model_type');
  const vocab = cfg.int('vocab_size');
  const width = cfg.int('hidden_size');
  const heads = cfg.int('num_attention_heads');
  const kvHeads = cfg.int('num_key_value_heads', heads);
  const layers = cfg.int('num_hidden_layers');
  const dff = cfg.int('intermediate_size');
  const context = cfg.int('max_position_embeddings');
  const eps = cfg.num('rms_norm_eps', 1e-6);
  const theta = cfg.num('rope_theta', 10000);
  const act = cfg.choice('hidden_act', 'silu', { silu: 'swiglu' });
  const tied = cfg.bool('tie_word_embeddings', false);
  if (width % heads) throw cfg.error('num_attention_heads', `${heads} does not divide hidden_size ${width}`);
  if (heads % kvHeads) throw cfg.error('num_key_value_heads', `${kvHeads} does not divide num_attention_heads ${heads}`);
  const dHead = width / heads;
  cfg.requireDefault('head_dim', dHead, `mdl's heads are hidden_size / num_attention_heads = ${dHead} wide`);
  cfg.requireDefault('rope_scaling', null, 'scaled rotary frequencies are not expressible in mdl');
  // Qwen2 always has q, k and v biases and no o_proj bias; Llama has all four or none.
  const qkvBias = type === 'qwen2' ? true : cfg.bool('attention_bias', false);
  const mlpBias = type === 'llama' ? cfg.bool('mlp_bias', false) : false;
  let window: number | undefined;
  if (type === 'mistral' && cfg.has('sliding_window')) window = cfg.int('sliding_window');
  if (type === 'qwen2') cfg.requireDefault('use_sliding_window', false, "Qwen2's per-layer sliding window is not expressible in mdl");
  if (window !== undefined && window >= context) window = undefined;
  const bos = cfg.optionalId('bos_token_id');
  // Llama 3 instruct lists several end ids; the one its tokenizer config calls eos_token is the one chats end with.
  const eosIds = cfg.ids('eos_token_id');
  const eosFromTokenizer = hints.eos !== undefined && (eosIds.length === 0 || eosIds.includes(hints.eos));
  const eos = eosFromTokenizer ? hints.eos : eosIds[0];
  // Without a pad token none is declared: borrowing eos would drop every eos label from the loss.
  const padId = cfg.optionalId('pad_token_id') ?? hints.pad;
  const pad = usablePad(padId, eos);
  const padFrom = padId === undefined ? 'no pad token' : pad === undefined ? 'the pad token is eos: no pad id' : cfg.has('pad_token_id') ? 'pad_token_id' : `tokenizer_config.json pad_token ${JSON.stringify(hints.padToken)}`;

  const w = new SpecWriter();
  w.comment(`${TITLES[type]}, written by mdl import from ${cfg.source}.`);
  w.comment('After each choice, the config.json key it comes from.');
  w.open(`model ${name}`);
  w.line(`dim vocab = ${vocab}`, 'vocab_size');
  w.line(`dim d_model = ${width}`, 'hidden_size');
  w.line(`dim heads = ${heads}`, 'num_attention_heads');
  w.line(`dim kv_heads = ${kvHeads}`, cfg.has('num_key_value_heads') ? 'num_key_value_heads' : 'num_key_value_heads is absent: one per head');
  w.line(`dim layers = ${layers}`, 'num_hidden_layers');
  w.line(`dim d_ff = ${dff}`, 'intermediate_size');
  w.line(`dim B, T <= ${context}`, 'max_position_embeddings');
  w.blank();
  const specials = [pad !== undefined ? `pad ${pad}` : '', bos !== undefined ? `bos ${bos}` : '', eos !== undefined ? `eos ${eos}` : ''].filter(Boolean).join(' ');
  const eosFrom = eosFromTokenizer ? `eos_token_id, tokenizer_config.json eos_token ${JSON.stringify(hints.eosToken)}` : 'eos_token_id';
  w.line(`input ids: tokens[B, T] ${specials}`.trimEnd(), `${padFrom}; bos_token_id; ${eosFrom}`);
  if (window !== undefined) w.line(`mask causal_lm = window(${window})`, `sliding_window: each position sees itself and the ${window - 1} before it`);
  else w.line('mask causal_lm = causal(align = bottom_right)', type === 'mistral' ? 'sliding_window is null or covers max_position_embeddings' : 'attends to earlier positions only');
  w.blank();
  w.line(`embed tokens: learned(vocab, d_model, scale = 1), positions: rotary(style = halves, theta = ${specNumber(theta)})`, 'unscaled embed_tokens; rotate_half rotary, rope_theta');
  w.open(`stack decoder x layers on ids (norm = pre rms, eps = ${specNumber(eps)}, bias = false)`, 'input_layernorm, post_attention_layernorm, norm; rms_norm_eps');
  const attnBias = qkvBias ? ' bias = true' : '';
  const attnWhy = type === 'qwen2' ? 'q, k, v biases (o_proj has none: written as zeros)' : qkvBias ? 'attention_bias' : 'attention_bias is false';
  w.line(`attention self heads = heads kv_heads = kv_heads mask = causal_lm${attnBias}`, attnWhy);
  w.line(`ffn d_ff ${act.as}${mlpBias ? ' bias = true' : ''}`, `hidden_act ${JSON.stringify(act.value)}: down(silu(gate(x)) · up(x))${mlpBias ? '; mlp_bias' : ''}`);
  w.close();
  w.blank();
  w.line(`output logits = project(decoder, vocab${tied ? ', tied = tokens' : ''})`, tied ? 'tie_word_embeddings: lm_head is embed_tokens' : 'tie_word_embeddings is false: lm_head');
  w.line('loss next_token = cross_entropy(logits, labels = next(ids))', 'position q predicts ids[q + 1]');
  w.close();

  const out = new Map<string, TensorToWrite>();
  const put = (n: string, t: Tensor) => out.set(n, output(t, dtype));
  const embed = ckpt.take('embed_tokens.weight', [vocab, width], 'vocab_size × hidden_size');
  put('embed.tokens.weight', embed);
  const kvWidth = kvHeads * dHead;
  for (let i = 0; i < layers; i++) {
    const from = `layers.${i}`;
    const to = `decoder.layers.${i}`;
    put(`${to}.self_attn_norm.weight`, ckpt.take(`${from}.input_layernorm.weight`, [width], 'hidden_size'));
    for (const [p, rows] of [['q', width], ['k', kvWidth], ['v', kvWidth], ['o', width]] as const) {
      const why = p === 'q' || p === 'o' ? 'hidden_size × hidden_size' : 'num_key_value_heads · head width × hidden_size';
      const weight = ckpt.take(`${from}.self_attn.${p}_proj.weight`, [rows, width], why);
      put(`${to}.self_attn.${p}_proj.weight`, weight);
      if (!qkvBias) continue;
      if (p === 'o' && type === 'qwen2') put(`${to}.self_attn.o_proj.bias`, { dtype: weight.dtype, shape: [width], data: new Float32Array(width) });
      else put(`${to}.self_attn.${p}_proj.bias`, ckpt.take(`${from}.self_attn.${p}_proj.bias`, [rows], p === 'q' || p === 'o' ? 'hidden_size' : 'num_key_value_heads · head width'));
    }
    put(`${to}.ffn_norm.weight`, ckpt.take(`${from}.post_attention_layernorm.weight`, [width], 'hidden_size'));
    for (const [p, shape] of [['gate', [dff, width]], ['up', [dff, width]], ['down', [width, dff]]] as const) {
      put(`${to}.ffn.${p}_proj.weight`, ckpt.take(`${from}.mlp.${p}_proj.weight`, shape, p === 'down' ? 'hidden_size × intermediate_size' : 'intermediate_size × hidden_size'));
      if (mlpBias) put(`${to}.ffn.${p}_proj.bias`, ckpt.take(`${from}.mlp.${p}_proj.bias`, [shape[0]], p === 'down' ? 'hidden_size' : 'intermediate_size'));
    }
  }
  put('decoder.norm.weight', ckpt.take('norm.weight', [width], 'hidden_size'));
  // Older checkpoints saved the rotary frequencies, which mdl computes from rope_theta.
  ckpt.skip((n) => /(^|\.)layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/.test(n));
  if (ckpt.has('/lm_head.weight') || !tied) {
    const head = ckpt.take('/lm_head.weight', [vocab, width], 'vocab_size × hidden_size');
    if (tied && !sameValues(head, embed)) throw cfg.error('tie_word_embeddings', 'is true, but lm_head.weight differs from embed_tokens.weight');
    if (!tied) put('lm_head.weight', head);
  }
  ckpt.checkAllTaken();
  return { family: TITLES[type].split(' ')[0], spec: w.text(), tensors: out, specials: { bos, eos, pad } };
}
