// The decode pass: the two programs generation with a key/value cache runs, compiled from the full program and its
// cache plan (kv-cache.ts) so that `mdl compile` describes exactly what `mdl run` executes.
//
// - prefill: the first call. Every step of the full pass but the decoder input's (the host shifts it), the decoder's
//   steps over the positions of this call; its once-per-source steps are marked and skipped by later calls, which
//   also run this program when they bring more new rows than the decode step takes.
// - step: a later call's few new rows (at most DECODE_STEP_ROWS): the per-token steps only, matmuls with the skinny
//   kernel and attention with one query row per workgroup, since 32-row tiles would leave all but one row idle.
//
// In both, the decoder axis is the number of new rows, and the runtime gives each call a few more dims: where the new
// rows start in the whole sequence, and per self-attention cache its rows, the keys in use and the keys dropped in
// front. Embedding and rotary steps start at the first new row; attention and classify steps see the new rows and the
// keys at their positions in the whole sequence (the kernels' q/k offsets) and bind the cache in place of K and V.
// In the decode step those positions and windows are per batch row (ROW_BUFFERS), so rows of different lengths
// decode together; the uniforms then hold the largest of them, which bound the reads and size the tiles.

import { sym, type Poly } from '../check/sym.ts';
import { chooseTiles, decodeTiles, DEFAULT_KERNEL_LIMITS, ROW_WINDOW } from '../wgsl/attention.ts';
import { SKINNY_ROWS } from '../wgsl/kernels.ts';
import { MASK_KERNEL_WORKGROUP } from '../wgsl/mask-kernels.ts';
import { formula, type Formula } from './formula.ts';
import type { CachePlan, CacheSite } from './kv-cache.ts';
import { planMemory } from './memory-plan.ts';
import { printProgram } from './print-program.ts';
import type { Program, ProgramBuffer, ProgramDim, Step } from './program.ts';
import { render, type Rendered, type RenderedKernel } from './render.ts';
import type { ScheduleOptions } from './schedule.ts';
import { attentionKernelOf } from './step-kernels.ts';
import { LIMITS } from './verify-program.ts';

/** New rows up to which a later call runs the decode step program (skinny matmuls, one-row attention tiles). */
export const DECODE_STEP_ROWS = 8;

/** The dims a cached call gives beyond the spec's. Their dots keep them apart from any dim a spec can declare. */
export const CACHE_DIMS = {
  /** Position of the first new row in the whole sequence. */
  start: 'cache.start',
  /** Key rows a self-attention cache holds (its buffer's capacity). */
  rows: (site: number) => `cache.${site}.rows`,
  /** Keys in use after this call's rows are appended. */
  keys: (site: number) => `cache.${site}.keys`,
  /** Keys dropped in front: the position of the cache's first row. */
  dropped: (site: number) => `cache.${site}.dropped`,
};

/**
 * The decode step's per-row buffers (role `row_positions`), filled by the host at each call, so that batch rows at
 * different positions decode in one run: each row's first new position (embedding and rotary steps), and per
 * self-attention cache, and for the cross-attentions, each row's q_offset, k_offset and key count (ROW_WINDOW).
 */
export const ROW_BUFFERS = {
  start: '#rows.start',
  window: (site: number) => `#rows.window.${site}`,
  cross: '#rows.window.cross',
};

export interface DecodeSite extends CacheSite {
  /** The attention node, which names the site across the programs. */
  node: string;
  /** Which self-attention cache (the index in CACHE_DIMS), for self sites. */
  cache?: number;
}

export interface DecodeProgram {
  name: 'prefill' | 'step';
  program: Program;
  rendered: Rendered;
  /** Steps that run on the first call only (once per source). */
  once: number[];
  /** Attention steps of this program, with their caches; `step` indexes this program. */
  sites: DecodeSite[];
}

export interface DecodePrograms {
  prefill: DecodeProgram;
  step: DecodeProgram;
}

const fc = (n: number): Formula => formula.constant(n);
const atom = (name: string): Formula => formula.of(sym.atom(name));

type StepTiles = ScheduleOptions['decodeTiles'];

/**
 * `shared`: the full pass's kernels, which the decode programs name instead of writing copies of them. `stepTiles`:
 * the decode step's attention tiles per kernel signature (tuned), else the one-row decode tiles.
 */
export function decodePrograms(full: Program, plan: CachePlan, shared: readonly RenderedKernel[] = [], stepTiles?: StepTiles): DecodePrograms | undefined {
  if (plan.unsupported) return undefined;
  const prefill = decodeProgram('prefill', full, plan, shared);
  return { prefill, step: decodeProgram('step', full, plan, [...shared, ...prefill.rendered.kernels], stepTiles) };
}

