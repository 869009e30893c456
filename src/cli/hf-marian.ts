// Marian (model_type "marian", MarianMTModel: the Opus-MT translators) → an mdl spec and mdl's parameter names.
//
// Marian is a post-norm encoder-decoder (x = norm(x + sublayer(x)), no final norm), with biases everywhere, token
// embeddings multiplied by √d_model, fixed sinusoidal positions laid out fairseq's way (all sines, then all cosines)
// and the same table in both stacks, SiLU ("swish") feed-forward layers, and one embedding table for the source, the
// target and the output. Its checkpoints carry the sinusoid tables (checked against the formula here, not copied)
// and a `final_logits_bias`, which mdl's output has no place for: it must be all zeros.

import type { HfConfig } from './hf-config.ts';
import { takeFairseqLayers, takeSharedEmbedding } from './hf-bart-layers.ts';
import { output, type Checkpoint, type ImportDType, type Imported } from './hf-tensors.ts';
import { SpecWriter } from './spec-writer.ts';
import { UserError } from './user-error.ts';
import type { Tensor, TensorToWrite } from '../runtime/safetensors.ts';

const ACTIVATIONS = { swish: 'silu', silu: 'silu', relu: 'relu', gelu_new: 'gelu' };

export function importMarian(cfg: HfConfig, ckpt: Checkpoint, name: string, dtype: ImportDType): Imported {
  const vocab = cfg.int('vocab_size');
  const width = cfg.int('d_model');
  const encLayers = cfg.int('encoder_layers');
  const decLayers = cfg.int('decoder_layers');
  const encHeads = cfg.int('encoder_attention_heads');
  const decHeads = cfg.int('decoder_attention_heads');
  const encFf = cfg.int('encoder_ffn_dim');
  const decFf = cfg.int('decoder_ffn_dim');
  const context = cfg.int('max_position_embeddings', 512);
  const act = cfg.choice('activation_function', 'swish', ACTIVATIONS);
  if (!cfg.bool('scale_embedding', true)) throw cfg.error('scale_embedding', 'false is not supported: Marian models scale embeddings by √d_model');
  cfg.requireDefault('share_encoder_decoder_embeddings', true, 'separate source and target vocabularies need two embedding tables');
  cfg.requireDefault('tie_word_embeddings', true, 'an output projection of its own is not expressible for Marian');
  cfg.requireDefault('normalize_before', false, 'Marian is post-norm');
  cfg.requireDefault('normalize_embedding', false, 'an embedding norm is not part of Marian');
  cfg.requireDefault('add_bias_logits', false, 'mdl\'s output projection has no bias');
  cfg.requireDefault('add_final_layer_norm', false, 'Marian stacks end without a norm');
  cfg.requireDefault('static_position_embeddings', true, 'learned positions are not part of Marian');
  cfg.requireDefault('decoder_vocab_size', vocab, 'separate source and target vocabularies need two embedding tables');
  for (const [k, h] of [['encoder_attention_heads', encHeads], ['decoder_attention_heads', decHeads]] as const) if (width % h) throw cfg.error(k, `${h} does not divide d_model ${width}`);
  const pad = cfg.optionalId('pad_token_id') ?? vocab - 1;
  const eos = cfg.optionalId('eos_token_id') ?? 0;
  const start = cfg.optionalId('decoder_start_token_id') ?? pad;

  const w = new SpecWriter();
  w.comment(`Marian (MarianMTModel), written by mdl import from ${cfg.source}.`);
  w.comment('After each choice, the config.json key it comes from.');
  w.open(`model ${name}`);
  w.line(`dim vocab = ${vocab}`, 'vocab_size');
  w.line(`dim d_model = ${width}`, 'd_model');
  w.line(`dim enc_heads = ${encHeads}`, 'encoder_attention_heads');
  w.line(`dim dec_heads = ${decHeads}`, 'decoder_attention_heads');
  w.line(`dim enc_layers = ${encLayers}`, 'encoder_layers');
  w.line(`dim dec_layers = ${decLayers}`, 'decoder_layers');
  w.line(`dim enc_ff = ${encFf}`, 'encoder_ffn_dim');
  w.line(`dim dec_ff = ${decFf}`, 'decoder_ffn_dim');
  w.line(`dim B, S <= ${context}, T <= ${context}`, 'max_position_embeddings');
  w.blank();
  w.line(`input src: tokens[B, S] pad ${pad} eos ${eos}`, 'pad_token_id, eos_token_id');
  w.line(`input tgt: tokens[B, T] pad ${pad} eos ${eos}`);
  w.line(`decoder_input dec_in = shift_right(tgt, bos = ${start})`, 'decoder_start_token_id');
  w.blank();
  w.line('mask src_keys = key_padding(src)', 'the encoder never looks at source padding');
  w.line('mask look_back = causal', 'the start token is the pad id, so decoder keys are not padding-masked');
  w.line('mask memory = key_padding(src)');
  w.blank();
  w.line('embed tokens: learned(vocab, d_model), positions: sinusoidal(layout = concatenated)', 'scale_embedding: × √d_model; sines then cosines');
  w.open('stack encoder x enc_layers on src (norm = post layer, eps = 1e-5, bias = true)', 'x = layer_norm(x + sublayer(x))');
  w.line('attention self heads = enc_heads mask = src_keys');
  w.line(`ffn enc_ff ${act.as}`, `activation_function ${JSON.stringify(act.value)}`);
  w.close();
  w.open('stack decoder x dec_layers on dec_in (norm = post layer, eps = 1e-5, bias = true)');
  w.line('attention self heads = dec_heads mask = look_back');
  w.line('attention cross memory = encoder heads = dec_heads mask = memory');
  w.line(`ffn dec_ff ${act.as}`);
  w.close();
  w.blank();
  w.line('output logits = project(decoder, vocab, tied = tokens)', 'lm_head is the shared table; final_logits_bias is zero');
  w.line('loss xent = cross_entropy(logits, labels = tgt)', 'position q predicts tgt[q]; pad never counts');
  w.close();

  const out = new Map<string, TensorToWrite>();
  const put = (n: string, t: Tensor) => out.set(n, output(t, dtype));
  takeSharedEmbedding(ckpt, cfg, vocab, width, 'Marian', put);
  for (const stack of ['encoder', 'decoder']) {
    if (ckpt.has(`${stack}.embed_positions.weight`)) checkSinusoid(ckpt.take(`${stack}.embed_positions.weight`, [context, width], 'max_position_embeddings × d_model'), `${stack}.embed_positions.weight`, cfg);
  }
  if (ckpt.has('/final_logits_bias')) {
    const bias = ckpt.take('/final_logits_bias', [1, vocab], '1 × vocab_size');
    const at = bias.data.findIndex((x) => x !== 0);
    if (at >= 0) throw new UserError(`${cfg.source}: final_logits_bias is not zero (${bias.data[at]} at id ${at}), and mdl's output projection has no bias`);
  }
  takeFairseqLayers(ckpt, put, width, [['encoder', encLayers, encFf], ['decoder', decLayers, decFf]]);
  ckpt.checkAllTaken();
  return { family: 'Marian', spec: w.text(), tensors: out, specials: { eos, pad } };
}

/** The saved position table must be Marian's sinusoid: row p = [sin(p·f_0) … sin(p·f_{d/2−1}), cos(p·f_0) …]. */
function checkSinusoid(t: Tensor, name: string, cfg: HfConfig): void {
  const [rows, d] = t.shape;
  const half = d / 2;
  for (let p = 0; p < rows; p++) {
    for (let i = 0; i < half; i++) {
      const angle = p / 10000 ** ((2 * i) / d);
      const [s, c] = [t.data[p * d + i], t.data[p * d + half + i]];
      const column = Math.abs(s - Math.sin(angle)) > 5e-3 ? i : Math.abs(c - Math.cos(angle)) > 5e-3 ? half + i : -1;
      if (column >= 0) throw new UserError(`${cfg.source}: ${name} is not Marian's sinusoid table (row ${p}, column ${column}), so the positions cannot be computed`);
    }
  }
}
