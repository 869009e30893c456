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

export interface T5Sizes {
  vocab: number;
  width: number;
  heads: number;
  ff: number;
  layers: number;
  buckets: number;
  maxDistance: number;
}

/** T5Config as `save_pretrained` writes it (transformers 4.4x); `gated-gelu` and untied as T5 1.1 / Flan-T5. */
export function t5Config(s: T5Sizes, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    architectures: ['T5ForConditionalGeneration'],
    classifier_dropout: 0.0,
    d_ff: s.ff,
    d_kv: s.width / s.heads,
    d_model: s.width,
    decoder_start_token_id: 0,
    dense_act_fn: 'relu',
    dropout_rate: 0.1,
    eos_token_id: 1,
    feed_forward_proj: 'relu',
    initializer_factor: 1.0,
    is_encoder_decoder: true,
    is_gated_act: false,
    layer_norm_epsilon: 1e-6,
    model_type: 't5',
    n_positions: 512,
    num_decoder_layers: s.layers,
    num_heads: s.heads,
    num_layers: s.layers,
    pad_token_id: 0,
    relative_attention_max_distance: s.maxDistance,
    relative_attention_num_buckets: s.buckets,
    torch_dtype: 'float32',
    transformers_version: '4.46.3',
    use_cache: true,
    vocab_size: s.vocab,
    ...extra,
  };
}

/** T5ForConditionalGeneration's state dict as saved: `shared.weight` once, the bias tables in block 0 only. */
export function t5Tensors(s: T5Sizes, seed: number, opts: { gated?: boolean; tied?: boolean } = {}): HfTensors {
  const v = new Values(seed);
  const d = s.width;
  const t: HfTensors = new Map();
  t.set('shared.weight', v.tensor([s.vocab, d]));
  const attention = (p: string) => {
    for (const x of ['q', 'k', 'v', 'o']) t.set(`${p}.${x}.weight`, v.tensor([d, d], 0.4));
  };
  const ff = (p: string) => {
    if (opts.gated) {
      t.set(`${p}.wi_0.weight`, v.tensor([s.ff, d]));
      t.set(`${p}.wi_1.weight`, v.tensor([s.ff, d]));
    } else t.set(`${p}.wi.weight`, v.tensor([s.ff, d]));
    t.set(`${p}.wo.weight`, v.tensor([d, s.ff]));
  };
  for (const stack of ['encoder', 'decoder']) {
    for (let i = 0; i < s.layers; i++) {
      const b = `${stack}.block.${i}.layer`;
      t.set(`${b}.0.layer_norm.weight`, v.tensor([d], 0.25, 1));
      attention(`${b}.0.SelfAttention`);
      if (i === 0) t.set(`${b}.0.SelfAttention.relative_attention_bias.weight`, v.tensor([s.buckets, s.heads], 1));
      const last = stack === 'encoder' ? 1 : 2;
      if (stack === 'decoder') {
        t.set(`${b}.1.layer_norm.weight`, v.tensor([d], 0.25, 1));
        attention(`${b}.1.EncDecAttention`);
      }
      t.set(`${b}.${last}.layer_norm.weight`, v.tensor([d], 0.25, 1));
      ff(`${b}.${last}.DenseReluDense`);
    }
    t.set(`${stack}.final_layer_norm.weight`, v.tensor([d], 0.25, 1));
  }
  if (opts.tied === false) t.set('lm_head.weight', v.tensor([s.vocab, d]));
  return t;
}

export interface MarianSizes {
  vocab: number;
  width: number;
  heads: number;
  ff: number;
  layers: number;
  positions: number;
}

/** MarianConfig as `save_pretrained` writes it for an Opus-MT model (transformers 4.4x). */
export function marianConfig(s: MarianSizes, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    activation_dropout: 0.0,
    activation_function: 'swish',
    add_bias_logits: false,
    add_final_layer_norm: false,
    architectures: ['MarianMTModel'],
    attention_dropout: 0.0,
    bos_token_id: 0,
    classif_dropout: 0.0,
    classifier_dropout: 0.0,
    d_model: s.width,
    decoder_attention_heads: s.heads,
    decoder_ffn_dim: s.ff,
    decoder_layerdrop: 0.0,
    decoder_layers: s.layers,
    decoder_start_token_id: s.vocab - 1,
    decoder_vocab_size: s.vocab,
    dropout: 0.1,
    encoder_attention_heads: s.heads,
    encoder_ffn_dim: s.ff,
    encoder_layerdrop: 0.0,
    encoder_layers: s.layers,
    eos_token_id: 0,
    forced_eos_token_id: 0,
    init_std: 0.02,
    is_encoder_decoder: true,
    max_length: s.positions,
    max_position_embeddings: s.positions,
    model_type: 'marian',
    normalize_before: false,
    normalize_embedding: false,
    num_beams: 4,
    num_hidden_layers: s.layers,
    pad_token_id: s.vocab - 1,
    scale_embedding: true,
    share_encoder_decoder_embeddings: true,
    static_position_embeddings: true,
    torch_dtype: 'float32',
    transformers_version: '4.46.3',
    use_cache: true,
    vocab_size: s.vocab,
    ...extra,
  };
}

