// Tile classes against brute force, for every built-in mask policy (several parameters each) over many tile shapes,
// sequence sizes and cache offsets: no EMPTY tile shows a visible pair, no FULL tile hides one (safety), and no
// PARTIAL tile is in fact all hidden or all visible (exactness, which the mask guide claims for the built-ins).
// The truth of each tile comes from evaluating every pair with the reference evaluator, not from tiles.ts.

import { describe, expect, it } from 'vitest';
import { BUILTIN_NAMES } from '../../src/masks/builtins.ts';
import { evalBool } from '../../src/masks/evaluate.ts';
import { policyOf } from '../../src/masks/golden-spec.ts';
import { TileClass, type MaskEnv } from '../../src/masks/kernel-contract.ts';
import { toPredicate } from '../../src/masks/policy.ts';
import { classifyTiles, type TileGrid } from '../../src/masks/tiles.ts';

/** Every built-in, with parameters at and around the edges of their ranges (dilated's step above, at and below its size). */
const CASES: Record<string, string[]> = {
  none: ['none'],
  full: ['full'],
  causal: ['causal', 'causal(align = bottom_right)', 'causal(offset = 2)', 'causal(offset = -3)'],
  diagonal: ['diagonal'],
  steps: ['steps(1)', 'steps(3)', 'steps(8)'],
  window: ['window(1)', 'window(4)', 'window(7)'],
  band: ['band(0, 0)', 'band(2, 5)', 'band(7, 1)'],
  dilated: ['dilated(6, 3)', 'dilated(8, 2)', 'dilated(5, 5)', 'dilated(10, 4)', 'dilated(1, 3)', 'dilated(4, 7)', 'dilated(9, 1)'],
  prefix: ['prefix(1)', 'prefix(3)', 'prefix(10)', 'prefix(prefix_len)'],
  chunked: ['chunked(1)', 'chunked(4)', 'chunked(5)'],
  sink: ['sink(1)', 'sink(3)'],
  key_padding: ['key_padding(tgt)', 'key_padding(tgt_len)'],
  query_padding: ['query_padding(tgt)', 'query_padding(tgt_len)'],
  document: ['document(docs)'],
  random: ['random(0.3, 7)', 'random(0, 1)', 'random(1, 1)'],
  monotonic: ['monotonic(2, 1, 3)', 'monotonic(Lk / Lq, 4, 4)', 'monotonic(1, 0, 0)', 'monotonic(3, 0, 2)'],
};

const SHAPES = [[1, 1], [1, 4], [2, 4], [3, 5], [4, 4], [8, 3], [5, 8], [16, 16], [7, 1], [32, 32]];
/** [Lq, Lk, qOffset, kOffset]: square, tall, wide, and decoding steps whose rows sit at the end of the sequence. */
const SIZES = [[13, 13, 0, 0], [20, 11, 0, 0], [9, 24, 0, 0], [33, 33, 0, 0], [1, 21, 20, 0], [3, 30, 27, 0]];

/** Data for the scope's inputs over sequences of length n (two batch rows with padding and documents). */
function envFor(lq: number, lk: number): MaskEnv {
  const n = Math.max(lq, lk);
  const row = (f: (i: number) => number) => Array.from({ length: n }, (_, i) => f(i));
  return {
    dims: { B: 2, Lq: lq, Lk: lk, S: lk, T: lq },
    data: {
      tgt: Int32Array.from([...row((i) => (i < n - 4 ? 5 : 0)), ...row((i) => (i % 3 ? 5 : 0))]),
      tgt_len: Int32Array.from([n - 2, 3]),
      prefix_len: Int32Array.from([4, n]),
      docs: Int32Array.from([...row((i) => Math.floor(i / 6)), ...row((i) => Math.floor(i / 2))]),
    },
    strides: { tgt: n, docs: n },
  };
}

const NAME = ['EMPTY', 'PARTIAL', 'FULL'];

interface Count {
  tiles: number;
  wrong: string[];
  loose: string[];
}

function check(mask: string, count: Count): void {
  const pred = toPredicate(policyOf(mask));
  for (const [lq, lk, qo, ko] of SIZES) {
    const env = envFor(lq + qo, lk + ko);
    for (const [tq, tk] of SHAPES) {
      const grid: TileGrid = { batch: 2, heads: 2, lq, lk, tileQ: tq, tileK: tk, qOffset: qo, kOffset: ko };
      const classes = classifyTiles(pred, grid, env);
      const [nQT, nKT] = [Math.ceil(lq / tq), Math.ceil(lk / tk)];
      const perHead = classes.length / (grid.batch * nQT * nKT);
      classes.forEach((cls, i) => {
        const kt = i % nKT;
        const qt = Math.floor(i / nKT) % nQT;
        const bh = Math.floor(i / (nKT * nQT));
        const [b, h] = [Math.floor(bh / perHead), bh % perHead];
        let visible = 0;
        let pairs = 0;
        for (let q = qt * tq; q < Math.min(lq, (qt + 1) * tq); q++) {
          for (let k = kt * tk; k < Math.min(lk, (kt + 1) * tk); k++) {
            pairs++;
            if (evalBool(pred, { b, h, q: q + qo, k: k + ko }, env)) visible++;
          }
        }
        const truth = visible === 0 ? TileClass.Empty : visible === pairs ? TileClass.Full : TileClass.Partial;
        count.tiles++;
        if (cls === truth) return;
        const where = `${mask}: Lq=${lq} Lk=${lk} offsets ${qo},${ko}, ${tq}x${tk} tile at q ${qt * tq + qo}, k ${kt * tk + ko}, b ${b}, h ${h}: ${NAME[cls]}, ${visible} of ${pairs} visible`;
        (cls === TileClass.Partial ? count.loose : count.wrong).push(where);
      });
    }
  }
}

describe('tile classes against brute force', () => {
  it('the cases cover every built-in policy', () => {
    expect(Object.keys(CASES).sort()).toEqual([...BUILTIN_NAMES].sort());
  });

  for (const [policy, masks] of Object.entries(CASES)) {
    it(`${policy}: safe and exact over ${SHAPES.length} tile shapes and ${SIZES.length} sizes`, () => {
      const count: Count = { tiles: 0, wrong: [], loose: [] };
      for (const mask of masks) check(mask, count);
      expect(count.tiles).toBeGreaterThan(1000);
      expect(count.wrong.slice(0, 5), `${count.wrong.length} unsafe tiles`).toEqual([]);
      expect(count.loose.slice(0, 5), `${count.loose.length} loose tiles`).toEqual([]);
    });
  }

  it('dilated(6, 3): the tile at q 8-9, k 0-3 of 2x4 tiles has no visible pair and is EMPTY', () => {
    const pred = toPredicate(policyOf('dilated(6, 3)'));
    const env = envFor(12, 12);
    const classes = classifyTiles(pred, { batch: 1, heads: 1, lq: 12, lk: 12, tileQ: 2, tileK: 4 }, env);
    // Row tile 4 (q 8-9), key tile 0 (k 0-3) of 3 key tiles.
    expect(NAME[classes[4 * 3 + 0]]).toBe('EMPTY');
    for (const q of [8, 9]) for (const k of [0, 1, 2, 3]) expect(evalBool(pred, { b: 0, h: 0, q, k }, env)).toBe(false);
  });
});
