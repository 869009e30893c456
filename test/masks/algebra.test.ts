// Property tests of the mask algebra: lowering, simplification, printing and tile classification agree with dense
// evaluation for random compositions of the whole algebra (every built-in, raw predicates over b, h, q, k with every
// operator, data reads), at random sizes: lengths that are not tile multiples, length 1, rows with nothing visible.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { denseMask } from '../../src/masks/evaluate.ts';
import { policyOf } from '../support/mask-scope.ts';
import { pairHash } from '../../src/masks/hash.ts';
import { TileClass, type MaskEnv } from '../../src/masks/kernel-contract.ts';
import { ALL, NOTHING, printPolicy, simplify, toPredicate, type Policy } from '../../src/masks/policy.ts';
import { classifyTiles, readsHead } from '../../src/masks/tiles.ts';

interface World {
  lq: number;
  lk: number;
  b: number;
  h: number;
  srcLen: number[];
  tgtLen: number[];
  prefixLen: number[];
  tgt: number[][];
  docs: number[][];
}
type Formula = (q: number, k: number, w: World) => boolean;
const fdiv = (a: number, b: number) => Math.floor(a / b);
const fmod = (a: number, b: number) => a - b * Math.floor(a / b);

/** Atoms of the algebra with their meaning, written from the guide, independently of the lowering. */
export const ATOMS: [string, Formula][] = [
  ['causal', (q, k) => k <= q],
  ['causal(align = bottom_right)', (q, k, w) => k <= q + w.lk - w.lq],
  ['causal(offset = -2)', (q, k) => k <= q - 2],
  ['causal(offset = 1)', (q, k) => k <= q + 1],
  ['diagonal', (q, k) => q === k],
  ['steps(3)', (q, k) => fdiv(k, 3) <= fdiv(q, 3)],
  ['window(4)', (q, k) => k <= q && k > q - 4],
  ['window(1)', (q, k) => k === q],
  ['window(S / 4)', (q, k, w) => k <= q && k > q - fdiv(w.lk, 4)],
  ['band(1, 2)', (q, k) => k >= q - 1 && k <= q + 2],
  ['band(0, 0)', (q, k) => k === q],
  ['dilated(5, 2)', (q, k) => k <= q && q - k < 5 && (q - k) % 2 === 0],
  ['prefix(2)', (q, k) => k < 2 || k <= q],
  ['prefix(prefix_len)', (q, k, w) => k < w.prefixLen[w.b] || k <= q],
  ['chunked(3)', (q, k) => fdiv(q, 3) === fdiv(k, 3)],
  ['sink(1)', (_q, k) => k < 1],
  ['key_padding(src_len)', (_q, k, w) => k < w.srcLen[w.b]],
  ['key_padding(tgt)', (_q, k, w) => w.tgt[w.b][k] !== 0],
  ['query_padding(tgt_len)', (q, _k, w) => q < w.tgtLen[w.b]],
  ['query_padding(tgt)', (q, _k, w) => w.tgt[w.b][q] !== 0],
  ['document(docs)', (q, k, w) => w.docs[w.b][q] === w.docs[w.b][k]],
  ['random(0.4, 3)', (q, k, w) => pairHash(3, w.b, w.h, q, k) >= Math.floor(0.4 * 2 ** 32)],
  ['monotonic(2, 1, 0)', (q, k) => k >= 2 * q - 1 && k <= 2 * q],
  ['monotonic(S / T, 1, 1)', (q, k, w) => Math.abs(k - fdiv(q * w.lk, w.lq)) <= 1],
  ['monotonic(Lk / Lq, 0, 2)', (q, k, w) => k >= fdiv(q * w.lk, w.lq) && k <= fdiv(q * w.lk, w.lq) + 2],
  ['(q + k) % 3 == 1', (q, k) => fmod(q + k, 3) === 1],
  ['k * 2 >= q', (q, k) => k * 2 >= q],
  ['abs(q - k) <= 1', (q, k) => Math.abs(q - k) <= 1],
  ['min(q, 3) >= k', (q, k) => Math.min(q, 3) >= k],
  ['max(q, k) % 2 == 0', (q, k) => Math.max(q, k) % 2 === 0],
  ['(k - q) / 2 == -1', (q, k) => fdiv(k - q, 2) === -1],
  ['-q < k - 2', (q, k) => -q < k - 2],
  ['h == 1', (_q, _k, w) => w.h === 1],
  ['b == 0', (_q, _k, w) => w.b === 0],
  ['k < src_len[b]', (_q, k, w) => k < w.srcLen[w.b]],
  ['tgt[k] != 0', (_q, k, w) => w.tgt[w.b][k] !== 0],
  ['docs[q] == docs[k]', (q, k, w) => w.docs[w.b][q] === w.docs[w.b][k]],
  ['k <= (q + 1) * S / T', (q, k, w) => k <= fdiv((q + 1) * w.lk, w.lq)],
  ['2 * 3 > q + 1', (q) => 6 > q + 1],
  ['1 < 2', () => true],
  ['none', () => true],
  ['full', () => true],
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
  'atom' in t
    ? ATOMS[t.atom][1]
    : 'not' in t
      ? (q, k, w) => !meaning(t.not)(q, k, w)
      : t.op === '&'
        ? (q, k, w) => meaning(t.l)(q, k, w) && meaning(t.r)(q, k, w)
        : (q, k, w) => meaning(t.l)(q, k, w) || meaning(t.r)(q, k, w);

/** The policy of a tree assembled by hand, without simplification (each atom lowered alone). */
function unsimplified(t: Tree): Policy {
  if ('atom' in t) {
    const p = policyOf(ATOMS[t.atom][0]);
    return p.kind === 'all' ? ALL : p.kind === 'nothing' ? NOTHING : p;
  }
  if ('not' in t) return { kind: 'not', part: unsimplified(t.not) };
  return { kind: t.op === '&' ? 'and' : 'or', parts: [unsimplified(t.l), unsimplified(t.r)] };
}

const sizes = fc.record({ lq: fc.integer({ min: 1, max: 12 }), lk: fc.integer({ min: 1, max: 12 }), tq: fc.integer({ min: 1, max: 5 }), tk: fc.integer({ min: 1, max: 5 }), seed: fc.nat() });
type Sizes = { lq: number; lk: number; seed: number };

const B = 2;
const H = 2;

/** Data for both axes (rows as long as the longer one): lengths down to 0 (fully hidden rows), padding, documents. */
function worldOf(s: Sizes): { env: MaskEnv; world: Omit<World, 'b' | 'h'> } {
  const n = Math.max(s.lq, s.lk);
  const docs = [0, 1].map((b) => Array.from({ length: n }, (_, i) => fdiv(i + ((s.seed + b) % 3), 3)));
  const tgt = [Array.from({ length: n }, (_, i) => (i < s.seed % (n + 1) ? 7 : 0)), Array.from({ length: n }, (_, i) => (i % 3 === 2 ? 0 : 5))];
  const world = { lq: s.lq, lk: s.lk, srcLen: [s.seed % (s.lk + 1), s.lk], tgtLen: [(s.seed >> 3) % (s.lq + 1), s.lq], prefixLen: [s.seed % 4, 0], tgt, docs };
  const env: MaskEnv = {
    dims: { Lq: s.lq, Lk: s.lk, B, S: s.lk, T: s.lq },
    data: {
      src_len: Int32Array.from(world.srcLen),
      tgt_len: Int32Array.from(world.tgtLen),
      prefix_len: Int32Array.from(world.prefixLen),
      tgt: Int32Array.from(tgt.flat()),
      docs: Int32Array.from(docs.flat()),
    },
    strides: { tgt: n, docs: n },
  };
  return { env, world };
}

function expectMeaning(pred: ReturnType<typeof toPredicate>, t: Tree, s: Sizes): void {
  const { env, world } = worldOf(s);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const dense = denseMask(pred, env, b, h);
      const want = dense.map((row, q) => row.map((_, k) => meaning(t)(q, k, { ...world, b, h })));
      expect(dense).toEqual(want);
    }
  }
}

