// The attention comparison: for every length and mask, mdl's fused kernel against the unfused three-dispatch path,
// TensorFlow.js's WebGPU backend and ONNX Runtime Web (in Chromium), all fed the same inputs, each output checked
// against mdl's before its time is believed.

import { maskFunction } from '../src/masks/evaluate.ts';
import { attentionCpu } from '../src/runtime/attention-cpu.ts';
import { attentionKernelFor } from '../src/runtime/attention-run.ts';
import type { GpuContext } from '../src/runtime/device.ts';
import { measure, type Timing } from '../src/tune/measure.ts';
import { prepareAttention } from '../src/runtime/attention-run.ts';
import { attentionSignature } from '../src/tune/signature.ts';
import { tunedTilesFor } from '../src/tune/tuned-tiles.ts';
import { maxAbsDiff, seededFloats } from './data.ts';
import { countTiles, denseMask, tileClassesFor, visibleShare, type BenchMask, type TileCounts } from './masks.ts';
import type { OrtBrowser } from './ort/ort-browser.ts';
import type { Progress } from './progress.ts';
import type { TfjsSession } from './tfjs-attention.ts';
import { prepareUnfused } from './unfused-attention.ts';

export const HEADS = 8;
export const HEAD_DIM = 64;

export type Comparator = 'unfused' | 'tfjs' | 'ort';
export const COMPARATORS: Comparator[] = ['unfused', 'tfjs', 'ort'];

/** A measurement, or why there is none. */
export type Outcome = { timing: Timing; maxDiff: number } | { skipped: string };

/** A comparator whose output is further than this from mdl's computes something else: its time is not reported. */
export const MAX_DIFF = 1e-3;
export const WRONG_RESULT = 'wrong result';

function checked(o: Outcome): Outcome {
  if ('skipped' in o || o.maxDiff <= MAX_DIFF) return o; // NaN fails the test too
  return { skipped: `${WRONG_RESULT}: max |diff| = ${o.maxDiff.toExponential(1)}` };
}

export interface AttentionRow {
  length: number;
  mask: BenchMask;
  visible: number;
  tiles: TileCounts;
  tileShape: string;
  fused: Timing;
  /** Fused output against the f64 CPU oracle (smallest length only). */
  oracleDiff?: number;
  others: Record<Comparator, Outcome>;
}

export interface SuiteOptions {
  lengths: number[];
  masks: BenchMask[];
  /** Comparators run every mask up to this length; above it only 'none', since their work does not
   * depend on the mask (a dense score matrix and a dense mask either way). */
  allMasksUpTo: number;
  repeatsFor(length: number): number;
  tfjs?: TfjsSession | string;
  ort?: OrtBrowser | string;
  progress: Progress;
}

function inputsFor(length: number) {
  const n = length * HEADS * HEAD_DIM;
  return { q: seededFloats(n, length * 3 + 1), k: seededFloats(n, length * 3 + 2), v: seededFloats(n, length * 3 + 3) };
}

/** Stride of the output sample compared with ORT (whole outputs would cost seconds to move out of the page). */
const ORT_SAMPLE_STRIDE = 97;

