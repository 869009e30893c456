// The tuning cache: one JSON file, `$MDL_CACHE_DIR/tune.json` or `~/.cache/mdl/tune.json`, holding the chosen tile
// shape per adapter and kernel signature. Writes go to a temporary file beside it and are renamed over it, so a
// reader never sees half a file and two concurrent `mdl tune` runs leave one complete file (the last writer's,
// which merges into what it read — a lost update costs a re-tune, never a wrong kernel, since every entry is
// re-checked against the device's limits when used).

import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { OutputError } from '../lower/write-output.ts';
import { adapterKey, signatureKey, type AdapterIdentity, type KernelSignature } from './signature.ts';
import type { TileChoice } from './variants.ts';
import { isMatmulTiling, type MatmulTiling } from '../wgsl/matmul-tilings.ts';
import { isNormForm, type NormForm } from '../wgsl/kernels.ts';

const CACHE_VERSION = 1;

export interface TuneEntry {
  tiles: TileChoice;
  /** Median milliseconds of the chosen variant, and of the generator's default, on the tuning problem. */
  ms: number;
  defaultMs: number;
  /** The problem it was measured on, e.g. "B=1 L=256". */
  problem: string;
  /** ISO time of the measurement. */
  measuredAt: string;
}

/** The matmul tiling chosen for an adapter: one for every product, whatever its shape. */
export interface MatmulEntry {
  tiling: MatmulTiling;
  /** Milliseconds of the chosen tiling and of the default over the tuning problems, which `problem` names. */
  ms: number;
  defaultMs: number;
  problem: string;
  measuredAt: string;
}

/** The norm kernel's form chosen for an adapter (kernels.ts NORM_FORMS), for every norm. */
export interface NormEntry {
  form: NormForm;
  /** Milliseconds of the chosen form and of the default over the tuning problems, which `problem` names. */
  ms: number;
  defaultMs: number;
  problem: string;
  measuredAt: string;
}

export interface TuneCache {
  version: typeof CACHE_VERSION;
  /** adapterKey → signatureKey → entry. */
  adapters: Record<string, Record<string, TuneEntry>>;
  /** adapterKey → the matmul tiling measured fastest there (absent in caches written before matmuls were tuned). */
  matmul?: Record<string, MatmulEntry>;
  /** adapterKey → the norm form measured fastest there (absent in caches written before norms were tuned). */
  norm?: Record<string, NormEntry>;
}

export function emptyCache(): TuneCache {
  return { version: CACHE_VERSION, adapters: {} };
}

export function defaultCachePath(env: NodeJS.ProcessEnv = process.env): string {
  const dir = env.MDL_CACHE_DIR?.trim() || join(homedir(), '.cache', 'mdl');
  return join(dir, 'tune.json');
}

function isTiles(x: unknown): x is TileChoice {
  const t = x as TileChoice;
  return !!t && [t.q, t.k, t.lanes].every((n) => Number.isInteger(n) && n >= 1);
}

/**
 * Reads the cache. A missing file is an empty cache; so is an unreadable or foreign one (another version, broken
 * JSON), since tuning results are only ever an optimisation — `problems` says what was ignored and why.
 */
export function readTuneCache(path = defaultCachePath()): { cache: TuneCache; problems: string[] } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { cache: emptyCache(), problems: code === 'ENOENT' ? [] : [`${path}: cannot read (${code})`] };
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    return { cache: emptyCache(), problems: [`${path}: not valid JSON; ignored`] };
  }
  const raw = data as Partial<TuneCache>;
  if (raw?.version !== CACHE_VERSION || typeof raw.adapters !== 'object' || raw.adapters === null) {
    return { cache: emptyCache(), problems: [`${path}: not a version ${CACHE_VERSION} tuning cache; ignored`] };
  }
  const cache = emptyCache();
  const problems: string[] = [];
  for (const [adapter, sigs] of Object.entries(raw.adapters)) {
    for (const [sig, entry] of Object.entries(sigs ?? {})) {
      if (!isTiles(entry?.tiles)) {
        problems.push(`${path}: entry ${adapter} ${sig} has no valid tiles; ignored`);
        continue;
      }
      (cache.adapters[adapter] ??= {})[sig] = entry;
    }
  }
  for (const [adapter, entry] of Object.entries(raw.matmul ?? {})) {
    if (isMatmulTiling(entry?.tiling)) (cache.matmul ??= {})[adapter] = entry;
    else problems.push(`${path}: matmul entry ${adapter} has no known tiling; ignored`);
  }
  for (const [adapter, entry] of Object.entries(raw.norm ?? {})) {
    if (isNormForm(entry?.form)) (cache.norm ??= {})[adapter] = entry;
    else problems.push(`${path}: norm entry ${adapter} has no known form; ignored`);
  }
  return { cache, problems };
}