describe('mask algebra vs dense evaluation', () => {
  it('every atom lowers to its documented meaning', () => {
    fc.assert(
      fc.property(fc.nat({ max: ATOMS.length - 1 }), sizes, (atom, s) => expectMeaning(toPredicate(policyOf(ATOMS[atom][0])), { atom }, s)),
      { numRuns: 400 },
    );
  });

  it('lowering + simplification compute exactly the composed meaning', () => {
    fc.assert(
      fc.property(tree, sizes, (t, s) => expectMeaning(toPredicate(policyOf(text(t))), t, s)),
      { numRuns: 300 },
    );
  });

  it('simplification never changes which pairs are visible', () => {
    fc.assert(
      fc.property(tree, sizes, (t, s) => {
        const raw = unsimplified(t);
        const { env } = worldOf(s);
        for (let b = 0; b < B; b++) expect(denseMask(toPredicate(simplify(raw)), env, b, 1)).toEqual(denseMask(toPredicate(raw), env, b, 1));
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
        const { env } = worldOf(s);
        expect(denseMask(toPredicate(again), env, 1, 1)).toEqual(denseMask(toPredicate(policy), env, 1, 1));
      }),
      { numRuns: 200 },
    );
  });

  it('tile classes are safe: EMPTY tiles hide every pair, FULL tiles show every pair', () => {
    fc.assert(
      fc.property(tree, sizes, (t, s) => {
        const { env } = worldOf(s);
        const pred = toPredicate(policyOf(text(t)));
        const hc = readsHead(pred) ? H : 1;
        const classes = classifyTiles(pred, { batch: B, heads: H, lq: s.lq, lk: s.lk, tileQ: s.tq, tileK: s.tk }, env);
        const nQT = Math.ceil(s.lq / s.tq);
        const nKT = Math.ceil(s.lk / s.tk);
        expect(classes.length).toBe(B * hc * nQT * nKT);
        for (let b = 0; b < B; b++) {
          for (let h = 0; h < H; h++) {
            const dense = denseMask(pred, env, b, h);
            for (let qt = 0; qt < nQT; qt++) {
              for (let kt = 0; kt < nKT; kt++) {
                // Heads share one class when the mask does not read h (Hc = 1).
                const cls = classes[((b * hc + (hc > 1 ? h : 0)) * nQT + qt) * nKT + kt];
                const cells = dense.slice(qt * s.tq, (qt + 1) * s.tq).flatMap((row) => row.slice(kt * s.tk, (kt + 1) * s.tk));
                if (cls === TileClass.Empty) expect(cells.some(Boolean)).toBe(false);
                if (cls === TileClass.Full) expect(cells.every(Boolean)).toBe(true);
              }
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
    ['full & window(3)', 'window(3)'],
    ['causal & causal', 'causal'],
    ['none | causal', 'none'],
    ['!!causal', 'causal'],
    ['!none', '!none'],
    ['!none & causal', '!none'],
    ['!none | causal', 'causal'],
    ['causal & (window(2) & causal)', 'causal & window(2)'],
    ['(causal | diagonal) | causal', 'causal | diagonal'],
    ['(causal | diagonal) & sink(2)', '(causal | diagonal) & sink(2)'],
    ['q < 3 + 1', 'q < 4'],
    ['k <= q + 2 * 3 - 6', 'k <= q'],
    ['1 < 2', 'none'],
    ['2 < 1 | causal', 'causal'],
    ['random(0, 5) & causal', 'causal'],
    ['random(1, 5) | diagonal', 'diagonal'],
    ['docs[q] == docs[k] & k <= q', 'docs[q] == docs[k] & k <= q'],
    ['!(k <= q)', '!(k <= q)'],
    ['window(2 * 2)', 'window(4)'],
    ['window(S / 4)', 'window(S / 4)'],
    ['monotonic((S + 1) / T, 0, 1)', 'monotonic((S + 1) / T, 0, 1)'],
  ])('%s → %s', (input, normal) => {
    expect(printPolicy(policyOf(input))).toBe(normal);
  });
});
