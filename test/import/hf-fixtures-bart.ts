// A tiny BART checkpoint in Hugging Face's on-disk layout (BartForConditionalGeneration as `save_pretrained` writes
// it), with the config keys transformers writes for facebook/bart-base; values from the grid of hf-fixtures.ts.

import { Values, type HfTensors } from './hf-fixtures.ts';

export interface BartSizes {
  vocab: number;
  width: number;
  heads: number;
  ff: number;
  layers: number;
  positions: number;
}

/** BartConfig as saved for facebook/bart-base (transformers 4.4x), shrunk. */
export function bartConfig(s: BartSizes, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    activation_dropout: 0.1,
    activation_function: 'gelu',
    add_bias_logits: false,
    add_final_layer_norm: false,
    architectures: ['BartModel'],
    attention_dropout: 0.1,
    bos_token_id: 0,
    classif_dropout: 0.1,
    classifier_dropout: 0.0,
    d_model: s.width,
    decoder_attention_heads: s.heads,
    decoder_ffn_dim: s.ff,
    decoder_layerdrop: 0.0,
    decoder_layers: s.layers,
    decoder_start_token_id: 2,
    dropout: 0.1,
    early_stopping: true,
    encoder_attention_heads: s.heads,
    encoder_ffn_dim: s.ff,
    encoder_layerdrop: 0.0,
    encoder_layers: s.layers,
    eos_token_id: 2,
    forced_bos_token_id: 0,
    forced_eos_token_id: 2,
    gradient_checkpointing: false,
    id2label: { '0': 'LABEL_0', '1': 'LABEL_1', '2': 'LABEL_2' },
    init_std: 0.02,
    is_encoder_decoder: true,
    label2id: { LABEL_0: 0, LABEL_1: 1, LABEL_2: 2 },
    max_position_embeddings: s.positions,
    model_type: 'bart',
    no_repeat_ngram_size: 3,
    normalize_before: false,
    normalize_embedding: true,
    num_beams: 4,
    num_hidden_layers: s.layers,
    pad_token_id: 1,
    scale_embedding: false,
    torch_dtype: 'float32',
    transformers_version: '4.46.3',
    use_cache: true,
    vocab_size: s.vocab,
    ...extra,
  };
}

/**
 * The state dict as saved: `model.` prefix, each stack's own position table of max_position_embeddings + 2 rows,
 * the per-stack embed_tokens copies of the shared table, and a final_logits_bias that is not zero.
 */
export function bartTensors(s: BartSizes, seed: number): HfTensors {
  const v = new Values(seed);
  const d = s.width;
  const t: HfTensors = new Map();
  const shared = v.tensor([s.vocab, d]);
  t.set('model.shared.weight', shared);
  const norm = (p: string) => {
    t.set(`${p}.weight`, v.tensor([d], 0.25, 1));
    t.set(`${p}.bias`, v.tensor([d], 0.25));
  };
  for (const stack of ['encoder', 'decoder']) {
    t.set(`model.${stack}.embed_tokens.weight`, { shape: shared.shape, data: Float64Array.from(shared.data) });
    t.set(`model.${stack}.embed_positions.weight`, v.tensor([s.positions + 2, d]));
    norm(`model.${stack}.layernorm_embedding`);
    for (let i = 0; i < s.layers; i++) {
      const l = `model.${stack}.layers.${i}`;
      const attention = (p: string) => {
        for (const x of ['k', 'v', 'q', 'out']) {
          t.set(`${p}.${x}_proj.weight`, v.tensor([d, d]));
          t.set(`${p}.${x}_proj.bias`, v.tensor([d], 0.25));
        }
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
  t.set('final_logits_bias', v.tensor([1, s.vocab], 1));
  return t;
}
