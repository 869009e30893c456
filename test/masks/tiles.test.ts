// Tile classification, checked against every (q, k) pair in both directions (test/support/tile-check.ts): no EMPTY
// tile shows a pair and no FULL tile hides one (safety), and no PARTIAL tile is uniform where the analysis is exact
// (tightness), on the common policies, the zoo, and the dispatch-time GPU classifier. The last block shows that these
// checks fail for a classifier that always or never answers PARTIAL.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { emitMaskWgsl } from '../../src/masks/emit-wgsl.ts';
import { policyOf } from '../support/mask-scope.ts';
import type { MaskEnv } from '../../src/masks/kernel-contract.ts';
import { toPredicate } from '../../src/masks/policy.ts';
import { evalBool } from '../../src/masks/evaluate.ts';
import { classifyTiles, isIndexOnly, measureTightness } from '../../src/masks/tiles.ts';
import { classifyTilesOnGpu } from '../support/mask-run.ts';
import { useGpu } from '../runtime/gpu-harness.ts';
import { allPartial, checkTileClasses, nonePartial } from '../support/tile-check.ts';
import { TileClass } from '../../src/masks/kernel-contract.ts';

const L = 100;
const grid = { batch: 2, heads: 1, lq: L, lk: L, tileQ: 16, tileK: 16 };
const docs = Array.from({ length: L }, (_, i) => Math.floor(i / 30));
const env: MaskEnv = {
  dims: { Lq: L, Lk: L, B: 2, S: L, T: L },
  data: { src_len: Int32Array.from([37, 100]), tgt_len: Int32Array.from([60, 5]), prefix_len: Int32Array.from([20, 3]), docs: Int32Array.from([...docs, ...docs]), tgt: Int32Array.from(Array.from({ length: 2 * L }, (_, i) => (i % L < 70 ? 5 : 0))) },
  strides: { docs: L, tgt: L },
};

describe('static tile classification', () => {
  it.each(['causal', 'causal(align = bottom_right)', 'window(40)', 'band(8, 3)', 'chunked(32)', 'steps(8)', 'prefix(20)', 'sink(4)', 'diagonal', 'monotonic(Lk / Lq, 4, 4)', 'monotonic(2, 1, 3)'])(
    '%s is classified safely and exactly (no PARTIAL tile is really EMPTY or FULL)',
    (mask) => {
      const pred = toPredicate(policyOf(mask));
      expect(isIndexOnly(pred)).toBe(true);
      const classes = classifyTiles(pred, grid, env);
      const t = checkTileClasses(pred, classes, grid, env);
      expect(t.unsafe).toEqual([]);
      expect(t.loose).toBe(0);
      expect(t.empty + t.full).toBeGreaterThan(0);
      expect(measureTightness(pred, classes, grid, env)).toEqual({ tiles: t.tiles, partial: t.partial, loose: 0 });
    },
  );

  it('is exact on every mask of the zoo and on correlated compositions, at several sizes and tile shapes', () => {
    const zoo = checkSource(readFileSync(join(import.meta.dirname, '..', '..', 'specs', 'mask-zoo.mdl'), 'utf8'), 'mask-zoo.mdl').model!;
    const masks: [string, ReturnType<typeof toPredicate>][] = [...zoo.masks.values()].map((m) => [m.name, toPredicate(m.policy!)]);
    for (const extra of ['causal & !window(10)', 'chunked(16) & causal', 'document(docs) & !causal', '(q - k) / 16 == 0', 'max(q - 20, 0) <= k & k <= q', 'band(3, 3) | k % 32 == 0', 'monotonic(S / T, 2, 2)', 'causal(align = bottom_right) & window(8)']) {
      masks.push([extra, toPredicate(policyOf(extra))]);
    }
    const rows: string[] = [];
    for (const [lq, lk, tq, tk] of [[100, 100, 16, 16], [257, 257, 32, 32], [64, 200, 16, 32], [7, 1, 4, 4]]) {
      const g = { batch: 2, heads: 2, lq, lk, tileQ: tq, tileK: tk };
      const e: MaskEnv = { ...env, dims: { ...env.dims, S: lk, T: lq }, data: dataFor(Math.max(lq, lk)), strides: { docs: Math.max(lq, lk), tgt: Math.max(lq, lk), src: Math.max(lq, lk) } };
      let partial = 0;
      let loose = 0;
      let tiles = 0;
      for (const [name, pred] of masks) {
        const t = checkTileClasses(pred, classifyTiles(pred, g, e), g, e);
        expect(t.unsafe, `${name} at Lq=${lq} Lk=${lk}, ${tq}×${tk} tiles`).toEqual([]);
        expect(t.loose, `${name} at Lq=${lq} Lk=${lk}, ${tq}×${tk} tiles`).toBe(0);
        partial += t.partial;
        loose += t.loose;
        tiles += t.tiles;
      }
      rows.push(`Lq=${lq} Lk=${lk}, ${tq}×${tk} tiles: ${masks.length} masks, ${tiles} tiles, ${partial} PARTIAL, ${loose} of them really EMPTY or FULL`);
    }
    console.log(`tile tightness:\n  ${rows.join('\n  ')}`);
  });

  it('measures looseness where intervals cannot see a correlation', () => {
    // Each side is bounded on its own, so the analysis cannot see that (q + k) % 2 == (q - k) % 2 holds everywhere:
    // every tile stays PARTIAL. Such tiles cost time (the predicate runs per pair), never correctness.
    const pred = toPredicate(policyOf('(q + k) % 2 == (q - k) % 2'));
    const t = measureTightness(pred, classifyTiles(pred, grid, env), grid, env);
    expect(t).toEqual({ tiles: 98, partial: 98, loose: 98 });
  });
});

