// `npx tsx bench/attention-backward.ts [--lengths 256,1024] [--repeats N]`: the fused attention backward pass against
// its forward pass, B=1, H=8, D=64, unmasked and causal. The backward's tiles are the forward kernel's (they share the
// tile classes), so it runs once per forward shape: the default shape, and each row-wise shape the tuner measures
// (`attentionVariants`; on SwiftShader the tuner's pick is one of them). Reports, per length, mask and shape, the
// forward time (the kernel writing its log-sum-exp), the backward time (delta, dK/dV and dQ kernels, one submission),
// backward / forward, and the causal backward's time over the unmasked one: the tile classes should spare the causal
// pass about half its work.

import { attentionBackwardFor, prepareAttentionBackward } from '../src/runtime/attention-backward-run.ts';
import { attentionKernelFor, prepareAttention } from '../src/runtime/attention-run.ts';
import { acquireGpu, type GpuContext } from '../src/runtime/device.ts';
import { measure, type Timing } from '../src/tune/measure.ts';
import { attentionVariants, tileLabel, type TileChoice } from '../src/tune/variants.ts';
import { seededFloats } from './data.ts';
import { benchMasks, countTiles, tileClassesFor, type BenchMask } from './masks.ts';

const HEADS = 8;
const HEAD_DIM = 64;

export interface BackwardRow {
  length: number;
  mask: string;
  /** The forward kernel's shape, whose tiles the backward uses: 'default …' or 'row-wise …'. */
  shape: string;
  forward: Timing;
  backward: Timing;
  /** Tiles of the class buffer both passes skip. */
  emptyTiles: number;
  tiles: number;
}

function finite(a: Float32Array): boolean {
  return a.every((x) => Number.isFinite(x));
}

interface Shape {
  name: string;
  tiles?: TileChoice;
}

/** The default forward shape, then the tuner's row-wise candidates for this head dim on this adapter. */
function forwardShapes(gpu: GpuContext): Shape[] {
  const rowwise = attentionVariants(HEAD_DIM, gpu.limits).filter((t) => t.rowwise);
  return [{ name: 'default' }, ...rowwise.map((t) => ({ name: `row-wise ${t.q}×${t.k}`, tiles: t }))];
}

async function measureOne(gpu: GpuContext, mask: BenchMask, length: number, repeats: number, shape: Shape): Promise<BackwardRow> {
  const n = length * HEADS * HEAD_DIM;
  const [q, k, v, dOut] = [1, 2, 3, 4].map((s) => seededFloats(n, length * 5 + s));
  const kernel = attentionKernelFor(gpu, { headDim: HEAD_DIM, heads: HEADS, kvHeads: HEADS, mask: mask.wgsl, lse: true, ...(shape.tiles ? { tiles: shape.tiles } : {}) });
  const shapeName = shape.tiles ? shape.name : `default ${tileLabel({ q: kernel.tileQ, k: kernel.tileK, lanes: kernel.lanes })}`;
  const tileClasses = mask.wgsl ? tileClassesFor(mask, kernel, length, length) : undefined;
  const run = { batch: 1, lq: length, lk: length, q, k, v, maskEnv: mask.env(length, length), tileClasses };
  const forward = await prepareAttention(gpu, kernel, run);
  let out: Float32Array;
  let lse: Float32Array;
  let fwdTime: Timing;
  try {
    fwdTime = await measure(() => forward.time(1), { warmup: 1, repeats });
    out = await forward.output();
    lse = await forward.lse();
  } finally {
    forward.destroy();
  }
  const backward = await prepareAttentionBackward(gpu, attentionBackwardFor(kernel), { ...run, out, lse, dOut });
  try {
    const bwdTime = await measure(() => backward.time(1), { warmup: 1, repeats });
    const g = await backward.gradients();
    // A timing of a pass that produced garbage is not reported.
    if (![g.dq, g.dk, g.dv].every(finite)) throw new Error(`${mask.id} L=${length}: the backward pass produced non-finite gradients`);
    const counts = tileClasses ? countTiles(tileClasses) : undefined;
    const tiles = tileClasses?.length ?? Math.ceil(length / kernel.tileQ) * Math.ceil(length / kernel.tileK);
    return { length, mask: mask.id, shape: shapeName, forward: fwdTime, backward: bwdTime, emptyTiles: counts?.empty ?? 0, tiles };
  } finally {
    backward.destroy();
  }
}

