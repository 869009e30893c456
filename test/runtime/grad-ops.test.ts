// Every op's gradient on its own, in f64: the vector-Jacobian products of src/runtime/cpu-vjp.ts and
// attention-backward.ts against central differences of the forward definitions they were written from (the
// interpreter's ops, run on one-node graphs, and its attention), for L = Σ dy · f(args) with a random dy.

import { describe, expect, it } from 'vitest';
import { sym } from '../../src/check/sym.ts';
import type { CheckedModel } from '../../src/check/model.ts';
import { irNode, type IrGraph, type IrNode, type Op, type OpAttrs, type Rotary } from '../../src/ir/ir.ts';
import { attentionBackward } from '../../src/runtime/attention-backward.ts';
import { attentionCpu } from '../../src/runtime/attention-cpu.ts';
import { interpret } from '../../src/runtime/cpu-interpreter.ts';
import { defaultRotary, rope } from '../../src/runtime/rotary-cpu.ts';
import { vjpElementwise } from '../../src/runtime/cpu-vjp.ts';
import { alibiSlopes, type ScoreModifier } from '../../src/wgsl/score-modifiers.ts';
import { numericGradient, randomTensor, relativeError, rng } from '../support/finite-differences.ts';

const TOL = 1e-6;
const c = (n: number) => sym.constant(n);

/** One op over param arguments (and i32 ids), run by the interpreter; returns its value for the current args. */
function opCase<O extends Op>(op: O, attrs: OpAttrs[O], args: { shape: number[]; ids?: Int32Array }[], outShape: number[], seed: number) {
  const r = rng(seed);
  const nodes: IrNode[] = args.map((a, i): IrNode => (a.ids ? { id: `%a${i}`, op: 'input', args: [], attrs: { name: `a${i}`, kind: 'tokens' }, shape: a.shape.map(c), dtype: 'i32' } : { id: `%a${i}`, op: 'param', args: [], attrs: {}, shape: a.shape.map(c), dtype: 'f32' }));
  const node = irNode(op, { id: '%y', args: nodes.map((n) => n.id), attrs, shape: outShape.map(c), dtype: 'f32' });
  const g: IrGraph = { model: 'op', dims: [], nodes: [...nodes, node], outputs: ['%y'] };
  const values = args.map((a) => a.ids ?? randomTensor(a.shape.reduce((p, x) => p * x, 1), r));
  const weights = new Map(values.flatMap((v, i) => (v instanceof Float64Array ? [[`a${i}`, v] as const] : [])));
  const inputs = Object.fromEntries(values.flatMap((v, i) => (v instanceof Int32Array ? [[`a${i}`, v] as const] : [])));
  const forward = () => interpret(g, {} as CheckedModel, { dims: {}, inputs, weights }).get('%y') as Float64Array;
  const dy = randomTensor(outShape.reduce((p, x) => p * x, 1), r);
  const grads = vjpElementwise(node, values, dy, { dims: {}, shapeOf: (id) => nodes.find((n) => n.id === id)!.shape });
  const loss = () => forward().reduce((s, y, i) => s + y * dy[i], 0);
  return { values, grads, loss, dy };
}

function expectMatches(values: (Float64Array | Int32Array)[], grads: (Float64Array | undefined)[], loss: () => number, wrt: number[]): void {
  for (const i of wrt) {
    const x = values[i] as Float64Array;
    const idx = Array.from({ length: x.length }, (_, j) => j);
    const numeric = numericGradient(loss, x, idx);
    expect(grads[i], `argument ${i}`).toBeDefined();
    expect(relativeError(Array.from(grads[i]!), numeric), `argument ${i}`).toBeLessThanOrEqual(TOL);
  }
}

