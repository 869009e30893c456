// BART (model_type "bart", BartForConditionalGeneration: facebook/bart-*) → an mdl spec and mdl's parameter names.
//
// BART is a post-norm encoder-decoder (x = norm(x + sublayer(x)), no final norm) with biases everywhere, an exact
// (erf) GELU, one embedding table for the source, the target and the output, and in each stack its own learned
// position table, read at row p + 2 (the table has max_position_embeddings + 2 rows), followed by a layer norm of
// the embedded input (layernorm_embedding). Embeddings are multiplied by √d_model only with scale_embedding. The
// logits add `final_logits_bias` ([1, vocab] in the checkpoint, `lm_head.bias` in mdl).

import type { HfConfig } from './hf-config.ts';
import { takeFairseqLayers, takeNorm, takeSharedEmbedding } from './hf-bart-layers.ts';
import { output, type Checkpoint, type ImportDType, type Imported } from './hf-tensors.ts';
import { SpecWriter } from './spec-writer.ts';
import { UserError } from './user-error.ts';
import type { Tensor, TensorToWrite } from '../runtime/safetensors.ts';

/** transformers' ACT2FN: "gelu" is the exact erf form; "gelu_new" the tanh one. */
const ACTIVATIONS = { gelu: 'gelu_erf', gelu_new: 'gelu', relu: 'relu', silu: 'silu', swish: 'silu' };
/** BartLearnedPositionalEmbedding skips the first two rows of its table. */
const OFFSET = 2;

export function importBart(cfg: HfConfig, ckpt: Checkpoint, name: string, dtype: ImportDType): Imported {
  const vocab = cfg.int('vocab_size');
  const width = cfg.int('d_model');
  const encLayers = cfg.int('encoder_layers');
  const decLayers = cfg.int('decoder_layers');
  const encHeads = cfg.int('encoder_attention_heads');
  const decHeads = cfg.int('decoder_attention_heads');
  const encFf = cfg.int('encoder_ffn_dim');
  const decFf = cfg.int('decoder_ffn_dim');
  const context = cfg.int('max_position_embeddings', 1024);
  const act = cfg.choice('activation_function', 'gelu', ACTIVATIONS);
  const scaled = cfg.bool('scale_embedding', false);
  cfg.requireDefault('normalize_before', false, 'BART is post-norm (pre-norm is mBART)');
  cfg.requireDefault('add_final_layer_norm', false, 'BART stacks end without a norm');
  cfg.requireDefault('normalize_embedding', true, 'BART normalizes the embedded input (layernorm_embedding)');
  cfg.requireDefault('static_position_embeddings', false, 'BART learns its positions');
  cfg.requireDefault('add_bias_logits', false, 'a bias inside the output projection other than final_logits_bias is not part of BART');
  cfg.requireDefault('extra_pos_embeddings', OFFSET, 'BART offsets its learned positions by 2');
  cfg.requireDefault('tie_word_embeddings', true, 'an output projection of its own is not expressible for BART');
  for (const [k, h] of [['encoder_attention_heads', encHeads], ['decoder_attention_heads', decHeads]] as const) if (width % h) throw cfg.error(k, `${h} does not divide d_model ${width}`);
  const pad = cfg.optionalId('pad_token_id') ?? 1;
  const eos = cfg.optionalId('eos_token_id') ?? 2;
  const start = cfg.optionalId('decoder_start_token_id') ?? eos;
  const rows = context + OFFSET;

  const w = new SpecWriter();
  w.comment(`BART (BartForConditionalGeneration), written by mdl import from ${cfg.source}.`);
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
  w.line('mask look_back = causal', 'without a decoder attention mask, decoder keys are only causally masked');
  w.line('mask memory = key_padding(src)');
  w.blank();
  w.line(`embed tokens: learned(vocab, d_model, scale = ${scaled ? 'sqrt(d_model)' : '1'}), positions: none`, `scale_embedding ${scaled}; each stack has its own positions`);
  const stackOptions = `norm = post layer, eps = 1e-5, bias = true, embed_norm = layer, positions = learned(${rows}, offset = ${OFFSET})`;
  w.open(`stack encoder x enc_layers on src (${stackOptions})`, 'x = layer_norm(x + sublayer(x)); layernorm_embedding; embed_positions');
  w.line('attention self heads = enc_heads mask = src_keys');
  w.line(`ffn enc_ff ${act.as}`, `activation_function ${JSON.stringify(act.value)}`);
  w.close();
  w.open(`stack decoder x dec_layers on dec_in (${stackOptions})`);
  w.line('attention self heads = dec_heads mask = look_back');
  w.line('attention cross memory = encoder heads = dec_heads mask = memory');
  w.line(`ffn dec_ff ${act.as}`);
  w.close();
  w.blank();
  w.line('output logits = project(decoder, vocab, tied = tokens, bias = true)', 'lm_head is the shared table, plus final_logits_bias');
  w.line('loss xent = cross_entropy(logits, labels = tgt)', 'position q predicts tgt[q]; pad never counts');
  w.close();

  const out = new Map<string, TensorToWrite>();
  const put = (n: string, t: Tensor) => out.set(n, output(t, dtype));
  const shared = takeSharedEmbedding(ckpt, cfg, vocab, width, 'BART', put);
  const bias = ckpt.has('/final_logits_bias') ? ckpt.take('/final_logits_bias', [1, vocab], '1 × vocab_size') : undefined;
  put('lm_head.bias', bias ? { ...bias, shape: [vocab] } : { shape: [vocab], data: new Float32Array(vocab), dtype: shared.dtype });
  for (const stack of ['encoder', 'decoder']) {
    put(`${stack}.positions.weight`, ckpt.take(`${stack}.embed_positions.weight`, [rows, width], '(max_position_embeddings + 2) × d_model'));
    takeNorm(ckpt, put, width, `${stack}.layernorm_embedding`, `${stack}.embed_norm`);
  }
  takeFairseqLayers(ckpt, put, width, [['encoder', encLayers, encFf], ['decoder', decLayers, decFf]]);
  ckpt.checkAllTaken();
  return { family: 'BART', spec: w.text(), tensors: out, specials: { bos: cfg.optionalId('bos_token_id'), eos, pad } };
}
