// `npx tsx bench/attention-backward.ts [--lengths 256,1024] [--rounds N]`: the fused attention backward pass against
// its forward pass, B=1, H=8, D=64, unmasked and causal. The backward's tiles are the forward kernel's (they share the
// tile classes), so it runs once per forward shape: the default shape, and each row-wise shape the tuner measures
// (`attentionVariants`; on SwiftShader the tuner's pick is one of them). Reports, per length, mask and shape, the
// forward time (the kernel writing its log-sum-exp), the backward time (delta, dK/dV and dQ kernels, one submission),
// backward / forward, and the causal backward's time over the unmasked one: the tile classes should spare the causal
// pass about half its work. The two masks of a shape are measured in interleaved rounds and their ratio is taken
// round by round: on a shared machine the load drifts between one set of samples and the next.

import { attentionBackwardFor, prepareAttentionBackward, type PreparedAttentionBackward } from '../src/runtime/attention-backward-run.ts';
import { attentionKernelFor, prepareAttention, type PreparedAttention } from '../src/runtime/attention-run.ts';
import { acquireGpu, type GpuContext } from '../src/runtime/device.ts';
import { median, summarize, type Timing } from '../src/tune/measure.ts';
import { attentionVariants, tileLabel, type TileChoice } from '../src/tune/variants.ts';
import { seededFloats } from './data.ts';
import { benchMasks, countTiles, tileClassesFor, type BenchMask } from './masks.ts';

const HEADS = 8;
const HEAD_DIM = 64;
/** Timed rounds at the longest length (`npm run bench` uses this too). */
export const BACKWARD_ROUNDS = 5;

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
  /** On a masked row: the median over the rounds of this row's backward time over the unmasked row's, same round. */
  pairedCausal?: number;
  pairedCausalCpu?: number;
}

/** A pass's timed runs: wall milliseconds and the process's CPU milliseconds of each, in the order taken. */
interface Samples {
  wall: number[];
  cpu: number[];
}

