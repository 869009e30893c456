// The kernel variants the tuner chooses among: tile shapes (query rows × key columns) and lanes per query row of the
// fused attention generator. The set is kept small on purpose — each variant is a pipeline compile plus timed runs,
// and on a software adapter a compile alone can take a second — and spans the axes that matter on real devices:
// workgroup size (rows × lanes), workgroup memory (the K/V tiles grow with the key tile), and registers per thread
// (D/4 ÷ lanes output vec4s each) — plus unstaged variants, one query row per invocation reading K and V straight
// from storage, for adapters where workgroup memory buys nothing (a CPU implementation such as SwiftShader). On
// adapters with subgroups of 8 lanes or more, the row-wise shape is also offered with K/V passed between lanes.

import type { SubgroupSupport } from '../runtime/subgroups.ts';
import { chooseTiles, decodeTiles, DEFAULT_KERNEL_LIMITS, splitKeyTiles, workgroupBytes, type KernelLimits } from '../wgsl/attention.ts';

export interface TileChoice {
  q: number;
  k: number;
  lanes: number;
  /** false: the unstaged kernel (lanes 1); absent or true: K/V tiles staged in workgroup memory. */
  staged?: boolean;
  /** true: the row-wise kernel (lanes 1, staged K/V, scores private to each row's invocation). */
  rowwise?: boolean;
  /** With `rowwise`: K/V rows passed between the lanes of a subgroup instead of staged (needs `subgroups`). */
  subgroups?: boolean;
  /** true: the split-key decode kernel (q 1; `lanes` invocations share the row's key tiles). Decode sites only. */
  splitKeys?: boolean;
}

/**
 * Whether the subgroup form of the row-wise kernel is worth offering: the adapter has the feature and its smallest
 * subgroup has at least 8 lanes. The kernel is correct at any size (it is tested on 4-lane subgroups), but with 4
 * lanes a 32-key tile takes 8 rounds of loads and shuffles, and a size the driver may pick below 8 is where subgroup
 * kernels that assume more lanes go wrong; an adapter that may run 4-lane subgroups keeps workgroup memory.
 */
export function subgroupSharingAllowed(subgroups: SubgroupSupport | undefined): boolean {
  return !!subgroups && subgroups.minSize >= 8;
}

export function tileLabel(t: TileChoice): string {
  return `${t.q}×${t.k}/${t.lanes}${t.staged === false ? ' unstaged' : ''}${t.rowwise ? ' row-wise' : ''}${t.subgroups ? ' subgroups' : ''}${t.splitKeys ? ' split-keys' : ''}`;
}

export function sameTiles(a: TileChoice, b: TileChoice): boolean {
  return a.q === b.q && a.k === b.k && a.lanes === b.lanes && (a.staged ?? true) === (b.staged ?? true) && !!a.rowwise === !!b.rowwise && !!a.subgroups === !!b.subgroups && !!a.splitKeys === !!b.splitKeys;
}

/** The generator's own choice for this head dim and these limits: what runs when nothing was tuned. */
export function defaultTiles(headDim: number, limits: KernelLimits): TileChoice {
  const t = chooseTiles(headDim, limits);
  return { q: t.tileQ, k: t.tileK, lanes: t.lanes };
}

/**
 * The limits a tuned shape must fit to be used: the adapter's, and the WebGPU defaults the compiled kernels are
 * generated for (`tunedScheduleOptions`). Measuring a shape only this adapter allows would be wasted, or worse: a
 * cache entry compile silently replaces with the default.
 */
export function compileLimits(adapter: KernelLimits): KernelLimits {
  return {
    maxComputeWorkgroupStorageSize: Math.min(adapter.maxComputeWorkgroupStorageSize, DEFAULT_KERNEL_LIMITS.maxComputeWorkgroupStorageSize),
    maxComputeInvocationsPerWorkgroup: Math.min(adapter.maxComputeInvocationsPerWorkgroup, DEFAULT_KERNEL_LIMITS.maxComputeInvocationsPerWorkgroup),
    maxComputeWorkgroupSizeX: Math.min(adapter.maxComputeWorkgroupSizeX ?? Infinity, DEFAULT_KERNEL_LIMITS.maxComputeWorkgroupSizeX ?? Infinity),
  };
}

