// The tuning cache: round trip through the file, atomic replacement, tolerance of damaged or foreign files, and
// tunedTilesFor's fallbacks.

import { mkdtempSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { defaultCachePath, emptyCache, readTuneCache, recordEntries, writeTuneCache, type TuneEntry } from '../../src/tune/cache.ts';
import { attentionSignature, type AdapterIdentity } from '../../src/tune/signature.ts';
import { tunedMatmulFor, tunedNormFor, tunedScheduleOptions, tunedTilesFor } from '../../src/tune/tuned-tiles.ts';
import { defaultTiles } from '../../src/tune/variants.ts';
import { DEFAULT_KERNEL_LIMITS } from '../../src/wgsl/attention.ts';

const adapter: AdapterIdentity = { vendor: 'acme', architecture: 'rdna9', description: 'Acme GPU 9000' };
const other: AdapterIdentity = { vendor: 'acme', architecture: 'rdna8', description: 'Acme GPU 8000' };
const sig = attentionSignature({ headDim: 64, heads: 8, kvHeads: 8 });
const entry = (q: number, k: number, lanes: number): TuneEntry => ({
  tiles: { q, k, lanes },
  ms: 1.5,
  defaultMs: 2,
  problem: 'B=1 L=256',
  measuredAt: '2026-01-01T00:00:00.000Z',
});

function tempPath(): string {
  return join(mkdtempSync(join(tmpdir(), 'mdl-tune-')), 'nested', 'tune.json');
}

describe('the tuning cache', () => {
  it('lives in $MDL_CACHE_DIR, else ~/.cache/mdl', () => {
    expect(defaultCachePath({ MDL_CACHE_DIR: '/x/y' })).toBe('/x/y/tune.json');
    expect(defaultCachePath({})).toMatch(/\.cache\/mdl\/tune\.json$/);
  });

  it('round-trips entries per adapter and signature, keeping other adapters', () => {
    const path = tempPath();
    recordEntries(adapter, [{ signature: sig, entry: entry(16, 16, 4) }], path);
    recordEntries(other, [{ signature: sig, entry: entry(8, 16, 2) }], path);
    const { cache, problems } = readTuneCache(path);
    expect(problems).toEqual([]);
    expect(Object.keys(cache.adapters)).toEqual(['acme/rdna8/Acme GPU 8000', 'acme/rdna9/Acme GPU 9000']);
    expect(tunedTilesFor(adapter, sig, { cachePath: path })).toEqual({ q: 16, k: 16, lanes: 4, source: 'tuned' });
    expect(tunedTilesFor(other, sig, { cachePath: path })).toEqual({ q: 8, k: 16, lanes: 2, source: 'tuned' });
  });

  it('replaces the file atomically and leaves no temporary files', () => {
    const path = tempPath();
    writeTuneCache(emptyCache(), path);
    recordEntries(adapter, [{ signature: sig, entry: entry(16, 16, 4) }], path);
    const dir = join(path, '..');
    expect(readdirSync(dir)).toEqual(['tune.json']);
    expect(JSON.parse(readFileSync(path, 'utf8')).version).toBe(1);
  });

  it('treats a damaged or foreign file as empty and says why', () => {
    const path = tempPath();
    writeTuneCache(emptyCache(), path);
    writeFileSync(path, '{ "version": 1, "adapters": ');
    expect(readTuneCache(path).problems[0]).toMatch(/not valid JSON/);
    writeFileSync(path, JSON.stringify({ version: 99, adapters: {} }));
    expect(readTuneCache(path).problems[0]).toMatch(/not a version 1/);
    writeFileSync(path, JSON.stringify({ version: 1, adapters: { a: { s: { tiles: { q: 0, k: 1, lanes: 1 } } } } }));
    const r = readTuneCache(path);
    expect(r.cache.adapters).toEqual({});
    expect(r.problems[0]).toMatch(/no valid tiles/);
    expect(readTuneCache(join(path, '..', 'missing.json'))).toEqual({ cache: emptyCache(), problems: [] });
  });

  it('falls back to the generator default when nothing was tuned or the tuned shape exceeds the limits', () => {
    const path = tempPath();
    const fallback = { ...defaultTiles(64, DEFAULT_KERNEL_LIMITS), source: 'default' };
    expect(tunedTilesFor(adapter, sig, { cachePath: path })).toEqual(fallback);
    // 64 rows × 8 lanes = 512 invocations: more than the 256 every adapter guarantees.
    recordEntries(adapter, [{ signature: sig, entry: entry(64, 16, 8) }], path);
    expect(tunedTilesFor(adapter, sig, { cachePath: path })).toEqual(fallback);
    const roomy = { ...DEFAULT_KERNEL_LIMITS, maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 1024, maxComputeWorkgroupStorageSize: 32768 };
    expect(tunedTilesFor(adapter, sig, { cachePath: path, limits: roomy }).source).toBe('tuned');
    const otherSig = attentionSignature({ headDim: 64, heads: 8, kvHeads: 2 });
    expect(tunedTilesFor(adapter, otherSig, { cachePath: path }).source).toBe('default');
  });

  it('keeps one matmul tiling per adapter beside the attention entries, and ignores an unknown one', () => {
    const path = tempPath();
    const matmul = { tiling: 'reg8x4v4' as const, ms: 3, defaultMs: 9, problem: '256x128x128', measuredAt: '2026-01-01T00:00:00.000Z' };
    recordEntries(adapter, [{ signature: sig, entry: entry(8, 16, 4) }], path, matmul);
    recordEntries(other, [{ signature: sig, entry: entry(8, 16, 2) }], path);
    expect(tunedMatmulFor(adapter, { cachePath: path })).toBe('reg8x4v4');
    expect(tunedMatmulFor(other, { cachePath: path })).toBeUndefined();
    expect(tunedScheduleOptions(adapter, { cachePath: path }).options.matmulTiling).toBe('reg8x4v4');
    expect(tunedScheduleOptions(other, { cachePath: path }).options.matmulTiling).toBeUndefined();
    // The attention entry written with it survives, and the later write without a matmul entry kept it.
    expect(tunedTilesFor(adapter, sig, { cachePath: path })).toMatchObject({ q: 8, k: 16, lanes: 4, source: 'tuned' });
    const text = JSON.parse(readFileSync(path, 'utf8'));
    text.matmul[Object.keys(text.matmul)[0]].tiling = 'warp9000';
    writeFileSync(path, JSON.stringify(text));
    const { cache, problems } = readTuneCache(path);
    expect(cache.matmul).toBeUndefined();
    expect(problems.join('\n')).toMatch(/matmul entry .* has no known tiling; ignored/);
  });

  it('keeps one norm form per adapter beside the matmul tiling, and ignores an unknown one', () => {
    const path = tempPath();
    const norm = { form: 'rows' as const, ms: 3, defaultMs: 9, problem: 'layer 64x256', measuredAt: '2026-01-01T00:00:00.000Z' };
    const matmul = { tiling: 'reg8x4v4' as const, ms: 3, defaultMs: 9, problem: '256x128x128', measuredAt: '2026-01-01T00:00:00.000Z' };
    recordEntries(adapter, [{ signature: sig, entry: entry(8, 16, 4) }], path, matmul, norm);
    recordEntries(other, [{ signature: sig, entry: entry(8, 16, 2) }], path);
    expect(tunedNormFor(adapter, { cachePath: path })).toBe('rows');
    expect(tunedNormFor(other, { cachePath: path })).toBeUndefined();
    expect(tunedScheduleOptions(adapter, { cachePath: path }).options).toMatchObject({ normForm: 'rows', matmulTiling: 'reg8x4v4' });
    expect(tunedScheduleOptions(other, { cachePath: path }).options.normForm).toBeUndefined();
    const text = JSON.parse(readFileSync(path, 'utf8'));
    text.norm[Object.keys(text.norm)[0]].form = 'warp';
    writeFileSync(path, JSON.stringify(text));
    const { cache, problems } = readTuneCache(path);
    expect(cache.norm).toBeUndefined();
    expect(cache.matmul).toBeDefined();
    expect(problems.join('\n')).toMatch(/norm entry .* has no known form; ignored/);
  });

  it('sees a file rewritten by another process', () => {
    const path = tempPath();
    recordEntries(adapter, [{ signature: sig, entry: entry(16, 16, 4) }], path);
    expect(tunedTilesFor(adapter, sig, { cachePath: path }).q).toBe(16);
    recordEntries(adapter, [{ signature: sig, entry: entry(8, 16, 4) }], path);
    // Same-millisecond rewrites can keep the modification time; move it on as a later write would.
    const later = new Date(Date.now() + 5000);
    utimesSync(path, later, later);
    expect(tunedTilesFor(adapter, sig, { cachePath: path }).q).toBe(8);
  });
});