async function timeOnce(run: () => Promise<number>, into: Samples): Promise<void> {
  const c0 = process.cpuUsage();
  const ms = await run();
  const c = process.cpuUsage(c0);
  into.wall.push(ms);
  into.cpu.push((c.user + c.system) / 1000);
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

/** One mask's forward and backward passes on one shape, prepared (compiled, bound, inputs resident) for timing. */
interface PreparedMask {
  mask: BenchMask;
  shape: string;
  forward: PreparedAttention;
  backward: PreparedAttentionBackward;
  emptyTiles: number;
  tiles: number;
  fwd: Samples;
  bwd: Samples;
}

async function prepareMask(gpu: GpuContext, mask: BenchMask, length: number, shape: Shape): Promise<PreparedMask> {
  const n = length * HEADS * HEAD_DIM;
  const [q, k, v, dOut] = [1, 2, 3, 4].map((s) => seededFloats(n, length * 5 + s));
  const kernel = attentionKernelFor(gpu, { headDim: HEAD_DIM, heads: HEADS, kvHeads: HEADS, mask: mask.wgsl, lse: true, ...(shape.tiles ? { tiles: shape.tiles } : {}) });
  const shapeName = shape.tiles ? shape.name : `default ${tileLabel({ q: kernel.tileQ, k: kernel.tileK, lanes: kernel.lanes })}`;
  const tileClasses = mask.wgsl ? tileClassesFor(mask, kernel, length, length) : undefined;
  const run = { batch: 1, lq: length, lk: length, q, k, v, maskEnv: mask.env(length, length), tileClasses };
  const forward = await prepareAttention(gpu, kernel, run);
  try {
    await forward.run();
    const [out, lse] = [await forward.output(), await forward.lse()];
    const backward = await prepareAttentionBackward(gpu, attentionBackwardFor(kernel), { ...run, out, lse, dOut });
    const counts = tileClasses ? countTiles(tileClasses) : undefined;
    const tiles = tileClasses?.length ?? Math.ceil(length / kernel.tileQ) * Math.ceil(length / kernel.tileK);
    return { mask, shape: shapeName, forward, backward, emptyTiles: counts?.empty ?? 0, tiles, fwd: { wall: [], cpu: [] }, bwd: { wall: [], cpu: [] } };
  } catch (error) {
    forward.destroy();
    throw error;
  }
}

/**
 * Both masks on one shape, measured in interleaved rounds (each round times every mask's forward, then every mask's
 * backward), so that a change in the machine's load falls on both sides of a ratio alike; the causal / unmasked
 * ratio is also taken round by round (`pairedCausal`: the median of the rounds' ratios).
 */
async function measureShape(gpu: GpuContext, masks: BenchMask[], length: number, rounds: number, shape: Shape): Promise<BackwardRow[]> {
  const prepared: PreparedMask[] = [];
  try {
    for (const mask of masks) prepared.push(await prepareMask(gpu, mask, length, shape));
    // One untimed run of each: pipeline creation and first-touch allocation land there.
    for (const p of prepared) {
      await p.forward.time(1);
      await p.backward.time(1);
    }
    for (let round = 0; round < rounds; round++) {
      for (const p of prepared) await timeOnce(() => p.forward.time(1), p.fwd);
      for (const p of prepared) await timeOnce(() => p.backward.time(1), p.bwd);
    }
    const rows: BackwardRow[] = [];
    for (const p of prepared) {
      const g = await p.backward.gradients();
      // A timing of a pass that produced garbage is not reported.
      if (![g.dq, g.dk, g.dv].every(finite)) throw new Error(`${p.mask.id} L=${length}: the backward pass produced non-finite gradients`);
      rows.push({
        length, mask: p.mask.id, shape: p.shape, forward: summarize(p.fwd.wall), backward: summarize(p.bwd.wall),
        forwardCpu: median(p.fwd.cpu), backwardCpu: median(p.bwd.cpu), emptyTiles: p.emptyTiles, tiles: p.tiles,
      });
    }
    const none = prepared.find((p) => p.mask.id === 'none');
    for (const [i, p] of prepared.entries()) {
      if (p === none || !none) continue;
      rows[i].pairedCausal = median(p.bwd.wall.map((ms, r) => ms / none.bwd.wall[r]));
      rows[i].pairedCausalCpu = median(p.bwd.cpu.map((ms, r) => ms / none.bwd.cpu[r]));
    }
    return rows;
  } finally {
    for (const p of prepared) {
      p.forward.destroy();
      p.backward.destroy();
    }
  }
}

/**
 * Every length, shape and mask. `rounds` is the number of timed rounds at the longest length; shorter lengths, whose
 * passes take a fraction of the time, get proportionally more (up to 4×) for the same confidence.
 */
export async function runAttentionBackwardBench(gpu: GpuContext, lengths: number[], rounds: number, log: (line: string) => void): Promise<BackwardRow[]> {
  const masks = benchMasks().filter((m) => m.id === 'none' || m.id === 'causal');
  const longest = Math.max(...lengths);
  const rows: BackwardRow[] = [];
  for (const length of lengths) {
    const n = Math.min(4 * rounds, Math.round(rounds * Math.sqrt(longest / length)));
    for (const shape of forwardShapes(gpu)) {
      const measured = await measureShape(gpu, masks, length, n, shape);
      rows.push(...measured);
      for (const row of measured) log(`L=${length} ${row.mask} ${row.shape}: forward ${row.forward.median.toFixed(2)} ms, backward ${row.backward.median.toFixed(2)} ms (${n} rounds)`);
    }
  }
  return rows;
}

/**
 * Backward / forward for unmasked attention at one length: against the default forward shape, and against the
 * fastest forward shape measured (with the backward on that shape's tiles, as a tuned program would run it).
 */
export function backwardRatios(rows: BackwardRow[], length: number, cpu = false): { vsDefault?: number; vsFastest?: number; fastest?: string; causal?: number; causalFastest?: number } {
  if (cpu && rows.some((r) => r.forwardCpu === undefined || r.backwardCpu === undefined)) return {};
  const fw = (r: BackwardRow) => (cpu ? r.forwardCpu! : r.forward.median);
  const bw = (r: BackwardRow) => (cpu ? r.backwardCpu! : r.backward.median);
  const none = rows.filter((r) => r.length === length && r.mask === 'none');
  const def = none.find((r) => r.shape.startsWith('default'));
  const fastest = [...none].sort((a, b) => fw(a) - fw(b))[0];
  // Round by round where the rows were measured interleaved; results from before that compare the medians.
  const causalOn = (unmasked: BackwardRow | undefined) => {
    const c = rows.find((r) => r.length === length && r.mask === 'causal' && r.shape === unmasked?.shape);
    if (!unmasked || !c) return undefined;
    return (cpu ? c.pairedCausalCpu : c.pairedCausal) ?? bw(c) / bw(unmasked);
  };
  return {
    vsDefault: def && bw(def) / fw(def),
    vsFastest: fastest && bw(fastest) / fw(fastest),
    fastest: fastest?.shape,
    causal: causalOn(def),
    causalFastest: causalOn(fastest),
  };
}

function cpuColumns(r: BackwardRow, unmasked: BackwardRow | undefined): string {
  if (r.forwardCpu === undefined || r.backwardCpu === undefined) return '— | — | — |';
  const paired = r.pairedCausalCpu ?? (unmasked?.backwardCpu ? r.backwardCpu / unmasked.backwardCpu : undefined);
  const causal = r.mask === 'causal' && paired !== undefined ? paired.toFixed(2) : '';
  return `${r.forwardCpu.toFixed(0)}, ${r.backwardCpu.toFixed(0)} | ${(r.backwardCpu / r.forwardCpu).toFixed(2)} | ${causal} |`;
}

/** The summary table: backward / forward per row, and causal backward / unmasked backward per length. */
export function renderBackwardTable(rows: BackwardRow[]): string {
  const lines = [
    `Attention backward, B=1 H=${HEADS} D=${HEAD_DIM} (medians, ms; causal / unmasked: the median of the rounds' ratios)`,
    '| L | mask | forward shape (backward tiles) | empty tiles | forward (with lse) | backward | backward / forward | causal / unmasked backward | CPU ms: forward, backward | backward / forward (CPU) | causal / unmasked (CPU) |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const unmasked = rows.find((x) => x.length === r.length && x.mask === 'none' && x.shape === r.shape);
    const paired = r.pairedCausal ?? (unmasked ? r.backward.median / unmasked.backward.median : undefined);
    const causalRatio = r.mask === 'causal' && paired !== undefined ? paired.toFixed(2) : '';
    lines.push(
      `| ${r.length} | ${r.mask} | ${r.shape} | ${r.emptyTiles}/${r.tiles} | ${r.forward.median.toFixed(2)} | ${r.backward.median.toFixed(2)} | ` +
        `${(r.backward.median / r.forward.median).toFixed(2)} | ${causalRatio} | ${cpuColumns(r, unmasked)}`,
    );
  }
  return lines.join('\n');
}

function parseArgs(argv: string[]): { lengths: number[]; rounds: number } {
  const args = { lengths: [256, 1024], rounds: BACKWARD_ROUNDS };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--lengths') args.lengths = argv[++i].split(',').map(Number);
    else if (argv[i] === '--rounds') args.rounds = Number(argv[++i]);
    else throw new Error(`unknown option '${argv[i]}' (options: --lengths L1,L2,…, --rounds N)`);
  }
  if (!args.lengths.every((l) => Number.isInteger(l) && l > 0)) throw new Error('--lengths takes positive integers');
  if (!(Number.isInteger(args.rounds) && args.rounds > 0)) throw new Error('--rounds takes a positive integer');
  return args;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = parseArgs(process.argv.slice(2));
  const gpu = await acquireGpu({ skipWorkgroupZeroInit: true });
  try {
    process.stderr.write(`adapter: ${gpu.describe()}\n`);
    const rows = await runAttentionBackwardBench(gpu, args.lengths, args.rounds, (line) => process.stderr.write(`${line}\n`));
    process.stdout.write(`${renderBackwardTable(rows)}\n`);
  } finally {
    gpu.release();
  }
}