function decodeProgram(name: DecodeProgram['name'], full: Program, plan: CachePlan, shared: readonly RenderedKernel[], stepTiles?: StepTiles): DecodeProgram {
  const keep = name === 'prefill' ? [...plan.encodeSteps, ...plan.decodeSteps].sort((a, b) => a - b) : plan.decodeSteps;
  const selfSites = plan.sites.filter((s) => s.kind === 'self');
  const cacheOf = new Map(selfSites.map((s, i) => [s.step, i]));
  const siteOfNode = new Map(plan.sites.map((s) => [full.steps[s.step].node, s]));
  const skinny = name === 'step';
  const buffers: ProgramBuffer[] = full.buffers.map(({ slot, ...b }) => ({ ...b }));
  const bufferOf = new Map(buffers.map((b) => [b.id, b]));
  // The shifted decoder input is filled by the host with the new rows; in the decode step, values the once-per-source
  // steps wrote are kept from the first call.
  for (const id of plan.hostFilled) bufferOf.get(id)!.role = 'input';
  if (skinny) for (const id of plan.kept) bufferOf.get(id)!.role = 'kept';

  const decodeSteps = new Set(plan.decodeSteps);
  const positionSteps = new Set(plan.positionSteps);
  // In the decode step every batch row has its own position: one u32 a row, or three per attention window. An
  // attention kernel that already binds as many storage buffers as every adapter allows would have no room for its
  // window: then no step takes per-row positions, and rows of different lengths decode in separate runs (the runtime
  // sees no ROW_BUFFERS). With the mask in one table, a mask and a score table leave the eighth binding free.
  const batch = plan.sites.length ? full.steps[plan.sites[0].step].attention!.batch : undefined;
  const room = plan.sites.every((s) => attentionKernelOf(full.steps[s.step]).bindings.length < LIMITS.storageBuffers);
  const perRow = skinny && batch !== undefined && room;
  const rowBuffer = (id: string, per: number) => {
    if (!bufferOf.has(id)) {
      const b: ProgramBuffer = { id, role: 'row_positions', dtype: 'u32', elements: formula.of(sym.mul(batch!, sym.constant(per))) };
      buffers.push(b);
      bufferOf.set(id, b);
    }
    return id;
  };
  const steps = keep.map((i): Step => {
    const s = full.steps[i];
    if (!decodeSteps.has(i)) return s;
    if (positionSteps.has(i)) {
      const step: Step = { ...s, uniforms: { ...s.uniforms, start: atom(CACHE_DIMS.start) } };
      if (!perRow || (s.kernel.kind !== 'embed' && s.kernel.kind !== 'rope')) return step;
      return { ...step, kernel: { ...s.kernel, rowStarts: true }, bind: { ...s.bind, rowStart: rowBuffer(ROW_BUFFERS.start, 1) } };
    }
    if (s.kind === 'matmul' && s.kernel.kind === 'matmul' && skinny) {
      const grid: Step['grid'] = [formula.ceilDiv(s.uniforms.N as Formula, 64), formula.ceilDiv(s.uniforms.M as Formula, SKINNY_ROWS), fc(1)];
      return { ...s, kernel: { ...s.kernel, shape: 'skinny' }, grid };
    }
    if (s.kind !== 'attention' && s.kind !== 'classify') return s;
    const site = siteOfNode.get(s.node)!;
    const cache = cacheOf.get(site.step);
    const step = attentionStep(s, cache, skinny, buffers, bufferOf, stepTiles);
    if (!perRow) return step;
    const window = rowBuffer(cache === undefined ? ROW_BUFFERS.cross : ROW_BUFFERS.window(cache), ROW_WINDOW.stride);
    return { ...step, bind: { ...step.bind, [ROW_WINDOW.role]: window }, attention: { ...step.attention!, rowWindows: true } };
  });
  // The cache dims are verified as on a first call: no rows before this call's, every key one of them.
  const dims: ProgramDim[] = [
    ...full.dims.map((d) => (d.name === plan.axis && skinny ? { name: d.name, bound: Math.min(d.bound ?? DECODE_STEP_ROWS, DECODE_STEP_ROWS) } : d)),
    { name: CACHE_DIMS.start, sample: 0 },
    ...selfSites.flatMap((_, i) => [
      { name: CACHE_DIMS.rows(i), sample: plan.axis },
      { name: CACHE_DIMS.keys(i), sample: plan.axis },
      { name: CACHE_DIMS.dropped(i), sample: 0 },
    ]),
  ];
  const program: Program = { ...full, dims, buffers, steps, slots: [] };
  // Buffers no step of this program binds are left out; the rest share device buffers by their lifetimes here.
  const bound = new Set(steps.flatMap((s) => Object.values(s.bind)));
  const outputs = new Set(program.outputs);
  program.buffers = buffers.filter((b) => bound.has(b.id) || outputs.has(b.id));
  program.slots = planMemory(program);
  const encodeSteps = new Set(plan.encodeSteps);
  const once = name === 'prefill' ? keep.flatMap((i, j) => (encodeSteps.has(i) ? [j] : [])) : [];
  const sites = steps.flatMap((s, j): DecodeSite[] => {
    const site = s.kind === 'attention' ? siteOfNode.get(s.node) : undefined;
    if (!site) return [];
    const cache = cacheOf.get(site.step);
    return [{ ...site, step: j, node: s.node, ...(cache === undefined ? {} : { cache, k: s.bind.k, v: s.bind.v }) }];
  });
  return { name, program, rendered: render(program, `${name}-`, undefined, shared), once, sites };
}