describe('each op’s gradient matches finite differences (f64)', () => {
  it('gather: same ids in one batch sum in position order, exactly as sequential f64 additions', () => {
    const ids = Int32Array.from([2, 0, 2, 2, 1, 2]);
    const { values, grads, loss, dy } = opCase('gather', { scale: 1.7 }, [{ shape: [4, 3] }, { shape: [2, 3], ids }], [2, 3, 3], 3);
    expectMatches(values, grads, loss, [0]);
    expect(grads[1]).toBeUndefined(); // token ids have no gradient
    expect(Array.from(grads[0]!.subarray(9, 12))).toEqual([0, 0, 0]); // id 3 is never read
    // Row 2 is read at positions 0, 2, 3 and 5: its gradient is their sum, added in position order, bit for bit.
    const row2 = [0, 1, 2].map((j) => [0, 2, 3, 5].reduce((acc, r) => acc + dy[r * 3 + j] * 1.7, 0));
    expect(Array.from(grads[0]!.subarray(6, 9))).toEqual(row2);
  });

  it('gather with fused learned positions: the table and the position table', () => {
    const ids = Int32Array.from([1, 1, 0, 3, 1, 2]);
    const { values, grads, loss } = opCase('gather', { scale: 0.5, positions: 'learned' }, [{ shape: [4, 2] }, { shape: [2, 3], ids }, { shape: [5, 2] }], [2, 3, 2], 14);
    expectMatches(values, grads, loss, [0, 2]);
  });

  it('positions (learned table): rows past the sequence get nothing', () => {
    const { values, grads, loss } = opCase('positions', { kind: 'learned' }, [{ shape: [2, 3], ids: new Int32Array(6) }, { shape: [5, 2] }], [3, 2], 4);
    expectMatches(values, grads, loss, [1]);
    expect(Array.from(grads[1]!.subarray(6))).toEqual([0, 0, 0, 0]);
  });

  it('add, also broadcasting a [T, D] table over the batch', () => {
    const same = opCase('add', {}, [{ shape: [2, 3, 2] }, { shape: [2, 3, 2] }], [2, 3, 2], 5);
    expectMatches(same.values, same.grads, same.loss, [0, 1]);
    const broadcast = opCase('add', {}, [{ shape: [2, 3, 2] }, { shape: [3, 2] }], [2, 3, 2], 6);
    expectMatches(broadcast.values, broadcast.grads, broadcast.loss, [0, 1]);
  });

  for (const fn of ['relu', 'gelu', 'gelu_erf', 'silu'] as const) {
    it(`act ${fn}`, () => {
      const { values, grads, loss } = opCase('act', { fn }, [{ shape: [3, 5] }], [3, 5], 7);
      expectMatches(values, grads, loss, [0]);
    });
  }

  it('swiglu (gate and up)', () => {
    const { values, grads, loss } = opCase('swiglu', {}, [{ shape: [2, 4] }, { shape: [2, 4] }], [2, 4], 8);
    expectMatches(values, grads, loss, [0, 1]);
  });

  it('geglu (gate and up)', () => {
    const { values, grads, loss } = opCase('geglu', {}, [{ shape: [2, 4] }, { shape: [2, 4] }], [2, 4], 15);
    expectMatches(values, grads, loss, [0, 1]);
  });

  it('layer norm (input, scale, bias) and rms norm (input, scale)', () => {
    const layer = opCase('norm', { type: 'layer', eps: 1e-5 }, [{ shape: [3, 4] }, { shape: [4] }, { shape: [4] }], [3, 4], 9);
    expectMatches(layer.values, layer.grads, layer.loss, [0, 1, 2]);
    const rms = opCase('norm', { type: 'rms', eps: 1e-5 }, [{ shape: [3, 4] }, { shape: [4] }], [3, 4], 10);
    expectMatches(rms.values, rms.grads, rms.loss, [0, 1]);
  });

  it('matmul: input, weight [out, in] and bias; a [in, out] weight; fused activation and residual', () => {
    const linear = opCase('matmul', { transpose_b: true }, [{ shape: [2, 3, 4] }, { shape: [5, 4] }, { shape: [5] }], [2, 3, 5], 11);
    expectMatches(linear.values, linear.grads, linear.loss, [0, 1, 2]);
    const plain = opCase('matmul', { transpose_b: false }, [{ shape: [3, 4] }, { shape: [4, 2] }], [3, 2], 12);
    expectMatches(plain.values, plain.grads, plain.loss, [0, 1]);
    const fused = opCase('matmul', { transpose_b: true, act: 'gelu', residual: true }, [{ shape: [3, 4] }, { shape: [2, 4] }, { shape: [2] }, { shape: [3, 2] }], [3, 2], 13);
    expectMatches(fused.values, fused.grads, fused.loss, [0, 1, 2, 3]);
  });
});