/** True when the generator accepts this shape on a device with these limits. */
export function fitsLimits(headDim: number, t: TileChoice, limits: KernelLimits): boolean {
  const d4 = headDim / 4;
  const maxInvocations = Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX ?? Infinity);
  return (
    [t.q, t.k, t.lanes].every((n) => Number.isInteger(n) && n >= 1) &&
    (t.lanes <= d4 || !!t.splitKeys) &&
    (t.staged !== false || t.lanes === 1) &&
    (!t.rowwise || (t.lanes === 1 && t.staged !== false)) &&
    (!t.subgroups || !!t.rowwise) &&
    (!t.splitKeys || (t.q === 1 && t.staged !== false && !t.rowwise && !t.subgroups)) &&
    t.q * t.lanes <= maxInvocations &&
    workgroupBytes(headDim, t.q, t.k, t.staged ?? true, !!t.rowwise, !!t.subgroups, t.splitKeys ? t.lanes : 0) <= limits.maxComputeWorkgroupStorageSize
  );
}

const QUERY_TILES = [8, 16, 32, 64];
const KEY_TILES = [16, 32, 64];

/**
 * Candidate shapes for one head dim, default first. `subgroups`: the device's subgroup sizes, which decide whether the
 * subgroup form of the row-wise shape is a candidate (`subgroupSharingAllowed`). Lanes are divisors of D/4 that leave each thread 2 to 8 output
 * vec4s (fewer starves the accumulation phase, more spills registers), capped at `max` candidates by preferring
 * workgroups of 64–256 invocations, the range every current GPU schedules well.
 */
export function attentionVariants(headDim: number, limits: KernelLimits, max = 12, subgroups?: SubgroupSupport): TileChoice[] {
  const d4 = headDim / 4;
  const lanesOptions = [1, 2, 4, 8, 16].filter((l) => d4 % l === 0 && d4 / l <= 8 && (d4 / l >= 2 || l === 1));
  const fallback = defaultTiles(headDim, limits);
  const all: TileChoice[] = [];
  for (const lanes of lanesOptions) {
    for (const q of QUERY_TILES) {
      for (const k of KEY_TILES) {
        const t = { q, k, lanes };
        if (fitsLimits(headDim, t, limits) && !sameTiles(t, fallback)) all.push(t);
      }
    }
  }
  const size = (t: TileChoice) => t.q * t.lanes;
  // Closest to 128 invocations first, then the larger key tile (fewer barriers per key).
  const score = (t: TileChoice) => Math.abs(Math.log2(size(t) / 128)) * 10 - Math.log2(t.k);
  all.sort((a, b) => score(a) - score(b) || a.q - b.q || a.lanes - b.lanes);
  // Two unstaged shapes always get a place: they differ from every staged one in kind, not degree.
  const unstaged = [{ q: 64, k: 64, lanes: 1, staged: false }, { q: 32, k: 32, lanes: 1, staged: false }].filter((t) => fitsLimits(headDim, t, limits));
  // And two row-wise ones: 64 and 32 rows, the largest key tile of 32, 16, 8 whose K/V tiles fit.
  const rowwise = [64, 32].flatMap((q) => {
    const k = [32, 16, 8].find((k) => fitsLimits(headDim, { q, k, lanes: 1, rowwise: true }, limits));
    return k ? [{ q, k, lanes: 1, rowwise: true }] : [];
  });
  // The subgroup form keeps 32-key tiles whatever the workgroup memory: it stages nothing.
  const shared = subgroupSharingAllowed(subgroups)
    ? [64, 32].map((q) => ({ q, k: 32, lanes: 1, rowwise: true, subgroups: true })).filter((t) => fitsLimits(headDim, t, limits))
    : [];
  const special = [...rowwise, ...shared, ...unstaged];
  const room = Math.max(0, max - 1 - special.length);
  return [fallback, ...special.slice(0, Math.max(0, max - 1)), ...all.slice(0, room)];
}

/** The decode step's own choice when nothing was tuned: one query row, its lanes across the head dim. */
export function defaultDecodeTiles(headDim: number, limits: KernelLimits): TileChoice {
  const t = decodeTiles(headDim, limits);
  return { q: t.tileQ, k: t.tileK, lanes: t.lanes };
}

/**
 * Candidate shapes for the attention of a decode step (one new query row against the cached keys), default first:
 * the split-key kernel with 32 and 16 lanes over key tiles of 32 and 16 (smaller tiles spread a short prompt's keys
 * over more lanes; larger ones rescale less often).
 */
export function decodeVariants(headDim: number, limits: KernelLimits): TileChoice[] {
  const split = [32, 16].flatMap((k) => splitKeyTiles(headDim, limits, k).filter((t) => t.lanes >= 16));
  return [defaultDecodeTiles(headDim, limits), ...split.map((t) => ({ q: 1, k: t.tileK, lanes: t.lanes, splitKeys: true }))];
}
