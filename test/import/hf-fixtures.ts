// Tiny checkpoints in Hugging Face's on-disk layout, generated deterministically: config.json with the keys
// transformers writes for the family, and safetensors files with its tensor names, shapes and orientation (single
// file or sharded with model.safetensors.index.json).
//
// Every value has at most 8 significant bits (multiples of 1/256 below 1/2, norm scales 1 ± multiples of 1/128), so
// it is exact in f32, f16 and bf16 alike: a checkpoint stored in any of them holds the same numbers, and the reference forward needs no rounding.

import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeSafetensors, type SafetensorsDType, type TensorToWrite } from '../../src/runtime/safetensors.ts';
import { rng } from '../support/finite-differences.ts';

export interface HfTensor {
  shape: number[];
  data: Float64Array;
}

export type HfTensors = Map<string, HfTensor>;

export class Values {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = rng(seed);
  }

  /**
   * Uniform values in offset + (−amp, amp): multiples of 1/256 around 0 (amp ≤ 1), of 1/128 around 1 (norm scales),
   * so every value has at most 8 significant bits, as many as bf16 holds.
   */
  tensor(shape: number[], amp = 0.5, offset = 0): HfTensor {
    const n = shape.reduce((a, b) => a * b, 1);
    const unit = offset === 0 ? 256 : 128;
    const k = Math.floor(amp * unit);
    return { shape, data: Float64Array.from({ length: n }, () => offset + Math.round((2 * this.next() - 1) * k) / unit) };
  }
}

/** Writes config.json and the tensors, in `shards` files (1: model.safetensors; more: an index and numbered shards). */
export function writeHfDirectory(dir: string, config: Record<string, unknown>, tensors: HfTensors, opts: { dtype?: SafetensorsDType; shards?: number } = {}): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), `${JSON.stringify(config, null, 2)}\n`);
  const dtype = opts.dtype ?? 'F32';
  const names = [...tensors.keys()].sort();
  const shards = opts.shards ?? 1;
  const toWrite = (n: string): TensorToWrite => ({ shape: tensors.get(n)!.shape, data: Float32Array.from(tensors.get(n)!.data), dtype });
  if (shards === 1) {
    writeFileSync(join(dir, 'model.safetensors'), writeSafetensors(new Map(names.map((n) => [n, toWrite(n)])), { format: 'pt' }));
    return;
  }
  const weightMap: Record<string, string> = {};
  const per = Math.ceil(names.length / shards);
  for (let s = 0; s < shards; s++) {
    const file = `model-${String(s + 1).padStart(5, '0')}-of-${String(shards).padStart(5, '0')}.safetensors`;
    const part = names.slice(s * per, (s + 1) * per);
    for (const n of part) weightMap[n] = file;
    writeFileSync(join(dir, file), writeSafetensors(new Map(part.map((n) => [n, toWrite(n)])), { format: 'pt' }));
  }
  const totalSize = names.reduce((a, n) => a + tensors.get(n)!.data.length * (dtype === 'F32' ? 4 : 2), 0);
  writeFileSync(join(dir, 'model.safetensors.index.json'), `${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2)}\n`);
}

export interface Gpt2Sizes {
  vocab: number;
  width: number;
  heads: number;
  layers: number;
  positions: number;
}

/** GPT2Config as `save_pretrained` writes it (transformers 4.4x), for the given sizes. */
export function gpt2Config(s: Gpt2Sizes, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    activation_function: 'gelu_new',
    architectures: ['GPT2LMHeadModel'],
    attn_pdrop: 0.1,
    bos_token_id: s.vocab - 1,
    embd_pdrop: 0.1,
    eos_token_id: s.vocab - 1,
    initializer_range: 0.02,
    layer_norm_epsilon: 1e-5,
    model_type: 'gpt2',
    n_embd: s.width,
    n_head: s.heads,
    n_inner: null,
    n_layer: s.layers,
    n_positions: s.positions,
    reorder_and_upcast_attn: false,
    resid_pdrop: 0.1,
    scale_attn_by_inverse_layer_idx: false,
    scale_attn_weights: true,
    summary_activation: null,
    summary_first_dropout: 0.1,
    summary_proj_to_labels: true,
    summary_type: 'cls_index',
    summary_use_proj: true,
    torch_dtype: 'float32',
    transformers_version: '4.46.3',
    use_cache: true,
    vocab_size: s.vocab,
    ...extra,
  };
}

/**
 * GPT2LMHeadModel's state dict as saved: `transformer.` prefix (or none, as the original hub files), Conv1D weights
 * `[in, out]`, c_attn fused `[n_embd, 3·n_embd]`, lm_head left out because it is wte.
 */
