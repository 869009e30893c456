// How close a sliding window's time comes to what tile skipping allows: at L=1024, window(128) against no mask, for
// the default kernel shape and the row-wise ones. The bound is the share of tiles that are not EMPTY for that
// shape's tiles (the kernel must compute them; it skips the rest): a time ratio window / none near it means a
// skipped tile costs nothing. Shapes and masks run once per round, in turn; medians.

import { attentionKernelFor, prepareAttention } from '../src/runtime/attention-run.ts';
import type { GpuContext } from '../src/runtime/device.ts';
import { median } from '../src/tune/measure.ts';
import { seededValues } from '../src/tune/matmul-tuner.ts';
import { tileLabel, type TileChoice } from '../src/tune/variants.ts';
import { benchMasks, countTiles, tileClassesFor, type TileCounts } from './masks.ts';

export interface WindowSkipRow {
  shape: string;
  noneMs: number;
  windowMs: number;
  tiles: TileCounts;
  /** Largest difference of the window output from the default shape's. */
  maxDiff: number;
}

export interface WindowSkipResult {
  length: number;
  rounds: number;
  rows: WindowSkipRow[];
  load: [number, number];
}

const SHAPES: (TileChoice | undefined)[] = [undefined, { q: 64, k: 32, lanes: 1, rowwise: true }, { q: 32, k: 32, lanes: 1, rowwise: true }];

export async function measureWindowSkip(gpu: GpuContext, L: number, rounds: number, load: () => number, log: (line: string) => void = () => {}): Promise<WindowSkipResult> {
  const [H, D] = [8, 64];
  const loadBefore = load();
  const q = seededValues(L * H * D, 1);
  const k = seededValues(L * H * D, 2);
  const v = seededValues(L * H * D, 3);
  const masks = benchMasks().filter((m) => m.id === 'none' || m.id === 'window');
  const runs: { shape: string; mask: string; run: Awaited<ReturnType<typeof prepareAttention>>; samples: number[]; tiles?: TileCounts; out?: Float32Array }[] = [];
  try {
    for (const tiles of SHAPES) {
      for (const mask of masks) {
        const kernel = attentionKernelFor(gpu, { headDim: D, heads: H, kvHeads: H, mask: mask.wgsl, tiles });
        const shape = tiles ? tileLabel(tiles) : `${tileLabel({ q: kernel.tileQ, k: kernel.tileK, lanes: kernel.lanes })} (default)`;
        const tileClasses = mask.wgsl ? tileClassesFor(mask, kernel, L, L) : undefined;
        const run = await prepareAttention(gpu, kernel, { batch: 1, lq: L, lk: L, q, k, v, maskEnv: mask.env(L, L), tileClasses });
        await run.time();
        runs.push({ shape, mask: mask.id, run, samples: [], tiles: tileClasses && countTiles(tileClasses), out: mask.wgsl ? await run.output() : undefined });
      }
    }
    for (let r = 0; r < rounds; r++) {
      for (const x of runs) x.samples.push(await x.run.time());
      log(`window skip L=${L}: round ${r + 1}/${rounds}: ${runs.map((x) => `${x.shape} ${x.mask} ${x.samples.at(-1)!.toFixed(0)} ms`).join(', ')}`);
    }
    const reference = runs.find((x) => x.mask === 'window')!.out!;
    const rows: WindowSkipRow[] = [];
    for (const shape of [...new Set(runs.map((x) => x.shape))]) {
      const none = runs.find((x) => x.shape === shape && x.mask === 'none')!;
      const window = runs.find((x) => x.shape === shape && x.mask === 'window')!;
      let maxDiff = 0;
      for (let i = 0; i < reference.length; i++) maxDiff = Math.max(maxDiff, Math.abs(window.out![i] - reference[i]));
      rows.push({ shape, noneMs: median(none.samples), windowMs: median(window.samples), tiles: window.tiles!, maxDiff });
    }
    return { length: L, rounds, rows, load: [loadBefore, load()] };
  } finally {
    runs.forEach((x) => x.run.destroy());
  }
}

export function renderWindowSkip(w: WindowSkipResult | undefined): string[] {
  if (!w) return ['Not measured in this run (`npm run bench -- --only window` measures it alone).'];
  const pct = (x: number) => `${Math.round(100 * x)}%`;
  const rows = w.rows.map((r) => {
    const bound = 1 - r.tiles.empty / r.tiles.total;
    const ratio = r.windowMs / r.noneMs;
    return `| ${r.shape} | ${r.noneMs.toFixed(0)} ms | ${r.windowMs.toFixed(0)} ms | **${ratio.toFixed(3)}** | ${bound.toFixed(3)} (${r.tiles.empty} / ${r.tiles.partial} / ${r.tiles.full}) | ${(ratio / bound).toFixed(2)}× | ${pct(r.tiles.partial / (r.tiles.total - r.tiles.empty))} | ${r.maxDiff.toExponential(1)} |`;
  });
  return [
    `B=1, H=8, D=64, L=${w.length}, window(${128}) (causal, the last 128 keys) against no mask, per kernel shape; medians of ${w.rounds} rounds, every shape and mask once per round in turn. The bound is the share of the shape's tiles that are not EMPTY (EMPTY / PARTIAL / FULL counts in brackets); target: window / none within 1.3× of it. Load average ${w.load[0].toFixed(1)} before, ${w.load[1].toFixed(1)} after (\`bench/window-skip.ts\`).`,
    '',
    '| shape | none | window(128) | window / none | bound (tiles not EMPTY) | ratio / bound | PARTIAL share of computed tiles | max diff from default |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...rows,
  ];
}
