// A whole decode step of a small language model, with the KV cache against full recomputation: after a prompt of
// `position` tokens, the time to produce the next token's logits. With the cache a step runs every kernel over one
// new row and attention over the cached keys; recomputing runs the full pass over all `position + 1` rows.

import { checkSource } from '../src/check/check.ts';
import { lower } from '../src/lower/passes.ts';
import { CachedDecoder } from '../src/runtime/cached-decoder.ts';
import type { GpuContext } from '../src/runtime/device.ts';
import { gpuForward, stepInputs } from '../src/runtime/generate.ts';
import { seededWeights } from '../src/runtime/init-weights.ts';
import { measure, summarize, type Timing } from '../src/tune/measure.ts';
import type { Progress } from './progress.ts';

/** Two layers of width 128 with 64-wide heads: small enough for a full pass at 1024 positions on a software adapter. */
export const DECODE_MODEL = `model decode_lm {
  dim vocab = 256, d_model = 128, heads = 2, d_ff = 512
  dim B, T <= 2048
  input ids: tokens[B, T] pad 0
  mask causal_lm = causal(align = bottom_right)
  embed tokens: learned(vocab, d_model), positions: rotary
  stack decoder x 2 on ids (norm = pre rms) {
    attention self heads = heads mask = causal_lm
    ffn d_ff swiglu
  }
  output logits = project(decoder, vocab)
}`;

export interface ModelDecodeRow {
  position: number;
  cached: Timing;
  recomputed: Timing;
}

export async function runModelDecode(gpu: GpuContext, positions: number[], repeats: number, progress: Progress): Promise<ModelDecodeRow[]> {
  const checked = checkSource(DECODE_MODEL, 'decode_lm.mdl');
  if (!checked.model) throw new Error(`the decode benchmark spec does not check: ${checked.diagnostics.map((d) => d.message).join('; ')}`);
  const m = checked.model;
  const lowered = lower(m);
  const weights = seededWeights(lowered.ir, 1);
  const forward = gpuForward(gpu, lowered, m, weights);
  const tokens = (n: number) => Array.from({ length: n }, (_, i) => 3 + ((i * 7919) % 250));
  const rows: ModelDecodeRow[] = [];
  for (const position of positions) {
    progress.step(`decode step at position ${position}: whole model, KV cache`);
    const cache = new CachedDecoder(gpu, lowered, m, weights);
    try {
      await cache.next(stepInputs(m, tokens(position), []).run); // prefill
      // Each sample adds one token, so samples are taken at positions position … position + repeats.
      const samples: number[] = [];
      for (let i = 0; i <= repeats; i++) {
        const run = stepInputs(m, tokens(position + 1 + i), []).run;
        const t0 = performance.now();
        await cache.next(run);
        if (i > 0) samples.push(performance.now() - t0);
      }
      progress.step(`decode step at position ${position}: whole model, recomputed`);
      const run = stepInputs(m, tokens(position + 1), []).run;
      const recomputed = await measure(async () => void (await forward(run)), { repeats: position >= 1024 ? 1 : 2 });
      rows.push({ position, cached: summarize(samples), recomputed });
    } finally {
      cache.destroy();
    }
  }
  return rows;
}
