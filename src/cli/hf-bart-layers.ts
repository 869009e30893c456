// The tensors BART and Marian share. Both come from fairseq's encoder-decoder and transformers writes them with the
// same names: one `shared` embedding table (copied under encoder/decoder `embed_tokens` and `lm_head`, which must
// equal it), and layers of self-attention, cross-attention (decoder only) and a two-matrix feed-forward, each
// followed by its layer norm, every projection and norm with a bias. The families differ only in positions and in
// what surrounds the stacks, which their own importers handle.

import type { HfConfig } from './hf-config.ts';
import { sameValues, type Checkpoint } from './hf-tensors.ts';
import { UserError } from './user-error.ts';
import type { Tensor } from '../runtime/safetensors.ts';

export type PutTensor = (name: string, t: Tensor) => void;

/** One stack as the checkpoint names it, with its layer count and feed-forward width. */
export type FairseqStack = readonly ['encoder' | 'decoder', number, number];

/** Reads `shared.weight` as mdl's token table and refuses copies of it that differ (they are tied in the model). */
export function takeSharedEmbedding(ckpt: Checkpoint, cfg: HfConfig, vocab: number, width: number, family: string, put: PutTensor): Tensor {
  const shared = ckpt.take('shared.weight', [vocab, width], 'vocab_size × d_model');
  put('embed.tokens.weight', shared);
  for (const copy of ['encoder.embed_tokens.weight', 'decoder.embed_tokens.weight', '/lm_head.weight']) {
    if (ckpt.has(copy) && !sameValues(ckpt.take(copy, [vocab, width], 'vocab_size × d_model'), shared)) {
      throw new UserError(`${cfg.source}: ${copy.replace('/', '')} differs from the shared embedding, which ${family} ties it to`);
    }
  }
  return shared;
}

/** A layer norm (scale and bias) of width d_model under mdl's name. */
export function takeNorm(ckpt: Checkpoint, put: PutTensor, width: number, from: string, to: string): void {
  put(`${to}.weight`, ckpt.take(`${from}.weight`, [width], 'd_model'));
  put(`${to}.bias`, ckpt.take(`${from}.bias`, [width], 'd_model'));
}

/** Every layer of both stacks: attention projections, feed-forward and the three norms, renamed to mdl's names. */
export function takeFairseqLayers(ckpt: Checkpoint, put: PutTensor, width: number, stacks: readonly FairseqStack[]): void {
  const linear = (from: string, to: string, outDim: number, inDim: number, why: string) => {
    put(`${to}.weight`, ckpt.take(`${from}.weight`, [outDim, inDim], why));
    put(`${to}.bias`, ckpt.take(`${from}.bias`, [outDim], why));
  };
  const attention = (from: string, to: string) => {
    for (const [p, q] of [['q', 'q'], ['k', 'k'], ['v', 'v'], ['out', 'o']]) linear(`${from}.${p}_proj`, `${to}.${q}_proj`, width, width, 'd_model × d_model');
  };
  for (const [stack, layers, ff] of stacks) {
    for (let i = 0; i < layers; i++) {
      const l = `${stack}.layers.${i}`;
      attention(`${l}.self_attn`, `${l}.self_attn`);
      takeNorm(ckpt, put, width, `${l}.self_attn_layer_norm`, `${l}.self_attn_norm`);
      if (stack === 'decoder') {
        attention(`${l}.encoder_attn`, `${l}.cross_attn`);
        takeNorm(ckpt, put, width, `${l}.encoder_attn_layer_norm`, `${l}.cross_attn_norm`);
      }
      linear(`${l}.fc1`, `${l}.ffn.up_proj`, ff, width, `${stack}_ffn_dim × d_model`);
      linear(`${l}.fc2`, `${l}.ffn.down_proj`, width, ff, `d_model × ${stack}_ffn_dim`);
      takeNorm(ckpt, put, width, `${l}.final_layer_norm`, `${l}.ffn_norm`);
    }
  }
}
