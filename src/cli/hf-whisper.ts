// Whisper's text decoder (model_type "whisper", WhisperForConditionalGeneration) → an mdl spec and mdl's names.
//
// The decoder is pre-norm with layer norms and biases (except k_proj, which has none and is written here as zeros,
// exactly the same), unscaled token embeddings plus learned positions, erf GELU, a final layer_norm, and logits from
// the token embedding. It cross-attends to the audio encoder's output; the encoder (two convolutions over the mel
// spectrogram, then its own transformer) is not imported: the spec reads its output as a features input, which
// `mdl run --features audio=FILE` supplies.

import { usablePad, type HfConfig } from './hf-config.ts';
import { output, sameValues, type Checkpoint, type ImportDType, type Imported } from './hf-tensors.ts';
import { SpecWriter } from './spec-writer.ts';
import type { Tensor, TensorToWrite } from '../runtime/safetensors.ts';

export function importWhisperDecoder(cfg: HfConfig, ckpt: Checkpoint, name: string, dtype: ImportDType): Imported {
  const vocab = cfg.int('vocab_size');
  const width = cfg.int('d_model');
  const heads = cfg.int('decoder_attention_heads');
  const layers = cfg.int('decoder_layers');
  const dff = cfg.int('decoder_ffn_dim');
  const context = cfg.int('max_target_positions', 448);
  const frames = cfg.int('max_source_positions', 1500);
  const act = cfg.choice('activation_function', 'gelu', { gelu: 'gelu_erf', gelu_new: 'gelu' });
  if (cfg.bool('scale_embedding', false)) throw cfg.error('scale_embedding', 'true is not supported: Whisper decoders add unscaled embeddings');
  if (!cfg.bool('tie_word_embeddings', true)) throw cfg.error('tie_word_embeddings', 'false is not supported: Whisper projects with its token embedding');
  if (width % heads) throw cfg.error('decoder_attention_heads', `${heads} does not divide d_model ${width}`);
  const eos = cfg.optionalId('eos_token_id');
  const pad = usablePad(cfg.optionalId('pad_token_id'), eos);

  const w = new SpecWriter();
  w.comment(`The text decoder of Whisper (WhisperForConditionalGeneration), written by mdl import from ${cfg.source}.`);
  w.comment("The audio encoder is not imported: give its output (encoder_last_hidden_state, [frames, d_model]) with");
  w.comment('`mdl run --features audio=FILE`. After each choice, the config.json key it comes from.');
  w.open(`model ${name}`);
  w.line(`dim vocab = ${vocab}`, 'vocab_size');
  w.line(`dim d_model = ${width}`, 'd_model');
  w.line(`dim heads = ${heads}`, 'decoder_attention_heads');
  w.line(`dim layers = ${layers}`, 'decoder_layers');
  w.line(`dim d_ff = ${dff}`, 'decoder_ffn_dim');
  w.line(`dim context = ${context}`, 'max_target_positions');
  w.line(`dim B, F <= ${frames}, T <= ${context}`, 'max_source_positions, max_target_positions');
  w.blank();
  w.line('input audio: features[B, F, d_model]', "the audio encoder's output");
  const specials = [pad !== undefined ? `pad ${pad}` : '', eos !== undefined ? `eos ${eos}` : ''].filter(Boolean).join(' ');
  w.line(`input text: tokens[B, T] ${specials}`.trimEnd(), `${pad !== undefined ? 'pad_token_id' : 'pad_token_id is eos_token_id: no pad id'}, eos_token_id; prompts start with <|startoftranscript|>`);
  w.line('mask look_back = causal(align = bottom_right)');
  w.blank();
  w.line('embed tokens: learned(vocab, d_model, scale = 1), positions: learned(context)', 'embed_tokens + embed_positions, unscaled');
  w.open('stack decoder x layers on text (norm = pre layer, eps = 1e-5, bias = true)', 'self_attn_layer_norm, encoder_attn_layer_norm, final_layer_norm, layer_norm');
  w.line('attention self heads = heads mask = look_back', 'k_proj has no bias: written as zeros');
  w.line('attention cross memory = audio heads = heads', 'encoder_attn');
  w.line(`ffn d_ff ${act.as}`, `activation_function ${JSON.stringify(act.value)}`);
  w.close();
  w.blank();
  w.line('output logits = project(decoder, vocab, tied = tokens)', 'proj_out is embed_tokens');
  w.line('loss next_token = cross_entropy(logits, labels = next(text))', 'position q predicts text[q + 1]');
  w.close();

  const out = new Map<string, TensorToWrite>();
  const put = (n: string, t: Tensor) => out.set(n, output(t, dtype));
  const embed = ckpt.take('decoder.embed_tokens.weight', [vocab, width], 'vocab_size × d_model');
  put('embed.tokens.weight', embed);
  put('embed.positions.weight', ckpt.take('decoder.embed_positions.weight', [context, width], 'max_target_positions × d_model'));
  const vector = (from: string, why = 'd_model') => ckpt.take(from, [width], why);
  const attention = (from: string, to: string) => {
    for (const [p, q] of [['q', 'q'], ['k', 'k'], ['v', 'v'], ['out', 'o']]) {
      const weight = ckpt.take(`${from}.${p}_proj.weight`, [width, width], 'd_model × d_model');
      put(`${to}.${q}_proj.weight`, weight);
      put(`${to}.${q}_proj.bias`, p === 'k' ? { dtype: weight.dtype, shape: [width], data: new Float32Array(width) } : vector(`${from}.${p}_proj.bias`));
    }
  };
  const norm = (from: string, to: string) => {
    put(`${to}.weight`, vector(`${from}.weight`));
    put(`${to}.bias`, vector(`${from}.bias`));
  };
  for (let i = 0; i < layers; i++) {
    const from = `decoder.layers.${i}`;
    const to = `decoder.layers.${i}`;
    norm(`${from}.self_attn_layer_norm`, `${to}.self_attn_norm`);
    attention(`${from}.self_attn`, `${to}.self_attn`);
    norm(`${from}.encoder_attn_layer_norm`, `${to}.cross_attn_norm`);
    attention(`${from}.encoder_attn`, `${to}.cross_attn`);
    norm(`${from}.final_layer_norm`, `${to}.ffn_norm`);
    put(`${to}.ffn.up_proj.weight`, ckpt.take(`${from}.fc1.weight`, [dff, width], 'decoder_ffn_dim × d_model'));
    put(`${to}.ffn.up_proj.bias`, ckpt.take(`${from}.fc1.bias`, [dff], 'decoder_ffn_dim'));
    put(`${to}.ffn.down_proj.weight`, ckpt.take(`${from}.fc2.weight`, [width, dff], 'd_model × decoder_ffn_dim'));
    put(`${to}.ffn.down_proj.bias`, vector(`${from}.fc2.bias`));
  }
  norm('decoder.layer_norm', 'decoder.norm');
  // The audio encoder stays behind (see the top of this file); a proj_out saved untied must equal the embedding.
  ckpt.skip((n) => n.startsWith('model.encoder.') || n.startsWith('encoder.'));
  if (ckpt.has('/proj_out.weight') && !sameValues(ckpt.take('/proj_out.weight', [vocab, width], 'vocab_size × d_model'), embed)) {
    throw cfg.error('tie_word_embeddings', 'is true, but proj_out.weight differs from decoder.embed_tokens.weight');
  }
  ckpt.checkAllTaken();
  return { family: 'Whisper decoder', spec: w.text(), tensors: out, specials: { eos, pad } };
}
