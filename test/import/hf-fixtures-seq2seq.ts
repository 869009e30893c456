// Tiny checkpoints of the encoder-decoder families (T5, Marian, Whisper) in Hugging Face's on-disk layout, with the
// config keys transformers writes; see hf-fixtures.ts for the value grid that keeps them exact in every dtype.

import { Values, type HfTensors } from './hf-fixtures.ts';

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
