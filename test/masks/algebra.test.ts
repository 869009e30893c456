// Property tests of the mask algebra: lowering, simplification, printing and tile classification agree with dense
// evaluation for random compositions of the whole algebra, at random sizes (lengths that are not tile multiples,
// length 1, rows with nothing visible).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { denseMask } from '../../src/masks/evaluate.ts';
import { policyOf } from '../../src/masks/golden-spec.ts';
import { TileClass, type MaskEnv } from '../../src/masks/kernel-contract.ts';
import { printPolicy, toPredicate } from '../../src/masks/policy.ts';
import { classifyTiles } from '../../src/masks/tiles.ts';

type Formula = (q: number, k: number, e: { lq: number; lk: number; len: number[]; docs: number[]; b: number }) => boolean;
const fdiv = (a: number, b: number) => Math.floor(a / b);

/** Atoms of the algebra with their meaning, written independently of the lowering. */
const ATOMS: [string, Formula][] = [
  ['causal', (q, k) => k <= q],
  ['causal(align = bottom_right)', (q, k, e) => k <= q + e.lk - e.lq],
  ['causal(offset = -2)', (q, k) => k <= q - 2],
  ['diagonal', (q, k) => q === k],
  ['steps(3)', (q, k) => fdiv(k, 3) <= fdiv(q, 3)],
  ['window(4)', (q, k) => k <= q && k > q - 4],
  ['band(1, 2)', (q, k) => k >= q - 1 && k <= q + 2],
  ['dilated(5, 2)', (q, k) => k <= q && q - k < 5 && (q - k) % 2 === 0],
  ['prefix(2)', (q, k) => k < 2 || k <= q],
  ['chunked(3)', (q, k) => fdiv(q, 3) === fdiv(k, 3)],
  ['sink(1)', (_q, k) => k < 1],
  ['key_padding(src_len)', (_q, k, e) => k < e.len[e.b]],
  ['document(docs)', (q, k, e) => e.docs[q] === e.docs[k]],
  ['monotonic(1, 0)', (q, k, e) => k >= fdiv(q * e.lk, e.lq) - 1 && k <= fdiv(q * e.lk, e.lq)],
  ['(q + k) % 3 == 1', (q, k) => (q + k) % 3 === 1],
  ['k * 2 >= q', (q, k) => k * 2 >= q],
  ['none', () => true],
];

type Tree = { atom: number } | { op: '&' | '|'; l: Tree; r: Tree } | { not: Tree };

const tree: fc.Arbitrary<Tree> = fc.letrec((tie) => ({
  node: fc.oneof(
    { maxDepth: 4, depthIdentifier: 'mask' },
    fc.record({ atom: fc.nat({ max: ATOMS.length - 1 }) }),
    fc.record({ op: fc.constantFrom('&' as const, '|' as const), l: tie('node') as fc.Arbitrary<Tree>, r: tie('node') as fc.Arbitrary<Tree> }),
    fc.record({ not: tie('node') as fc.Arbitrary<Tree> }),
  ),
})).node;

const text = (t: Tree): string => ('atom' in t ? ATOMS[t.atom][0] : 'not' in t ? `!(${text(t.not)})` : `(${text(t.l)} ${t.op} ${text(t.r)})`);
const meaning = (t: Tree): Formula =>
  'atom' in t ? ATOMS[t.atom][1] : 'not' in t ? (q, k, e) => !meaning(t.not)(q, k, e) : t.op === '&' ? (q, k, e) => meaning(t.l)(q, k, e) && meaning(t.r)(q, k, e) : (q, k, e) => meaning(t.l)(q, k, e) || meaning(t.r)(q, k, e);

const sizes = fc.record({ lq: fc.integer({ min: 1, max: 13 }), lk: fc.integer({ min: 1, max: 13 }), tq: fc.integer({ min: 1, max: 5 }), tk: fc.integer({ min: 1, max: 5 }), seed: fc.nat() });

function envFor(s: { lq: number; lk: number; seed: number }): { env: MaskEnv; len: number[]; docs: number[] } {
  // Data long enough for either axis: documents in runs, lengths from 0 (a fully hidden row) up to Lk.
  const n = Math.max(s.lq, s.lk);
  const docs = Array.from({ length: n }, (_, i) => fdiv(i + (s.seed % 3), 3));
  const len = [s.seed % (s.lk + 1), s.lk];
  return { env: { dims: { Lq: s.lq, Lk: s.lk, B: 2, S: s.lk, T: s.lq }, data: { src_len: Int32Array.from(len), docs: Int32Array.from([...docs, ...docs]) }, strides: { docs: n } }, len, docs };
}

describe('mask algebra vs dense evaluation', () => {
  it('lowering + simplification compute exactly the composed meaning', () => {
    fc.assert(
      fc.property(tree, sizes, (t, s) => {
        const { env, len, docs } = envFor(s);
        const pred = toPredicate(policyOf(text(t)));
        for (let b = 0; b < 2; b++) {
          const dense = denseMask(pred, env, b);
          const want = dense.map((row, q) => row.map((_, k) => meaning(t)(q, k, { lq: s.lq, lk: s.lk, len, docs, b })));
          expect(dense).toEqual(want);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('the printed normal form parses back to the same mask', () => {
    fc.assert(
      fc.property(tree, sizes, (t, s) => {
        const policy = policyOf(text(t));
        const printed = printPolicy(policy);
        const again = policyOf(printed);
        expect(printPolicy(again)).toBe(printed);
        const { env } = envFor(s);
        expect(denseMask(toPredicate(again), env, 1)).toEqual(denseMask(toPredicate(policy), env, 1));
      }),
      { numRuns: 200 },
    );
  });

  it('tile classes are safe: EMPTY tiles hide every pair, FULL tiles show every pair', () => {
    fc.assert(
      fc.property(tree, sizes, (t, s) => {
        const { env } = envFor(s);
        const pred = toPredicate(policyOf(text(t)));
        const classes = classifyTiles(pred, { batch: 2, heads: 1, lq: s.lq, lk: s.lk, tileQ: s.tq, tileK: s.tk }, env);
        const nQT = Math.ceil(s.lq / s.tq);
        const nKT = Math.ceil(s.lk / s.tk);
        for (let b = 0; b < 2; b++) {
          const dense = denseMask(pred, env, b);
          for (let qt = 0; qt < nQT; qt++) {
            for (let kt = 0; kt < nKT; kt++) {
              const cls = classes[(b * nQT + qt) * nKT + kt];
              const cells = dense.slice(qt * s.tq, (qt + 1) * s.tq).flatMap((row) => row.slice(kt * s.tk, (kt + 1) * s.tk));
              if (cls === TileClass.Empty) expect(cells.some(Boolean)).toBe(false);
              if (cls === TileClass.Full) expect(cells.every(Boolean)).toBe(true);
            }
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('simplification', () => {
  it.each([
    ['none & window(3)', 'window(3)'],
    ['causal & causal', 'causal'],
    ['none | causal', 'none'],
    ['!!causal', 'causal'],
    ['!none', '!none'],
    ['causal & (window(2) & causal)', 'causal & window(2)'],
    ['(causal | diagonal) | causal', 'causal | diagonal'],
    ['q < 3 + 1', 'q < 3 + 1'],
  ])('%s → %s', (input, normal) => {
    expect(printPolicy(policyOf(input))).toBe(normal);
  });
});