export function gpt2Tensors(s: Gpt2Sizes, seed: number, opts: { prefix?: string; maskBuffers?: boolean } = {}): HfTensors {
  const v = new Values(seed);
  const p = opts.prefix ?? 'transformer.';
  const d = s.width;
  const t: HfTensors = new Map();
  t.set(`${p}wte.weight`, v.tensor([s.vocab, d]));
  t.set(`${p}wpe.weight`, v.tensor([s.positions, d], 0.25));
  for (let i = 0; i < s.layers; i++) {
    const h = `${p}h.${i}`;
    t.set(`${h}.ln_1.weight`, v.tensor([d], 0.25, 1));
    t.set(`${h}.ln_1.bias`, v.tensor([d], 0.25));
    t.set(`${h}.attn.c_attn.weight`, v.tensor([d, 3 * d]));
    t.set(`${h}.attn.c_attn.bias`, v.tensor([3 * d], 0.25));
    t.set(`${h}.attn.c_proj.weight`, v.tensor([d, d]));
    t.set(`${h}.attn.c_proj.bias`, v.tensor([d], 0.25));
    t.set(`${h}.ln_2.weight`, v.tensor([d], 0.25, 1));
    t.set(`${h}.ln_2.bias`, v.tensor([d], 0.25));
    t.set(`${h}.mlp.c_fc.weight`, v.tensor([d, 4 * d]));
    t.set(`${h}.mlp.c_fc.bias`, v.tensor([4 * d], 0.25));
    t.set(`${h}.mlp.c_proj.weight`, v.tensor([4 * d, d]));
    t.set(`${h}.mlp.c_proj.bias`, v.tensor([d], 0.25));
    if (opts.maskBuffers) {
      // The causal-mask buffers older checkpoints saved: a lower-triangular [1, 1, n, n] of ones, and −1e4.
      const n = s.positions;
      t.set(`${h}.attn.bias`, { shape: [1, 1, n, n], data: Float64Array.from({ length: n * n }, (_, k) => (k % n <= Math.floor(k / n) ? 1 : 0)) });
      t.set(`${h}.attn.masked_bias`, { shape: [], data: Float64Array.of(-1e4) });
    }
  }
  t.set(`${p}ln_f.weight`, v.tensor([d], 0.25, 1));
  t.set(`${p}ln_f.bias`, v.tensor([d], 0.25));
  return t;
}

export interface LlamaSizes {
  vocab: number;
  width: number;
  heads: number;
  kvHeads: number;
  layers: number;
  ff: number;
  positions: number;
}

/** LlamaConfig / MistralConfig / Qwen2Config as `save_pretrained` writes them (transformers 4.4x). */
export function llamaConfig(type: 'llama' | 'mistral' | 'qwen2', s: LlamaSizes, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const common = {
    attention_dropout: 0.0,
    bos_token_id: 1,
    eos_token_id: 2,
    hidden_act: 'silu',
    hidden_size: s.width,
    initializer_range: 0.02,
    intermediate_size: s.ff,
    max_position_embeddings: s.positions,
    model_type: type,
    num_attention_heads: s.heads,
    num_hidden_layers: s.layers,
    num_key_value_heads: s.kvHeads,
    rms_norm_eps: 1e-6,
    rope_theta: 10000.0,
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
    transformers_version: '4.46.3',
    use_cache: true,
    vocab_size: s.vocab,
  };
  const byType = {
    llama: { architectures: ['LlamaForCausalLM'], attention_bias: false, head_dim: s.width / s.heads, mlp_bias: false, pretraining_tp: 1, rope_scaling: null, rope_theta: 500000.0 },
    mistral: { architectures: ['MistralForCausalLM'], head_dim: s.width / s.heads, sliding_window: 4096 },
    qwen2: { architectures: ['Qwen2ForCausalLM'], bos_token_id: 0, eos_token_id: 0, max_window_layers: 28, rope_theta: 1000000.0, sliding_window: 4096, tie_word_embeddings: true, use_sliding_window: false },
  }[type];
  return { ...common, ...byType, ...extra };
}

/** LlamaForCausalLM's state dict as saved: `model.` prefix, nn.Linear weights `[out, in]`, lm_head at the top level. */
export function llamaTensors(s: LlamaSizes, seed: number, opts: { qkvBias?: boolean; oBias?: boolean; mlpBias?: boolean; tied?: boolean } = {}): HfTensors {
  const v = new Values(seed);
  const d = s.width;
  const kv = (s.kvHeads * d) / s.heads;
  const t: HfTensors = new Map();
  t.set('model.embed_tokens.weight', v.tensor([s.vocab, d]));
  for (let i = 0; i < s.layers; i++) {
    const l = `model.layers.${i}`;
    t.set(`${l}.input_layernorm.weight`, v.tensor([d], 0.25, 1));
    for (const [p, rows] of [['q', d], ['k', kv], ['v', kv], ['o', d]] as const) {
      t.set(`${l}.self_attn.${p}_proj.weight`, v.tensor([rows, d]));
      if ((p !== 'o' && opts.qkvBias) || (p === 'o' && opts.oBias)) t.set(`${l}.self_attn.${p}_proj.bias`, v.tensor([rows], 0.25));
    }
    t.set(`${l}.post_attention_layernorm.weight`, v.tensor([d], 0.25, 1));
    for (const [p, shape] of [['gate', [s.ff, d]], ['up', [s.ff, d]], ['down', [d, s.ff]]] as const) {
      t.set(`${l}.mlp.${p}_proj.weight`, v.tensor([...shape]));
      if (opts.mlpBias) t.set(`${l}.mlp.${p}_proj.bias`, v.tensor([shape[0]], 0.25));
    }
  }
  t.set('model.norm.weight', v.tensor([d], 0.25, 1));
  if (!opts.tied) t.set('lm_head.weight', v.tensor([s.vocab, d]));
  return t;
}
