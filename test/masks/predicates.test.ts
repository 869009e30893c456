// Random raw predicates, built directly as trees: every integer operator with negative operands, zero divisors and
// 32-bit overflow. They check the parts of the mask pipeline that do arithmetic — the interval analysis (safe tile
// classes), constant folding (same meaning), the printer (parses back), and the WGSL emitter (the same bits on Dawn
// as the CPU evaluator, wrapping included).

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { emitMaskWgsl } from '../../src/masks/emit-wgsl.ts';
import { denseMask } from '../../src/masks/evaluate.ts';
import { foldBool, I32_MAX, I32_MIN } from '../../src/masks/fold.ts';
import { policyOf } from '../support/mask-scope.ts';
import { TileClass, type MaskEnv } from '../../src/masks/kernel-contract.ts';
import { toPredicate } from '../../src/masks/policy.ts';
import { bin, cmp, type BoolExpr, type CmpOp, type IntExpr, type IntOp } from '../../src/masks/predicate.ts';
import { printBool } from '../../src/masks/print-predicate.ts';
import { classifyTiles, readsHead } from '../../src/masks/tiles.ts';
import { denseMaskOnGpu } from '../support/mask-run.ts';
import { useGpu } from '../runtime/gpu-harness.ts';

const constant = fc.oneof(
  fc.integer({ min: -6, max: 6 }),
  fc.constantFrom(0, 1, -1, 65536, 46341, I32_MAX, I32_MIN, I32_MIN + 1),
);

const leaf: fc.Arbitrary<IntExpr> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('q', 'k').map((name) => ({ kind: 'var', name }) as IntExpr) },
  { weight: 1, arbitrary: fc.constantFrom('b', 'h').map((name) => ({ kind: 'var', name }) as IntExpr) },
  { weight: 3, arbitrary: constant.map((value) => ({ kind: 'const', value }) as IntExpr) },
  { weight: 1, arbitrary: fc.constantFrom('Lq', 'Lk').map((name) => ({ kind: 'param', name }) as IntExpr) },
);

const intExpr: fc.Arbitrary<IntExpr> = fc.letrec((tie) => ({
  int: fc.oneof(
    { maxDepth: 3, depthIdentifier: 'int' },
    leaf,
    fc.record({ op: fc.constantFrom<IntOp>('+', '-', '*', '/', '%', 'min', 'max'), a: tie('int') as fc.Arbitrary<IntExpr>, b: tie('int') as fc.Arbitrary<IntExpr> }).map(({ op, a, b }) => bin(op, a, b)),
    (tie('int') as fc.Arbitrary<IntExpr>).map((a) => ({ kind: 'abs', a }) as IntExpr),
  ),
})).int;

const boolExpr: fc.Arbitrary<BoolExpr> = fc.letrec((tie) => ({
  bool: fc.oneof(
    { maxDepth: 2, depthIdentifier: 'bool' },
    fc.record({ op: fc.constantFrom<CmpOp>('<', '<=', '==', '!=', '>', '>='), a: intExpr, b: intExpr }).map(({ op, a, b }) => cmp(op, a, b)),
    fc.array(tie('bool') as fc.Arbitrary<BoolExpr>, { minLength: 2, maxLength: 3 }).map((args) => ({ kind: 'and', args }) as BoolExpr),
    fc.array(tie('bool') as fc.Arbitrary<BoolExpr>, { minLength: 2, maxLength: 3 }).map((args) => ({ kind: 'or', args }) as BoolExpr),
    (tie('bool') as fc.Arbitrary<BoolExpr>).map((a) => ({ kind: 'not', a }) as BoolExpr),
  ),
})).bool;

/** Small arithmetic where floor semantics matter: `(q - k + c) / d` or `% d` with negative numerators and divisors. */
const floorExpr: fc.Arbitrary<BoolExpr> = fc
  .record({
    sign: fc.constantFrom<IntOp>('+', '-'),
    c: fc.integer({ min: -5, max: 5 }),
    op: fc.constantFrom<IntOp>('/', '%'),
    d: fc.integer({ min: -4, max: 4 }),
    rel: fc.constantFrom<CmpOp>('<', '==', '>='),
    e: fc.integer({ min: -3, max: 3 }),
  })
  .map(({ sign, c, op, d, rel, e }) => cmp(rel, bin(op, bin('+', bin(sign, { kind: 'var', name: 'q' }, { kind: 'var', name: 'k' }), { kind: 'const', value: c }), { kind: 'const', value: d }), { kind: 'const', value: e }));

/** Trees over a few shared comparisons, so that the same atom recurs (what path-sensitive classification exploits). */
const correlated: fc.Arbitrary<BoolExpr> = fc
  .array(fc.record({ op: fc.constantFrom<CmpOp>('<', '<=', '==', '!=', '>='), a: intExpr, b: intExpr }).map(({ op, a, b }) => cmp(op, a, b)), { minLength: 1, maxLength: 3 })
  .chain((atoms) =>
    fc.letrec((tie) => ({
      bool: fc.oneof(
        { maxDepth: 4, depthIdentifier: 'corr' },
        fc.constantFrom(...atoms),
        fc.array(tie('bool') as fc.Arbitrary<BoolExpr>, { minLength: 2, maxLength: 3 }).map((args) => ({ kind: 'and', args }) as BoolExpr),
        fc.array(tie('bool') as fc.Arbitrary<BoolExpr>, { minLength: 2, maxLength: 3 }).map((args) => ({ kind: 'or', args }) as BoolExpr),
        (tie('bool') as fc.Arbitrary<BoolExpr>).map((a) => ({ kind: 'not', a }) as BoolExpr),
      ),
    })).bool,
  );