/**
 * Throws OutputError if `path` holds something other than a tuning cache of mdl's (any version): mdl replaces only
 * what it wrote. A missing file is fine.
 */
export function checkCacheReplaceable(path = defaultCachePath()): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    throw new OutputError(`${path}: cannot read the tuning cache (${code}); refusing to replace it`);
  }
  let data: { version?: unknown; adapters?: unknown } | undefined;
  try {
    data = JSON.parse(text);
  } catch {
    data = undefined;
  }
  if (typeof data?.version !== 'number' || typeof data.adapters !== 'object' || data.adapters === null) {
    throw new OutputError(`${path}: is not mdl's tuning cache; refusing to replace it (remove it, or set MDL_CACHE_DIR to another folder)`);
  }
}

/** Writes the whole cache atomically (temporary file in the same directory, then rename), never over a foreign file. */
export function writeTuneCache(cache: TuneCache, path = defaultCachePath()): void {
  checkCacheReplaceable(path);
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
  try {
    writeFileSync(tmp, `${JSON.stringify(sortedCache(cache), null, 2)}\n`);
    renameSync(tmp, path);
  } catch (error) {
    rmSync(tmp, { force: true });
    throw error;
  }
}

/** Keys sorted, so that the file is stable under re-tuning and diffs show only what changed. */
function sortedCache(cache: TuneCache): TuneCache {
  const adapters: TuneCache['adapters'] = {};
  for (const a of Object.keys(cache.adapters).sort()) {
    adapters[a] = {};
    for (const s of Object.keys(cache.adapters[a]).sort()) adapters[a][s] = cache.adapters[a][s];
  }
  const matmul = cache.matmul && Object.fromEntries(Object.keys(cache.matmul).sort().map((a) => [a, cache.matmul![a]]));
  const norm = cache.norm && Object.fromEntries(Object.keys(cache.norm).sort().map((a) => [a, cache.norm![a]]));
  return { version: CACHE_VERSION, adapters, ...(matmul ? { matmul } : {}), ...(norm ? { norm } : {}) };
}

export function lookupEntry(cache: TuneCache, adapter: AdapterIdentity, sig: KernelSignature): TuneEntry | undefined {
  return cache.adapters[adapterKey(adapter)]?.[signatureKey(sig)];
}

export function lookupMatmul(cache: TuneCache, adapter: AdapterIdentity): MatmulEntry | undefined {
  return cache.matmul?.[adapterKey(adapter)];
}

export function lookupNorm(cache: TuneCache, adapter: AdapterIdentity): NormEntry | undefined {
  return cache.norm?.[adapterKey(adapter)];
}

/** Re-reads the file, adds the entries and writes it back, so that entries other runs wrote meanwhile survive. */
export function recordEntries(
  adapter: AdapterIdentity,
  entries: { signature: KernelSignature; entry: TuneEntry }[],
  path = defaultCachePath(),
  matmul?: MatmulEntry,
  norm?: NormEntry,
): TuneCache {
  const { cache } = readTuneCache(path);
  const byAdapter = (cache.adapters[adapterKey(adapter)] ??= {});
  for (const { signature, entry } of entries) byAdapter[signatureKey(signature)] = entry;
  if (matmul) (cache.matmul ??= {})[adapterKey(adapter)] = matmul;
  if (norm) (cache.norm ??= {})[adapterKey(adapter)] = norm;
  writeTuneCache(cache, path);
  return cache;
}