describe('attention’s gradient matches finite differences (f64)', () => {
  const shape = { batch: 2, lq: 5, lk: 6, heads: 4, kvHeads: 2, headDim: 4 };
  const relBias = (bidirectional: boolean): ScoreModifier => ({ kind: 'relative_bias', heads: 4, buckets: 4, maxDistance: 8, bidirectional });
  const cases: [string, { mask?: (b: number, h: number, q: number, k: number) => boolean; modifiers?: ScoreModifier[]; rotary?: Rotary; scale?: number }][] = [
    ['no mask, GQA (4 heads on 2 kv heads)', {}],
    ['causal, with rows that see no key (q < 1 sees nothing)', { mask: (_b, _h, q, k) => k < q }],
    ['per-batch padding and a per-head pattern', { mask: (b, h, q, k) => k < 6 - 2 * b && (h % 2 === 0 || k <= q + 1) }],
    ['softcap', { modifiers: [{ kind: 'softcap', cap: 1.2 }] }],
    ['alibi', { modifiers: [{ kind: 'alibi', slopes: alibiSlopes(4), form: 'distance' }], mask: (_b, _h, q, k) => k <= q + 1 }],
    ['alibi in BLOOM’s form (slope · k), no mask', { modifiers: [{ kind: 'alibi', slopes: alibiSlopes(4), form: 'key' }] }],
    ['relative bias table, then softcap', { modifiers: [relBias(true), { kind: 'softcap', cap: 2 }] }],
    ['rotary positions', { rotary: defaultRotary(4), mask: (_b, _h, q, k) => k <= q + 1 }],
    ['rotary halves, θ = 500000, half of each head rotated', { rotary: { style: 'halves', theta: 500000, dims: 2 }, mask: (_b, _h, q, k) => k <= q + 1 }],
    ['rotary pairs over half of each head, unscaled scores (scale = 1)', { rotary: { style: 'pairs', theta: 100, dims: 2 }, scale: 1 }],
  ];
  for (const [name, o] of cases) {
    it(name, () => {
      const r = rng(name.length);
      const { batch, lq, lk, heads, kvHeads, headDim } = shape;
      const q = randomTensor(batch * lq * heads * headDim, r);
      const k = randomTensor(batch * lk * kvHeads * headDim, r);
      const v = randomTensor(batch * lk * kvHeads * headDim, r);
      const table = randomTensor(4 * heads, r);
      const dOut = randomTensor(q.length, r);
      const mods = () => (o.modifiers ?? []).map((m) => (m.kind === 'relative_bias' ? { ...m, table } : m));
      const rows = (x: Float64Array, h: number, l: number) => (o.rotary ? rope(x, batch * l, h, headDim, l, o.rotary) : x);
      const loss = () => attentionCpu(shape, rows(q, heads, lq), rows(k, kvHeads, lk), v, { mask: o.mask, modifiers: mods(), scale: o.scale }).reduce((s, y, i) => s + y * dOut[i], 0);
      const g = attentionBackward({ ...shape, rotary: o.rotary, scale: o.scale ?? 1 / Math.sqrt(headDim), visible: o.mask ?? (() => true), modifiers: o.modifiers ?? [], q, k, v, table, dOut });
      const all = (x: Float64Array) => Array.from({ length: x.length }, (_, i) => i);
      expect(relativeError(Array.from(g.dq), numericGradient(loss, q, all(q)))).toBeLessThanOrEqual(TOL);
      expect(relativeError(Array.from(g.dk), numericGradient(loss, k, all(k)))).toBeLessThanOrEqual(TOL);
      expect(relativeError(Array.from(g.dv), numericGradient(loss, v, all(v)))).toBeLessThanOrEqual(TOL);
      expect(relativeError(Array.from(g.dTable!), numericGradient(loss, table, all(table)))).toBeLessThanOrEqual(TOL);
      if (name.startsWith('causal')) {
        // Query 0 sees no key: its output is 0 whatever q holds, so its gradient is exactly 0.
        for (let b = 0; b < batch; b++) for (let i = 0; i < heads * headDim; i++) expect(g.dq[b * lq * heads * headDim + i]).toBe(0);
      }
    });
  }
});