const grid = fc.record({ lq: fc.integer({ min: 1, max: 9 }), lk: fc.integer({ min: 1, max: 9 }), tq: fc.integer({ min: 1, max: 4 }), tk: fc.integer({ min: 1, max: 4 }) });
const B = 2;
const H = 2;
const envOf = (g: { lq: number; lk: number }): MaskEnv => ({ dims: { Lq: g.lq, Lk: g.lk, B }, data: {} });

const wrapping: BoolExpr = cmp('<', { kind: 'var', name: 'q' }, bin('+', bin('-', bin('+', { kind: 'var', name: 'h' }, { kind: 'var', name: 'b' }), { kind: 'const', value: I32_MIN }), { kind: 'var', name: 'k' }));
const wrapsInI32: BoolExpr = { kind: 'not', a: { kind: 'or', args: [{ kind: 'and', args: [wrapping, wrapping] }, wrapping] } };

const allDense = (pred: BoolExpr, env: MaskEnv) => [0, 1].flatMap((b) => [0, 1].map((h) => denseMask(pred, env, b, h)));

describe('random predicates on the CPU', () => {
  it.each([
    ['random comparisons', boolExpr],
    ['recurring comparisons', correlated],
  ])('tile classes of %s are safe: EMPTY tiles have no visible pair, FULL tiles no hidden one', (_what, predicates) => {
    fc.assert(
      fc.property(predicates, grid, (pred, g) => {
        const env = envOf(g);
        const hc = readsHead(pred) ? H : 1;
        const classes = classifyTiles(pred, { batch: B, heads: H, lq: g.lq, lk: g.lk, tileQ: g.tq, tileK: g.tk }, env);
        const nQT = Math.ceil(g.lq / g.tq);
        const nKT = Math.ceil(g.lk / g.tk);
        for (let b = 0; b < B; b++) {
          for (let h = 0; h < H; h++) {
            const dense = denseMask(pred, env, b, h);
            for (let qt = 0; qt < nQT; qt++) {
              for (let kt = 0; kt < nKT; kt++) {
                const cls = classes[((b * hc + (hc > 1 ? h : 0)) * nQT + qt) * nKT + kt];
                const cells = dense.slice(qt * g.tq, (qt + 1) * g.tq).flatMap((row) => row.slice(kt * g.tk, (kt + 1) * g.tk));
                if (cls === TileClass.Empty) expect(cells.some(Boolean), printBool(pred)).toBe(false);
                if (cls === TileClass.Full) expect(cells.every(Boolean), printBool(pred)).toBe(true);
              }
            }
          }
        }
      }),
      // Always tried first: a side that wraps in i32 (h + b - (-2^31) + k) once let a comparison's exact linear form
      // bound q - k, so the classifier called a tile FULL that the kernel's wrapped arithmetic leaves empty.
      { numRuns: 1500, examples: [[wrapsInI32, { lq: 1, lk: 1, tq: 1, tk: 1 }]] },
    );
  });

  it('constant folding keeps the meaning', () => {
    fc.assert(
      fc.property(boolExpr, grid, (pred, g) => {
        expect(allDense(foldBool(pred), envOf(g))).toEqual(allDense(pred, envOf(g)));
      }),
      { numRuns: 1000 },
    );
  });

  it('printed predicates parse back to the same meaning', () => {
    fc.assert(
      fc.property(boolExpr, grid, (pred, g) => {
        const again = toPredicate(policyOf(printBool(pred)));
        expect(allDense(again, envOf(g))).toEqual(allDense(pred, envOf(g)));
      }),
      { numRuns: 300 },
    );
  });
});

describe('random predicates compiled to WGSL on Dawn', () => {
  const gpu = useGpu();
  it('reproduce the CPU evaluator bit for bit, wrapping and floor division included', async () => {
    await fc.assert(
      fc.asyncProperty(boolExpr, grid, async (pred, g) => {
        const env = envOf(g);
        const bits = await denseMaskOnGpu(gpu(), emitMaskWgsl(pred), env, { batch: B, heads: H, lq: g.lq, lk: g.lk });
        const cpu = allDense(pred, env).flatMap((rows) => rows.flatMap((row) => row.map((v) => (v ? 1 : 0))));
        expect(Array.from(bits), printBool(pred)).toEqual(cpu);
      }),
      { numRuns: 40 },
    );
  });

  it('floor division and modulo of negative numbers match the CPU', async () => {
    await fc.assert(
      fc.asyncProperty(floorExpr, async (pred) => {
        const g = { lq: 8, lk: 8 };
        const env = envOf(g);
        const bits = await denseMaskOnGpu(gpu(), emitMaskWgsl(pred), env, { batch: 1, heads: 1, lq: g.lq, lk: g.lk });
        const cpu = denseMask(pred, env).flatMap((row) => row.map((v) => (v ? 1 : 0)));
        expect(Array.from(bits), printBool(pred)).toEqual(cpu);
      }),
      { numRuns: 40 },
    );
  });
});