export async function runAttentionSuite(gpu: GpuContext, o: SuiteOptions): Promise<AttentionRow[]> {
  const rows: AttentionRow[] = [];
  for (const length of o.lengths) {
    const { q, k, v } = inputsFor(length);
    for (const mask of o.masks) {
      const repeats = o.repeatsFor(length);
      const sig = attentionSignature({ headDim: HEAD_DIM, heads: HEADS, kvHeads: HEADS, mask: mask.wgsl });
      const tiles = tunedTilesFor(gpu.adapter, sig, { limits: gpu.limits, subgroups: gpu.subgroups });
      const kernel = attentionKernelFor(gpu, { headDim: HEAD_DIM, heads: HEADS, kvHeads: HEADS, mask: mask.wgsl, tiles });
      const classes = mask.wgsl ? tileClassesFor(mask, kernel, length, length) : undefined;
      const dense = denseMask(mask, length, length);
      const env = mask.env(length, length);

      o.progress.step(`L=${length} ${mask.label}: mdl fused`);
      const fusedRun = await prepareAttention(gpu, kernel, { batch: 1, lq: length, lk: length, q, k, v, maskEnv: env, tileClasses: classes });
      const fused = await measure(() => fusedRun.time(), { repeats });
      const reference = await fusedRun.output();
      fusedRun.destroy();
      const row: AttentionRow = {
        length,
        mask,
        visible: visibleShare(dense),
        tiles: countTiles(classes ?? new Uint32Array(fusedRun.grid.tileClassCount).fill(2)),
        tileShape: `${kernel.tileQ}×${kernel.tileK}, ${kernel.lanes} lanes${tiles.source === 'tuned' ? ' (tuned)' : ''}`,
        fused,
        others: {} as AttentionRow['others'],
      };
      if (length === o.lengths[0]) {
        const shape = { batch: 1, lq: length, lk: length, heads: HEADS, kvHeads: HEADS, headDim: HEAD_DIM };
        row.oracleDiff = maxAbsDiff(reference, attentionCpu(shape, q, k, v, { mask: mask.wgsl ? maskFunction(mask.pred, env) : undefined }));
      }

      const runComparators = length <= o.allMasksUpTo || mask.id === 'none';
      const maskInput = mask.wgsl ? dense : undefined;
      for (const who of COMPARATORS) {
        if (!runComparators) {
          row.others[who] = { skipped: 'same dense work as without a mask at this length (not re-measured)' };
          continue;
        }
        o.progress.step(`L=${length} ${mask.label}: ${who}`);
        try {
          const outcome = checked(await runComparator(gpu, who, o, { length, q, k, v, mask: maskInput, repeats, reference }));
          if ('skipped' in outcome && outcome.skipped.startsWith(WRONG_RESULT)) o.progress.note(`${who} at L=${length} ${mask.label}: ${outcome.skipped}`);
          row.others[who] = outcome;
        } catch (error) {
          const reason = (error as Error).message.split('\n')[0];
          o.progress.note(`${who} failed at L=${length} ${mask.label}: ${reason}`);
          row.others[who] = { skipped: `failed: ${reason}` };
        }
      }
      rows.push(row);
    }
  }
  return rows;
}

interface ComparatorCase {
  length: number;
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  mask?: Uint8Array;
  repeats: number;
  reference: Float32Array;
}

async function runComparator(gpu: GpuContext, who: Comparator, o: SuiteOptions, c: ComparatorCase): Promise<Outcome> {
  const shape = { batch: 1, lq: c.length, lk: c.length, heads: HEADS, kvHeads: HEADS, headDim: HEAD_DIM };
  if (who === 'unfused') {
    const run = await prepareUnfused(gpu, { ...shape, q: c.q, k: c.k, v: c.v, mask: c.mask });
    try {
      const timing = await measure(() => run.time(), { repeats: c.repeats });
      return { timing, maxDiff: maxAbsDiff(await run.output(), c.reference) };
    } finally {
      run.destroy();
    }
  }
  if (who === 'tfjs') {
    if (!o.tfjs || typeof o.tfjs === 'string') return { skipped: o.tfjs ?? 'not run' };
    const run = o.tfjs.prepare({ heads: HEADS, lq: c.length, lk: c.length, headDim: HEAD_DIM, q: c.q, k: c.k, v: c.v, mask: c.mask });
    try {
      const timing = await measure(() => run.time(), { repeats: c.repeats });
      return { timing, maxDiff: maxAbsDiff(await run.output(), c.reference) };
    } finally {
      run.dispose();
    }
  }
  const ort = o.ort;
  if (!ort || typeof ort === 'string') return { skipped: ort ?? 'not run' };
  const bias = c.mask ? Float32Array.from(c.mask, (m) => (m ? 0 : -1e30)) : undefined;
  await ort.prepare({ ...shape, headDim: HEAD_DIM, withBias: !!bias, q: c.q, k: c.k, v: c.v, bias });
  const sample = await ort.sample(ORT_SAMPLE_STRIDE);
  const expected = Array.from({ length: sample.length }, (_, i) => c.reference[i * ORT_SAMPLE_STRIDE]);
  const timing = await measure(() => ort.time(), { repeats: c.repeats });
  return { timing, maxDiff: maxAbsDiff(sample, expected) };
}