/** Data for the zoo's inputs along an axis of length n: two rows with padding, documents, prefix lengths. */
function dataFor(n: number): Record<string, Int32Array> {
  const row = (f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));
  return {
    src_len: Int32Array.from([Math.ceil(n / 3), n]),
    tgt_len: Int32Array.from([n, 1]),
    prefix_len: Int32Array.from([Math.floor(n / 5), 3]),
    docs: Int32Array.from([...row((i) => Math.floor(i / 30)), ...row((i) => Math.floor(i / 7))]),
    tgt: Int32Array.from([...row((i) => (i < 70 ? 5 : 0)), ...row((i) => (i % 4 ? 5 : 0))]),
    src: Int32Array.from([...row((i) => (i < n - 3 ? 5 : 0)), ...row(() => 5)]),
  };
}

describe('tiles of rows at an offset (decoding with a KV cache)', () => {
  // The last 10 queries of a 100-position sequence against keys 30..99 (the first 30 dropped from the cache).
  const offsetGrid = { batch: 2, heads: 1, lq: 10, lk: 70, tileQ: 4, tileK: 16, qOffset: 90, kOffset: 30 };
  it.each(['causal', 'causal(align = bottom_right)', 'window(40)', 'chunked(32)', 'sink(4) | window(8)', 'document(docs) & causal', 'key_padding(tgt) & causal'])(
    '%s: every EMPTY / FULL tile holds at the positions its rows stand for',
    (mask) => {
      const pred = toPredicate(policyOf(mask));
      const classes = classifyTiles(pred, offsetGrid, env);
      const nKT = Math.ceil(70 / 16);
      let decided = 0;
      for (let b = 0; b < 2; b++) {
        for (let i = 0; i < classes.length / 2; i++) {
          const [qt, kt] = [Math.floor(i / nKT), i % nKT];
          const cls = classes[b * (classes.length / 2) + i];
          if (cls === 1) continue;
          decided++;
          for (let q = 90 + qt * 4; q < Math.min(100, 94 + qt * 4); q++) {
            for (let k = 30 + kt * 16; k < Math.min(100, 46 + kt * 16); k++) expect(evalBool(pred, { b, h: 0, q, k }, env), `${mask} b=${b} q=${q} k=${k}`).toBe(cls === 2);
          }
        }
      }
      expect(decided).toBeGreaterThan(0);
    },
  );
});

describe('dispatch-time classification on Dawn', () => {
  const gpu = useGpu();
  it.each(['key_padding(src_len)', 'document(docs) & causal', 'prefix(prefix_len)', 'query_padding(tgt_len) & causal', 'key_padding(tgt) & window(50)', 'random(0.5, 9) & causal'])(
    '%s: GPU classes equal the CPU classes',
    async (mask) => {
      const pred = toPredicate(policyOf(mask));
      const wgsl = emitMaskWgsl(pred);
      const heads = wgsl.perHead ? 2 : 1;
      const g = { ...grid, heads };
      const cpu = classifyTiles(pred, g, env);
      const fromGpu = await classifyTilesOnGpu(gpu(), wgsl, env, g);
      expect(Array.from(fromGpu)).toEqual(Array.from(cpu));
      const t = checkTileClasses(pred, fromGpu, g, env);
      expect(t.unsafe).toEqual([]);
      expect(t.loose).toBe(0);
      // The same rows seen as the end of the sequence, as a decode step over a KV cache sees them.
      const shifted = { ...g, lq: 10, lk: 70, qOffset: 90, kOffset: 30 };
      expect(Array.from(await classifyTilesOnGpu(gpu(), wgsl, env, shifted))).toEqual(Array.from(classifyTiles(pred, shifted, env)));
    },
  );
});

describe('the tile checks catch a broken classifier', () => {
  // Sizes that do not line up with the 16×16 tiles, so every mask has mixed tiles.
  const builtins = ['causal', 'causal(align = bottom_right)', 'window(40)', 'band(8, 3)', 'chunked(24)', 'steps(8)', 'prefix(20)', 'sink(4)', 'diagonal', 'dilated(40, 3)', 'key_padding(src_len)', 'document(docs)'];
  it.each(builtins)('%s: always PARTIAL is loose, never PARTIAL is unsafe', (mask) => {
    const pred = toPredicate(policyOf(mask));
    const classes = classifyTiles(pred, grid, env);
    expect(checkTileClasses(pred, allPartial(classes), grid, env).loose).toBeGreaterThan(0);
    expect(checkTileClasses(pred, nonePartial(classes, TileClass.Empty), grid, env).unsafe.length).toBeGreaterThan(0);
    expect(checkTileClasses(pred, nonePartial(classes, TileClass.Full), grid, env).unsafe.length).toBeGreaterThan(0);
  });

  it('and a FULL tile that hides a pair, or an EMPTY one that shows a pair, is named', () => {
    const pred = toPredicate(policyOf('causal'));
    const g = { batch: 1, heads: 1, lq: 4, lk: 4, tileQ: 2, tileK: 2 };
    // Tiles (0,0) and (1,1) are the mixed diagonal ones, (0,1) is EMPTY, (1,0) is FULL.
    const swapped = Uint32Array.of(TileClass.Partial, TileClass.Full, TileClass.Empty, TileClass.Partial);
    expect(checkTileClasses(pred, swapped, g, env).unsafe).toEqual(['FULL b=0 h=0 tile (0, 1) hides 4 of 4 pairs', 'EMPTY b=0 h=0 tile (1, 0) shows 4 of 4 pairs']);
  });
});
