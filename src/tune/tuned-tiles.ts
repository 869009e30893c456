// The one call compile and run need: which tiles to generate an attention kernel with on this adapter. A tuned
// choice is used only if it still fits the device's limits (a cache copied from another machine, a driver update
// that lowered a limit); otherwise, and when nothing was tuned, the generator's default applies, which is always
// valid. Lookups are synchronous (compilation is) and the file is parsed once per change of its modification time.

import { statSync } from 'node:fs';
import { DEFAULT_KERNEL_LIMITS, type KernelLimits } from '../wgsl/attention.ts';
import { defaultCachePath, lookupEntry, lookupMatmul, lookupNorm, readTuneCache, type TuneCache } from './cache.ts';
import type { NormForm } from '../wgsl/kernels.ts';
import type { MatmulTiling } from '../wgsl/matmul-tilings.ts';
import type { ScheduleOptions } from '../lower/schedule.ts';
import { attentionSignature, signatureKey, type AdapterIdentity, type KernelSignature } from './signature.ts';
import type { SubgroupSupport } from '../runtime/subgroups.ts';
import { defaultDecodeTiles, defaultTiles, fitsLimits, subgroupSharingAllowed, type TileChoice } from './variants.ts';

export interface TunedTiles extends TileChoice {
  /** Where the shape came from: the cache, or the generator's default (nothing tuned, or the tuned one unusable). */
  source: 'tuned' | 'default';
}

export interface TunedTilesOptions {
  /** The device's limits (default: the WebGPU defaults every adapter guarantees). */
  limits?: KernelLimits;
  /** The cache file (default: `$MDL_CACHE_DIR/tune.json` or `~/.cache/mdl/tune.json`). */
  cachePath?: string;
  /** The device's subgroup sizes: a tuned subgroup shape is used only where the tuner would offer it. */
  subgroups?: SubgroupSupport;
}

const loaded = new Map<string, { mtimeMs: number; cache: TuneCache }>();

function cacheAt(path: string): TuneCache | undefined {
  let mtimeMs: number;
  try {
    mtimeMs = statSync(path).mtimeMs;
  } catch {
    loaded.delete(path);
    return undefined;
  }
  const hit = loaded.get(path);
  if (hit && hit.mtimeMs === mtimeMs) return hit.cache;
  const { cache } = readTuneCache(path);
  loaded.set(path, { mtimeMs, cache });
  return cache;
}

export function tunedTilesFor(adapter: AdapterIdentity, signature: KernelSignature, options: TunedTilesOptions = {}): TunedTiles {
  const limits = options.limits ?? DEFAULT_KERNEL_LIMITS;
  const cache = cacheAt(options.cachePath ?? defaultCachePath());
  const entry = cache && lookupEntry(cache, adapter, signature);
  const usable = entry && fitsLimits(signature.headDim, entry.tiles, limits) && (!entry.tiles.subgroups || subgroupSharingAllowed(options.subgroups));
  if (entry && usable) {
    const t = entry.tiles;
    return { q: t.q, k: t.k, lanes: t.lanes, ...(t.staged === false ? { staged: false } : {}), ...(t.rowwise ? { rowwise: true } : {}), ...(t.subgroups ? { subgroups: true } : {}), ...(t.splitKeys ? { splitKeys: true } : {}), source: 'tuned' };
  }
  const fallback = signature.site === 'decode' ? defaultDecodeTiles : defaultTiles;
  return { ...fallback(signature.headDim, limits), source: 'default' };
}

/** The matmul tiling `mdl tune` chose for this adapter, if it has run here. */
export function tunedMatmulFor(adapter: AdapterIdentity, options: Omit<TunedTilesOptions, 'limits'> = {}): MatmulTiling | undefined {
  const cache = cacheAt(options.cachePath ?? defaultCachePath());
  return cache && lookupMatmul(cache, adapter)?.tiling;
}

/** The norm kernel's form `mdl tune` chose for this adapter, if it has run here. */
export function tunedNormFor(adapter: AdapterIdentity, options: Omit<TunedTilesOptions, 'limits'> = {}): NormForm | undefined {
  const cache = cacheAt(options.cachePath ?? defaultCachePath());
  return cache && lookupNorm(cache, adapter)?.form;
}

/**
 * Schedule options that give each attention kernel the tiles tuned for this adapter, limited to shapes that fit the
 * WebGPU defaults the rendered kernels are generated for, every matmul the tiling tuned for the adapter and every norm
 * the form tuned for it (where `mdl tune` measured them). `report` says how many attention kernel signatures were
 * tuned.
 */
export function tunedScheduleOptions(adapter: AdapterIdentity, options: Omit<TunedTilesOptions, 'limits'> = {}): { options: ScheduleOptions; report: () => { tuned: number; total: number } } {
  const seen = new Map<string, TunedTiles['source']>();
  const matmulTiling = tunedMatmulFor(adapter, options);
  const normForm = tunedNormFor(adapter, options);
  return {
    options: {
      ...(matmulTiling ? { matmulTiling } : {}),
      ...(normForm ? { normForm } : {}),
      attentionTiles: (shape) => {
        const signature = attentionSignature(shape);
        const choice = tunedTilesFor(adapter, signature, { ...options, limits: DEFAULT_KERNEL_LIMITS });
        seen.set(signatureKey(signature), choice.source);
        return choice;
      },
      decodeTiles: (shape) => {
        const signature = attentionSignature(shape, 'decode');
        const choice = tunedTilesFor(adapter, signature, { ...options, limits: DEFAULT_KERNEL_LIMITS });
        return choice;
      },
    },
    report: () => ({ tuned: [...seen.values()].filter((s) => s === 'tuned').length, total: seen.size }),
  };
}