/** MarianMTModel's state dict as saved: `model.` prefix, the sinusoid tables and a zero final_logits_bias included. */
export function marianTensors(s: MarianSizes, seed: number): HfTensors {
  const v = new Values(seed);
  const d = s.width;
  const t: HfTensors = new Map();
  t.set('model.shared.weight', v.tensor([s.vocab, d]));
  // transformers fills these with sin in the first half of each row and cos in the second (f32 values).
  const sinusoid = Float64Array.from({ length: s.positions * d }, (_, k) => {
    const [p, j] = [Math.floor(k / d), k % d];
    const i = j < d / 2 ? j : j - d / 2;
    const angle = p / 10000 ** ((2 * i) / d);
    return Math.fround(j < d / 2 ? Math.sin(angle) : Math.cos(angle));
  });
  for (const stack of ['encoder', 'decoder']) {
    t.set(`model.${stack}.embed_positions.weight`, { shape: [s.positions, d], data: sinusoid });
    for (let i = 0; i < s.layers; i++) {
      const l = `model.${stack}.layers.${i}`;
      const attention = (p: string) => {
        for (const x of ['k', 'v', 'q', 'out']) {
          t.set(`${p}.${x}_proj.weight`, v.tensor([d, d]));
          t.set(`${p}.${x}_proj.bias`, v.tensor([d], 0.25));
        }
      };
      const norm = (p: string) => {
        t.set(`${p}.weight`, v.tensor([d], 0.25, 1));
        t.set(`${p}.bias`, v.tensor([d], 0.25));
      };
      attention(`${l}.self_attn`);
      norm(`${l}.self_attn_layer_norm`);
      if (stack === 'decoder') {
        attention(`${l}.encoder_attn`);
        norm(`${l}.encoder_attn_layer_norm`);
      }
      t.set(`${l}.fc1.weight`, v.tensor([s.ff, d]));
      t.set(`${l}.fc1.bias`, v.tensor([s.ff], 0.25));
      t.set(`${l}.fc2.weight`, v.tensor([d, s.ff]));
      t.set(`${l}.fc2.bias`, v.tensor([d], 0.25));
      norm(`${l}.final_layer_norm`);
    }
  }
  t.set('final_logits_bias', { shape: [1, s.vocab], data: new Float64Array(s.vocab) });
  return t;
}

export interface WhisperSizes {
  vocab: number;
  width: number;
  heads: number;
  ff: number;
  layers: number;
  positions: number;
  frames: number;
}

/** WhisperConfig as `save_pretrained` writes it (transformers 4.4x), with the encoder's sizes alongside. */
export function whisperConfig(s: WhisperSizes, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    activation_dropout: 0.0,
    activation_function: 'gelu',
    apply_spec_augment: false,
    architectures: ['WhisperForConditionalGeneration'],
    attention_dropout: 0.0,
    begin_suppress_tokens: [s.vocab - 2],
    bos_token_id: s.vocab - 3,
    d_model: s.width,
    decoder_attention_heads: s.heads,
    decoder_ffn_dim: s.ff,
    decoder_layerdrop: 0.0,
    decoder_layers: s.layers,
    decoder_start_token_id: s.vocab - 2,
    dropout: 0.0,
    encoder_attention_heads: s.heads,
    encoder_ffn_dim: s.ff,
    encoder_layerdrop: 0.0,
    encoder_layers: 1,
    eos_token_id: s.vocab - 3,
    init_std: 0.02,
    is_encoder_decoder: true,
    max_source_positions: s.frames,
    max_target_positions: s.positions,
    model_type: 'whisper',
    num_hidden_layers: 1,
    num_mel_bins: 8,
    pad_token_id: s.vocab - 3,
    scale_embedding: false,
    torch_dtype: 'float32',
    transformers_version: '4.46.3',
    use_cache: true,
    use_weighted_layer_sum: false,
    vocab_size: s.vocab,
    ...extra,
  };
}

/** WhisperForConditionalGeneration's state dict as saved: `model.` prefix, no k_proj bias, a (small) audio encoder. */
export function whisperTensors(s: WhisperSizes, seed: number): HfTensors {
  const v = new Values(seed);
  const d = s.width;
  const t: HfTensors = new Map();
  // A token of the encoder, which the decoder import leaves behind.
  t.set('model.encoder.conv1.weight', v.tensor([d, 8, 3]));
  t.set('model.encoder.embed_positions.weight', v.tensor([s.frames, d]));
  t.set('model.decoder.embed_tokens.weight', v.tensor([s.vocab, d]));
  t.set('model.decoder.embed_positions.weight', v.tensor([s.positions, d], 0.25));
  const norm = (p: string) => {
    t.set(`${p}.weight`, v.tensor([d], 0.25, 1));
    t.set(`${p}.bias`, v.tensor([d], 0.25));
  };
  for (let i = 0; i < s.layers; i++) {
    const l = `model.decoder.layers.${i}`;
    for (const a of ['self_attn', 'encoder_attn']) {
      for (const x of ['k', 'v', 'q', 'out']) {
        t.set(`${l}.${a}.${x}_proj.weight`, v.tensor([d, d]));
        if (x !== 'k') t.set(`${l}.${a}.${x}_proj.bias`, v.tensor([d], 0.25));
      }
      norm(`${l}.${a}_layer_norm`);
    }
    t.set(`${l}.fc1.weight`, v.tensor([s.ff, d]));
    t.set(`${l}.fc1.bias`, v.tensor([s.ff], 0.25));
    t.set(`${l}.fc2.weight`, v.tensor([d, s.ff]));
    t.set(`${l}.fc2.bias`, v.tensor([d], 0.25));
    norm(`${l}.final_layer_norm`);
  }
  norm('model.decoder.layer_norm');
  return t;
}