/**
 * An attention or classify step over the new rows: their count and position, and for a self-attention the keys in
 * its cache, with the cache bound as K and V; in the decode step, one query row per workgroup.
 */
function attentionStep(s: Step, cache: number | undefined, skinny: boolean, buffers: ProgramBuffer[], bufferOf: Map<string, ProgramBuffer>, stepTiles?: StepTiles): Step {
  const a = s.attention!;
  const chosen = skinny ? stepTiles?.({ headDim: a.headDim, heads: a.heads, kvHeads: a.kvHeads, mask: a.mask?.wgsl, modifiers: a.modifiers }) : undefined;
  // Validated against the default limits, as the full pass's tiles are: the generator throws on a shape that does not fit.
  const shape = chosen
    ? chooseTiles(a.headDim, DEFAULT_KERNEL_LIMITS, chosen)
    : skinny
      ? decodeTiles(a.headDim, DEFAULT_KERNEL_LIMITS)
      : { tileQ: a.tiles.q, tileK: a.tiles.k, lanes: a.tiles.lanes, staged: a.tiles.staged, rowwise: a.tiles.rowwise, subgroups: a.tiles.subgroups, splitKeys: a.tiles.splitKeys };
  // The decode step's tiles replace the full pass's; a row-wise full pass keeps its shape for the prefill.
  const { rowwise: _, subgroups: __, splitKeys: ___, ...rest } = a.tiles;
  const tiles = { ...rest, q: shape.tileQ, k: shape.tileK, lanes: shape.lanes, staged: shape.staged, ...(shape.rowwise ? { rowwise: true } : {}), ...(shape.subgroups ? { subgroups: true } : {}), ...(shape.splitKeys ? { splitKeys: true } : {}) };
  const lk: Poly = cache === undefined ? a.lk : sym.atom(CACHE_DIMS.keys(cache));
  const site = { ...a, lk, tiles };
  const f = (p: Poly) => formula.of(p);
  const qTiles = formula.ceilDiv(f(a.lq), tiles.q);
  const kTiles = formula.ceilDiv(f(lk), tiles.k);
  const count = formula.times(f(sym.mul(a.batch, sym.constant(tiles.heads))), qTiles, kTiles);
  // The tile classes of the new rows against the keys in view, sized for this program's tiles.
  bufferOf.get(s.bind.tileClass)!.elements = count;
  const window = {
    lq: f(a.lq),
    lk: f(lk),
    n_q_tiles: qTiles,
    n_k_tiles: kTiles,
    q_offset: atom(CACHE_DIMS.start),
    k_offset: cache === undefined ? fc(0) : atom(CACHE_DIMS.dropped(cache)),
    // Each batch row's cache holds `rows` keys: a row's keys start at b * rows, whatever number of them is in use.
    kv_rows: cache === undefined ? f(a.lk) : atom(CACHE_DIMS.rows(cache)),
  };
  if (s.kind === 'classify') {
    const { kv_rows: _, ...classifyWindow } = window;
    const uniforms = { ...s.uniforms, ...classifyWindow, tile_q: fc(tiles.q), tile_k: fc(tiles.k), total: count };
    return { ...s, uniforms, grid: [formula.ceilDiv(count, MASK_KERNEL_WORKGROUP), fc(1), fc(1)], attention: site };
  }
  const bind = { ...s.bind };
  if (cache !== undefined) {
    for (const role of ['k', 'v'] as const) {
      const id = `${s.node}#${role}_cache`;
      const rowWidth = a.kvHeads * a.headDim;
      if (!bufferOf.has(id)) {
        const rows = sym.mul(a.batch, sym.atom(CACHE_DIMS.rows(cache)));
        const b: ProgramBuffer = { id, role: 'kv_cache', dtype: 'f32', elements: f(sym.mul(rows, sym.constant(rowWidth))) };
        buffers.push(b);
        bufferOf.set(id, b);
      }
      bind[role] = id;
    }
  }
  return { ...s, bind, uniforms: { ...s.uniforms, ...window }, grid: [qTiles, s.grid[1], s.grid[2]], attention: site };
}

/** Both programs as text (`mdl dump FILE --stage decode`). */
export function printDecodePrograms(d: DecodePrograms | undefined, plan: CachePlan): string {
  if (!d) return `no cached decoding: ${plan.unsupported}\n`;
  return [d.prefill, d.step]
    .map((x) => `${x.name}${x.once.length ? ` (steps ${x.once.join(', ')} once per source)` : ''}:\n${printProgram(x.program)}`)
    .join('\n');
}
