// Batched decoding with the KV cache: tokens per second when B sequences decode together, one program run per step
// for all of them (src/runtime/batch-generate.ts), on the decode benchmark's model. Every B is measured in turn,
// round after round in the same process, so the ratios compare runs made side by side under the same load.

import { checkSource } from '../src/check/check.ts';
import { lower } from '../src/lower/passes.ts';
import { generateBatch } from '../src/runtime/batch-generate.ts';
import { CachedDecoder } from '../src/runtime/cached-decoder.ts';
import type { GpuContext } from '../src/runtime/device.ts';
import { gpuForward } from '../src/runtime/generate.ts';
import { seededWeights } from '../src/runtime/init-weights.ts';
import { summarize, type Timing } from '../src/tune/measure.ts';
import { DECODE_MODEL } from './model-decode.ts';
import type { Progress } from './progress.ts';

export interface BatchDecodeRow {
  batch: number;
  /** Every row a different prompt length (prompt - row): one prefill per length, then one decode run per step for all. */
  mixed?: boolean;
  prompt: number;
  newTokens: number;
  /** Generated tokens (all rows) per second over the steps after the first, one sample per round. */
  decodeTokensPerSecond: Timing;
  /** The same over the whole generation, prefill included. */
  totalTokensPerSecond: Timing;
}

export const BATCH_SIZES = [1, 4, 16];
/** The measured configurations: the batch sizes with one prompt length, then 16 rows of 16 lengths. */
export const BATCH_CASES: { batch: number; mixed?: boolean }[] = [...BATCH_SIZES.map((batch) => ({ batch })), { batch: 16, mixed: true }];

export async function runBatchDecode(gpu: GpuContext, opts: { prompt: number; newTokens: number; rounds: number }, progress: Progress): Promise<BatchDecodeRow[]> {
  const checked = checkSource(DECODE_MODEL, 'decode_lm.mdl');
  if (!checked.model) throw new Error(`the decode benchmark spec does not check: ${checked.diagnostics.map((d) => d.message).join('; ')}`);
  const m = checked.model;
  const lowered = lower(m);
  const weights = seededWeights(lowered.ir, 1);
  const forward = gpuForward(gpu, lowered, m, weights);
  // Different prompts of one length: every row decodes in one group.
  const prompt = (row: number) => Array.from({ length: opts.prompt }, (_, i) => 3 + ((i * 7919 + row * 104729) % 250));
  const decode = BATCH_CASES.map((): number[] => []);
  const total = BATCH_CASES.map((): number[] => []);
  for (let round = 0; round <= opts.rounds; round++) {
    for (const [c, { batch, mixed }] of BATCH_CASES.entries()) {
      progress.step(`batched decoding: B = ${batch}${mixed ? ', a different length per row' : ''}, ${round === 0 ? 'warm-up' : `round ${round} of ${opts.rounds}`}`);
      const rows = Array.from({ length: batch }, (_, r) => ({ prompt: mixed ? prompt(r).slice(r) : prompt(r) }));
      let firstDone = 0;
      const t0 = performance.now();
      await generateBatch(m, forward, {
        rows,
        maxNew: opts.newTokens,
        greedy: true,
        stopIds: [],
        newCache: () => new CachedDecoder(gpu, lowered, m, weights),
        onStep: (e) => {
          if (e.step === 0 && e.row === batch - 1) firstDone = performance.now();
        },
      });
      const end = performance.now();
      if (round === 0) continue;
      decode[c].push((batch * (opts.newTokens - 1)) / ((end - firstDone) / 1000));
      total[c].push((batch * opts.newTokens) / ((end - t0) / 1000));
    }
  }
  return BATCH_CASES.map(({ batch, mixed }, c) => ({
    batch,
    ...(mixed ? { mixed } : {}),
    prompt: opts.prompt,
    newTokens: opts.newTokens,
    decodeTokensPerSecond: summarize(decode[c]),
    totalTokensPerSecond: summarize(total[c]),
  }));
}
