// The fused attention kernel's two shapes side by side: the default (query rows × lanes, scores in workgroup memory)
// and the row-wise one (one query row per invocation, scores private), with the unstaged kernel for reference, at
// B=1, H=8, D=64 and the masks where the shapes differ most (none, causal, window). Each shape runs once per round,
// in turn, so that load on a shared machine falls on all of them alike; medians are compared, and every shape's
// output is compared with the default's first.

import { attentionKernelFor, prepareAttention } from '../src/runtime/attention-run.ts';
import type { GpuContext } from '../src/runtime/device.ts';
import { median } from '../src/tune/measure.ts';
import { seededValues } from '../src/tune/matmul-tuner.ts';
import { tileLabel, type TileChoice } from '../src/tune/variants.ts';
import { benchMasks, tileClassesFor } from './masks.ts';

export interface AttentionShapesRow {
  length: number;
  mask: string;
  /** Median ms per shape label, the default first. */
  ms: Record<string, number>;
  /** Largest difference of any shape's output from the default's. */
  maxDiff: number;
}

export interface AttentionShapesResult {
  rounds: number;
  rows: AttentionShapesRow[];
  load: [number, number];
}

const SHAPES: (TileChoice | undefined)[] = [undefined, { q: 64, k: 32, lanes: 1, rowwise: true }, { q: 32, k: 32, lanes: 1, rowwise: true }, { q: 64, k: 64, lanes: 1, staged: false }];

export async function measureAttentionShapes(gpu: GpuContext, lengths: number[], rounds: number, load: () => number): Promise<AttentionShapesResult> {
  const [H, D] = [8, 64];
  const loadBefore = load();
  const rows: AttentionShapesRow[] = [];
  for (const L of lengths) {
    const q = seededValues(L * H * D, 1);
    const k = seededValues(L * H * D, 2);
    const v = seededValues(L * H * D, 3);
    for (const mask of benchMasks().filter((m) => ['none', 'causal', 'window'].includes(m.id))) {
      const runs = [];
      try {
        for (const tiles of SHAPES) {
          const kernel = attentionKernelFor(gpu, { headDim: D, heads: H, kvHeads: H, mask: mask.wgsl, tiles });
          const label = tiles ? tileLabel(tiles) : `${tileLabel({ q: kernel.tileQ, k: kernel.tileK, lanes: kernel.lanes })} (default)`;
          const tileClasses = mask.wgsl ? tileClassesFor(mask, kernel, L, L) : undefined;
          const run = await prepareAttention(gpu, kernel, { batch: 1, lq: L, lk: L, q, k, v, maskEnv: mask.env(L, L), tileClasses });
          // The warm-up run also computes the output compared below (output() only reads it back).
          await run.time();
          runs.push({ label, run, samples: [] as number[], out: await run.output() });
        }
        let maxDiff = 0;
        for (const r of runs) for (let i = 0; i < r.out.length; i++) maxDiff = Math.max(maxDiff, Math.abs(r.out[i] - runs[0].out[i]));
        if (!runs[0].out.some((x) => x !== 0)) throw new Error(`attention shapes: the default kernel's output is all zeros at L=${L}, ${mask.label}`);
        for (let i = 0; i < rounds; i++) for (const r of runs) r.samples.push(await r.run.time());
        rows.push({ length: L, mask: mask.label, ms: Object.fromEntries(runs.map((r) => [r.label, median(r.samples)])), maxDiff });
      } finally {
        runs.forEach((r) => r.run.destroy());
      }
    }
  }
  return { rounds, rows, load: [loadBefore, load()] };
}

export function renderAttentionShapes(a: AttentionShapesResult | undefined): string[] {
  if (!a) return ['Not measured in this run (`npm run bench -- --only attention-shapes` measures it alone).'];
  const labels = Object.keys(a.rows[0]?.ms ?? {});
  const [base] = labels;
  const rows = a.rows.map((r) => `| ${r.length} | ${r.mask} | ${labels.map((l) => `${r.ms[l].toFixed(1)} ms${l === base ? '' : ` (${(r.ms[base] / r.ms[l]).toFixed(2)}×)`}`).join(' | ')} | ${r.maxDiff.toExponential(1)} |`);
  return [
    `B=1, H=8, D=64, self-attention, f32; medians of ${a.rounds} rounds, each shape once per round in turn; in brackets the default's time over the shape's (higher = faster than the default). Row-wise: one query row per invocation over staged K/V tiles, scores private (\`src/wgsl/attention-rowwise.ts\`); unstaged: one row per invocation reading K/V from storage. Load average ${a.load[0].toFixed(1)} before, ${a.load[1].toFixed(1)} after.`,
    '',
    `| L | mask | ${labels.join(' | ')} | max diff from default |`,
    `|${'---|'.repeat(labels.length + 3)}`,
    ...rows,
  ];
}
