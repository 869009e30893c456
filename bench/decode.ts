// The attention part of a decode step with a KV cache: one new query against the L keys already cached, under the
// bottom-right causal mask (the query sits at the last position, so it sees every cached key). The full-model decode
// step also runs the projections and the FFN; those are matmuls of one row and are not measured here.
//
// Dispatches this small finish in well under a millisecond on a GPU, where submit-and-wait overhead would dominate a
// single timing, so each sample encodes enough back-to-back dispatches to last a few tens of milliseconds.

import { attentionKernelFor } from '../src/runtime/attention-run.ts';
import type { GpuContext } from '../src/runtime/device.ts';
import { measure, type Timing } from '../src/tune/measure.ts';
import { prepareAttention } from '../src/runtime/attention-run.ts';
import { fitsLimits, type TileChoice } from '../src/tune/variants.ts';
import { HEAD_DIM, HEADS } from './attention-suite.ts';
import { seededFloats } from './data.ts';
import { decodeMask, denseMask, tileClassesFor } from './masks.ts';
import type { Progress } from './progress.ts';
import { prepareUnfused } from './unfused-attention.ts';

export interface DecodeRow {
  position: number;
  /** The generator's default tiles (sized for prefill: 32 query rows, 31 of them idle here). */
  fusedDefault: Timing;
  /** One query row per workgroup, all of a row's lanes on the head dim: the shape a decode kernel wants. */
  fusedDecode?: Timing;
  decodeTiles?: string;
  /** The split-key decode kernel: one query row per workgroup, its lanes splitting the keys (absent in older results). */
  fusedSplit?: Timing;
  splitTiles?: string;
  unfused: Timing;
}

/** One query row, 16 lanes (one vec4 of the head each), the largest key tile that fits. */
function decodeTiles(gpu: GpuContext): TileChoice | undefined {
  for (const k of [64, 32, 16]) {
    const t = { q: 1, k, lanes: HEAD_DIM / 4 };
    if (fitsLimits(HEAD_DIM, t, gpu.limits)) return t;
  }
  return undefined;
}

async function batchedTiming(time: (count: number) => Promise<number>, repeats: number): Promise<Timing> {
  const once = await time(1);
  const count = Math.max(1, Math.min(200, Math.round(30 / Math.max(once, 0.05))));
  return measure(() => time(count), { repeats });
}

export async function runDecode(gpu: GpuContext, positions: number[], repeats: number, progress: Progress, split?: TileChoice): Promise<DecodeRow[]> {
  const mask = decodeMask();
  const rows: DecodeRow[] = [];
  const tiles = decodeTiles(gpu);
  for (const position of positions) {
    const q = seededFloats(HEADS * HEAD_DIM, position + 11);
    const k = seededFloats(position * HEADS * HEAD_DIM, position + 12);
    const v = seededFloats(position * HEADS * HEAD_DIM, position + 13);
    const inputs = { batch: 1, lq: 1, lk: position, q, k, v, maskEnv: mask.env(1, position) };
    const timeFused = async (t?: TileChoice) => {
      const kernel = attentionKernelFor(gpu, { headDim: HEAD_DIM, heads: HEADS, kvHeads: HEADS, mask: mask.wgsl, tiles: t });
      const run = await prepareAttention(gpu, kernel, { ...inputs, tileClasses: tileClassesFor(mask, kernel, 1, position) });
      try {
        return await batchedTiming((n) => run.time(n), repeats);
      } finally {
        run.destroy();
      }
    };
    progress.step(`decode at position ${position}: mdl fused (default tiles)`);
    const fusedDefault = await timeFused();
    progress.step(`decode at position ${position}: mdl fused (decode tiles)`);
    const fusedDecode = tiles ? await timeFused(tiles) : undefined;
    if (split) progress.step(`decode at position ${position}: mdl fused (split-key kernel)`);
    const fusedSplit = split ? await timeFused(split) : undefined;
    progress.step(`decode at position ${position}: unfused`);
    const unfusedRun = await prepareUnfused(gpu, { batch: 1, lq: 1, lk: position, heads: HEADS, kvHeads: HEADS, headDim: HEAD_DIM, q, k, v, mask: denseMask(mask, 1, position) });
    const unfused = await batchedTiming((n) => unfusedRun.time(n), repeats);
    unfusedRun.destroy();
    rows.push({ position, fusedDefault, fusedDecode, decodeTiles: tiles && `${tiles.q}×${tiles.k}, ${tiles.lanes} lanes`, ...(split ? { fusedSplit, splitTiles: `${split.k}-key tiles, ${split.lanes} lanes` } : {}), unfused });
  }
  return rows;
}