export async function runAttentionBackwardBench(gpu: GpuContext, lengths: number[], repeats: number, log: (line: string) => void): Promise<BackwardRow[]> {
  const masks = benchMasks().filter((m) => m.id === 'none' || m.id === 'causal');
  const rows: BackwardRow[] = [];
  for (const length of lengths) {
    for (const shape of forwardShapes(gpu)) {
      for (const mask of masks) {
        const row = await measureOne(gpu, mask, length, repeats, shape);
        rows.push(row);
        log(`L=${length} ${mask.id} ${row.shape}: forward ${row.forward.median.toFixed(2)} ms, backward ${row.backward.median.toFixed(2)} ms`);
      }
    }
  }
  return rows;
}

/**
 * Backward / forward for unmasked attention at one length: against the default forward shape, and against the
 * fastest forward shape measured (with the backward on that shape's tiles, as a tuned program would run it).
 */
export function backwardRatios(rows: BackwardRow[], length: number): { vsDefault?: number; vsFastest?: number; fastest?: string; causal?: number } {
  const none = rows.filter((r) => r.length === length && r.mask === 'none');
  const def = none.find((r) => r.shape.startsWith('default'));
  const fastest = [...none].sort((a, b) => a.forward.median - b.forward.median)[0];
  const causal = rows.find((r) => r.length === length && r.mask === 'causal' && r.shape === def?.shape);
  return {
    vsDefault: def && def.backward.median / def.forward.median,
    vsFastest: fastest && fastest.backward.median / fastest.forward.median,
    fastest: fastest?.shape,
    causal: def && causal && causal.backward.median / def.backward.median,
  };
}

/** The summary table: backward / forward per row, and causal backward / unmasked backward per length. */
export function renderBackwardTable(rows: BackwardRow[]): string {
  const lines = [
    `Attention backward, B=1 H=${HEADS} D=${HEAD_DIM} (medians, ms)`,
    '| L | mask | forward shape (backward tiles) | empty tiles | forward (with lse) | backward | backward / forward | causal / unmasked backward |',
    '|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const unmasked = rows.find((x) => x.length === r.length && x.mask === 'none' && x.shape === r.shape);
    const causalRatio = r.mask === 'causal' && unmasked ? (r.backward.median / unmasked.backward.median).toFixed(2) : '';
    lines.push(
      `| ${r.length} | ${r.mask} | ${r.shape} | ${r.emptyTiles}/${r.tiles} | ${r.forward.median.toFixed(2)} | ${r.backward.median.toFixed(2)} | ` +
        `${(r.backward.median / r.forward.median).toFixed(2)} | ${causalRatio} |`,
    );
  }
  return lines.join('\n');
}

function parseArgs(argv: string[]): { lengths: number[]; repeats: number } {
  const args = { lengths: [256, 1024], repeats: 3 };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--lengths') args.lengths = argv[++i].split(',').map(Number);
    else if (argv[i] === '--repeats') args.repeats = Number(argv[++i]);
    else throw new Error(`unknown option '${argv[i]}' (options: --lengths L1,L2,…, --repeats N)`);
  }
  if (!args.lengths.every((l) => Number.isInteger(l) && l > 0)) throw new Error('--lengths takes positive integers');
  if (!(Number.isInteger(args.repeats) && args.repeats > 0)) throw new Error('--repeats takes a positive integer');
  return args;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = parseArgs(process.argv.slice(2));
  const gpu = await acquireGpu({ skipWorkgroupZeroInit: true });
  try {
    process.stderr.write(`adapter: ${gpu.describe()}\n`);
    const rows = await runAttentionBackwardBench(gpu, args.lengths, args.repeats, (line) => process.stderr.write(`${line}\n`));
    process.stdout.write(`${renderBackwardTable(rows)}\n`);
  } finally {
    gpu.release();
  }
}
