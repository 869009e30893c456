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
  /**
   * Medians of the process's CPU time (user + system, every thread) per pass: the work SwiftShader did, which other
   * processes on a loaded machine disturb far less than the wall time.
   */
  forwardCpu?: number;
  backwardCpu?: number;
  /** Tiles of the class buffer both passes skip. */
  emptyTiles: number;
  tiles: number;
}

/** `measure` of a pass, also recording the process's CPU milliseconds of each timed (not warm-up) call. */
async function measureWithCpu(run: () => Promise<number>, repeats: number): Promise<{ timing: Timing; cpu: number }> {
  const cpu: number[] = [];
  const timing = await measure(
    async () => {
      const c0 = process.cpuUsage();
      const ms = await run();
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
      return ms;
    },
    { warmup: 1, repeats },
  );
  const timed = cpu.slice(1).sort((a, b) => a - b);
  return { timing, cpu: timed[Math.floor(timed.length / 2)] };
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
  let fwd: { timing: Timing; cpu: number };
  try {
    fwd = await measureWithCpu(() => forward.time(1), repeats);
    out = await forward.output();
    lse = await forward.lse();
  } finally {
    forward.destroy();
  }
  const backward = await prepareAttentionBackward(gpu, attentionBackwardFor(kernel), { ...run, out, lse, dOut });
  try {
    const bwd = await measureWithCpu(() => backward.time(1), repeats);
    const g = await backward.gradients();
    // A timing of a pass that produced garbage is not reported.
    if (![g.dq, g.dk, g.dv].every(finite)) throw new Error(`${mask.id} L=${length}: the backward pass produced non-finite gradients`);
    const counts = tileClasses ? countTiles(tileClasses) : undefined;
    const tiles = tileClasses?.length ?? Math.ceil(length / kernel.tileQ) * Math.ceil(length / kernel.tileK);
    return { length, mask: mask.id, shape: shapeName, forward: fwd.timing, backward: bwd.timing, forwardCpu: fwd.cpu, backwardCpu: bwd.cpu, emptyTiles: counts?.empty ?? 0, tiles };
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
export function backwardRatios(rows: BackwardRow[], length: number, cpu = false): { vsDefault?: number; vsFastest?: number; fastest?: string; causal?: number } {
  if (cpu && rows.some((r) => r.forwardCpu === undefined || r.backwardCpu === undefined)) return {};
  const fw = (r: BackwardRow) => (cpu ? r.forwardCpu! : r.forward.median);
  const bw = (r: BackwardRow) => (cpu ? r.backwardCpu! : r.backward.median);
  const none = rows.filter((r) => r.length === length && r.mask === 'none');
  const def = none.find((r) => r.shape.startsWith('default'));
  const fastest = [...none].sort((a, b) => fw(a) - fw(b))[0];
  const causal = rows.find((r) => r.length === length && r.mask === 'causal' && r.shape === def?.shape);
  return {
    vsDefault: def && bw(def) / fw(def),
    vsFastest: fastest && bw(fastest) / fw(fastest),
    fastest: fastest?.shape,
    causal: def && causal && bw(causal) / bw(def),
  };
}

function cpuColumns(r: BackwardRow, unmasked: BackwardRow | undefined): string {
  if (r.forwardCpu === undefined || r.backwardCpu === undefined) return '— | — | — |';
  const causal = r.mask === 'causal' && unmasked?.backwardCpu ? (r.backwardCpu / unmasked.backwardCpu).toFixed(2) : '';
  return `${r.forwardCpu.toFixed(0)}, ${r.backwardCpu.toFixed(0)} | ${(r.backwardCpu / r.forwardCpu).toFixed(2)} | ${causal} |`;
}

/** The summary table: backward / forward per row, and causal backward / unmasked backward per length. */
export function renderBackwardTable(rows: BackwardRow[]): string {
  const lines = [
    `Attention backward, B=1 H=${HEADS} D=${HEAD_DIM} (medians, ms)`,
    '| L | mask | forward shape (backward tiles) | empty tiles | forward (with lse) | backward | backward / forward | causal / unmasked backward | CPU ms: forward, backward | backward / forward (CPU) | causal / unmasked (CPU) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const unmasked = rows.find((x) => x.length === r.length && x.mask === 'none' && x.shape === r.shape);
    const causalRatio = r.mask === 'causal' && unmasked ? (r.backward.median / unmasked.backward.median).toFixed(2) : '';
    lines.push(
      `| ${r.length} | ${r.mask} | ${r.shape} | ${r.emptyTiles}/${r.tiles} | ${r.forward.median.toFixed(2)} | ${r.backward.median.toFixed(2)} | ` +
        `${(r.backward.median / r.forward.median).toFixed(2)} | ${causalRatio} | ${cpuColumns(r, unmasked)}`,
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
