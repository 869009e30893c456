// Tile classes: EMPTY tiles are never read, FULL tiles skip the predicate, and exact classes change nothing but speed.
//
// Small 8×8 tiles give many tiles per row, so every class occurs. Two tests deliberately give wrong classes: the
// output then follows the classes rather than the mask, which is the observable proof of what the kernel skips.

import { describe, expect, it } from 'vitest';
import { TileClass } from '../../src/masks/kernel-contract.ts';
import { checkTileClassesOf } from '../support/tile-check.ts';
import { describeCase, runCase, useGpu, type AttentionCase } from './gpu-harness.ts';
import {
  allFinite,
  causalTopLeft,
  classifyTiles,
  envFor,
  keyPadding,
  packedDocuments,
  perHeadWindow,
  randomFloats,
} from './mask-fixtures.ts';

const TOLERANCE = 1e-4;
const SMALL_TILES = { tiles: { q: 8, k: 8 } };

describe('tile classes', () => {
  const gpu = useGpu();

  for (const fixture of [causalTopLeft, packedDocuments, perHeadWindow]) {
    it(`exact classes and all-PARTIAL give bit-identical output: ${fixture.name}`, async () => {
      const base: AttentionCase = {
        batch: 2, lq: 61, lk: 61, heads: 4, kvHeads: 2, headDim: 32, fixture,
        env: envFor(fixture, 2, 61, 61), kernel: SMALL_TILES,
      };
      const partial = await runCase(gpu(), base);
      const exact = await runCase(gpu(), { ...base, classes: (kernel, mask) => classifyTiles(kernel, 2, 61, 61, mask!) });
      const classes = classifyTiles(exact.kernel, 2, 61, 61, fixture.predicate(base.env!));
      expect(classes.includes(TileClass.Empty) && classes.includes(TileClass.Full)).toBe(true);
      // Both directions, pair by pair: the classes the kernel ran with are safe and tight, and there are mixed tiles
      // (so a classifier that never said PARTIAL would have changed the output compared below).
      const grid = { batch: 2, heads: exact.kernel.tileHeads, lq: 61, lk: 61, tileQ: exact.kernel.tileQ, tileK: exact.kernel.tileK };
      const check = checkTileClassesOf(fixture.predicate(base.env!), true, classes, grid);
      expect(check.unsafe).toEqual([]);
      expect(check.loose).toBe(0);
      expect(check.partial).toBeGreaterThan(0);
      expect(partial.error).toBeLessThanOrEqual(TOLERANCE);
      expect(Array.from(exact.gpu)).toEqual(Array.from(partial.gpu));
    });
  }

  it('NaN in K/V rows that lie only in EMPTY tiles does not reach the output', async () => {
    // Key padding with length 21 in batch row 0 and 9 in row 1: with 8-wide key tiles, keys from 24 (resp. 16) on
    // lie only in EMPTY tiles. Their V rows are NaN, and so are the K rows of every other one (a NaN score would be
    // dropped as masked, a finite score with a NaN value would not). Keys 21..23 (resp. 9..15) sit in PARTIAL tiles.
    const [batch, lq, lk, kvHeads, headDim] = [2, 40, 40, 2, 32];
    const env = { dims: { Lq: lq, Lk: lk }, data: { lengths: Int32Array.of(21, 9) } };
    const k = randomFloats(batch * lk * kvHeads * headDim, 5);
    const v = randomFloats(batch * lk * kvHeads * headDim, 6);
    for (const [b, firstEmptyKey] of [[0, 24], [1, 16]]) {
      for (let key = firstEmptyKey; key < lk; key++) {
        const start = (b * lk + key) * kvHeads * headDim;
        if (key % 2 === 1) k.fill(NaN, start, start + kvHeads * headDim);
        v.fill(NaN, start, start + kvHeads * headDim);
      }
    }
    const c: AttentionCase = {
      batch, lq, lk, heads: 4, kvHeads, headDim, fixture: keyPadding, env, k, v, kernel: SMALL_TILES,
      classes: (kernel, mask) => classifyTiles(kernel, batch, lq, lk, mask!),
    };
    const result = await runCase(gpu(), c);
    expect(allFinite(result.gpu), describeCase(c)).toBe(true);
    expect(result.error).toBeLessThanOrEqual(TOLERANCE);
  });

  for (const [name, tiles] of [['default', { q: 8, k: 8 }], ['row-wise', { q: 8, k: 8, lanes: 1, rowwise: true }]] as const) {
    it(`Inf and NaN in masked V rows of PARTIAL and EMPTY tiles do not reach the output (${name} kernel)`, async () => {
      // Key padding with lengths 21 and 9: keys 21..23 (9..15) share PARTIAL tiles with visible keys, the rest lie in
      // EMPTY tiles. Every masked V row holds Inf or NaN; a kernel that multiplied masked rows by 0 would output NaN.
      const [batch, lq, lk, kvHeads, headDim] = [2, 40, 40, 2, 32];
      const env = { dims: { Lq: lq, Lk: lk }, data: { lengths: Int32Array.of(21, 9) } };
      const v = randomFloats(batch * lk * kvHeads * headDim, 6);
      for (const [b, length] of [[0, 21], [1, 9]]) {
        for (let key = length; key < lk; key++) {
          const start = (b * lk + key) * kvHeads * headDim;
          v.fill(key % 2 ? Infinity : NaN, start, start + kvHeads * headDim);
        }
      }
      const c: AttentionCase = {
        batch, lq, lk, heads: 4, kvHeads, headDim, fixture: keyPadding, env, v, kernel: { tiles },
        classes: (kernel, mask) => classifyTiles(kernel, batch, lq, lk, mask!),
      };
      const result = await runCase(gpu(), c);
      expect(!!result.kernel.rowwise).toBe(name === 'row-wise');
      expect(allFinite(result.gpu), describeCase(c)).toBe(true);
      expect(result.error).toBeLessThanOrEqual(TOLERANCE);
    });
  }

  it('a tile marked EMPTY is not loaded, even when the mask would show it', async () => {
    // No mask at all; key tile 2 (keys 16..23) is declared EMPTY for every query tile and its V rows are NaN (K stays
    // finite, so the keys would count if read). The output must equal attention over the other keys.
    const [batch, lq, lk, kvHeads, headDim] = [1, 20, 37, 1, 32];
    const k = randomFloats(lk * kvHeads * headDim, 7);
    const v = randomFloats(lk * kvHeads * headDim, 8);
    v.fill(NaN, 16 * headDim, 24 * headDim);
    const result = await runCase(gpu(), {
      batch, lq, lk, heads: 2, kvHeads, headDim, k, v, kernel: SMALL_TILES,
      classes: (kernel) => {
        const qTiles = Math.ceil(lq / kernel.tileQ);
        const kTiles = Math.ceil(lk / kernel.tileK);
        const classes = new Uint32Array(qTiles * kTiles).fill(TileClass.Full);
        for (let qt = 0; qt < qTiles; qt++) classes[qt * kTiles + 2] = TileClass.Empty;
        return classes;
      },
      oracleMask: (_b, _h, _q, key) => key < 16 || key >= 24,
    });
    expect(allFinite(result.gpu)).toBe(true);
    expect(result.error).toBeLessThanOrEqual(TOLERANCE);
  });

  for (const [name, tiles] of [['default', { q: 8, k: 8 }], ['row-wise', { q: 8, k: 8, lanes: 1, rowwise: true }]] as const) {
    it(`EMPTY tiles before, between and after the non-EMPTY ones are not loaded, and an all-EMPTY row outputs zeros (${name} kernel)`, async () => {
      // No mask; 3 query tiles × 5 key tiles of 8. Query tile 0 sees key tiles 1 and 3 (0, 2 and 4 EMPTY: the walk
      // starts after an EMPTY tile, skips one inside its range and ends before one); query tile 1 sees only tile 0;
      // query tile 2 sees nothing. The V rows of every tile a query tile must skip are NaN for it to find.
      const [batch, lq, lk, kvHeads, headDim] = [1, 20, 37, 1, 32];
      const visible = [[1, 3], [0], []];
      const k = randomFloats(lk * kvHeads * headDim, 7);
      const v = randomFloats(lk * kvHeads * headDim, 8);
      const result = await runCase(gpu(), {
        batch, lq, lk, heads: 2, kvHeads, headDim, k, v, kernel: { tiles },
        classes: (kernel) => {
          expect([kernel.tileQ, kernel.tileK]).toEqual([8, 8]);
          const classes = new Uint32Array(3 * 5).fill(TileClass.Empty);
          visible.forEach((kts, qt) => kts.forEach((kt) => (classes[qt * 5 + kt] = TileClass.Full)));
          return classes;
        },
        oracleMask: (_b, _h, q, key) => visible[Math.floor(q / 8)].includes(Math.floor(key / 8)),
      });
      expect(!!result.kernel.rowwise).toBe(name === 'row-wise');
      expect(allFinite(result.gpu)).toBe(true);
      expect(result.error).toBeLessThanOrEqual(TOLERANCE);
      // Queries 16..19 (query tile 2) saw no key: exact zeros.
      expect(result.gpu.subarray(16 * 2 * headDim).every((x) => x === 0)).toBe(true);
      expect(result.gpu.subarray(0, 16 * 2 * headDim).some((x) => x !== 0)).toBe(true);

      // The same with NaN V rows in the EMPTY tiles of query tile 0's row, one at a time, as the kernel would read
      // them if it walked there: the output must not change.
      for (const kt of [0, 2, 4]) {
        const poisoned = Float32Array.from(v);
        poisoned.fill(NaN, kt * 8 * headDim, Math.min((kt + 1) * 8, lk) * headDim);
        const again = await runCase(gpu(), {
          batch, lq: 8, lk, heads: 2, kvHeads, headDim, k, v: poisoned, kernel: { tiles },
          classes: () => Uint32Array.from({ length: 5 }, (_, i) => (visible[0].includes(i) ? TileClass.Full : TileClass.Empty)),
          oracleMask: (_b, _h, _q, key) => visible[0].includes(Math.floor(key / 8)),
        });
        expect(allFinite(again.gpu), `NaN V rows in key tile ${kt}`).toBe(true);
        expect(again.error, `NaN V rows in key tile ${kt}`).toBeLessThanOrEqual(TOLERANCE);
      }
    });
  }

  it('a classifier that never says PARTIAL changes the output', async () => {
    // Causal with 8×8 tiles: the diagonal tiles are mixed. Guessing them FULL lets queries see later keys; guessing
    // them EMPTY hides the diagonal itself. Either way the kernel's output leaves the oracle's.
    const base: AttentionCase = { batch: 1, lq: 24, lk: 24, heads: 2, kvHeads: 2, headDim: 32, fixture: causalTopLeft, kernel: SMALL_TILES };
    for (const guess of [TileClass.Full, TileClass.Empty]) {
      const result = await runCase(gpu(), {
        ...base,
        classes: (kernel, mask) => Uint32Array.from(classifyTiles(kernel, 1, 24, 24, mask!), (c) => (c === TileClass.Partial ? guess : c)),
      });
      expect(result.error, `PARTIAL tiles guessed ${guess === TileClass.Full ? 'FULL' : 'EMPTY'}`).toBeGreaterThan(1e-2);
    }
  });

  it('a tile marked FULL skips the predicate', async () => {
    // Causal mask, but the diagonal tile of query tile 1 (queries 8..15, keys 8..15) is declared FULL: in it, queries
    // also see the keys after them.
    const [batch, lq, lk] = [1, 24, 24];
    const fullTile = (q: number, k: number) => q >= 8 && q < 16 && k >= 8 && k < 16;
    const result = await runCase(gpu(), {
      batch, lq, lk, heads: 2, kvHeads: 2, headDim: 32, fixture: causalTopLeft, kernel: SMALL_TILES,
      classes: (kernel, mask) => {
        const classes = classifyTiles(kernel, batch, lq, lk, mask!);
        const kTiles = Math.ceil(lk / kernel.tileK);
        expect(classes[1 * kTiles + 1]).toBe(TileClass.Partial);
        classes[1 * kTiles + 1] = TileClass.Full;
        return classes;
      },
      oracleMask: (_b, _h, q, k) => k <= q || fullTile(q, k),
    });
    expect(result.error).toBeLessThanOrEqual(TOLERANCE);
  });

  it('positions past Lq and Lk are masked even in FULL tiles', async () => {
    // No mask: every tile is FULL, and 13 and 11 are not multiples of the 8-wide tiles.
    const result = await runCase(gpu(), { batch: 3, lq: 13, lk: 11, heads: 2, kvHeads: 1, headDim: 32, kernel: SMALL_TILES });
    expect(result.error).toBeLessThanOrEqual(TOLERANCE);
  });

  it('rejects a tile-class buffer of the wrong size or with unknown classes', async () => {
    const base: AttentionCase = { batch: 1, lq: 9, lk: 9, heads: 2, kvHeads: 2, headDim: 32, kernel: SMALL_TILES };
    await expect(runCase(gpu(), { ...base, classes: () => new Uint32Array(3) })).rejects.toThrow(/expected 4 entries/);
    await expect(runCase(gpu(), { ...base, classes: () => Uint32Array.of(0, 1, 2, 7) })).rejects.toThrow(/entry 3 is 7/);
  });
});
