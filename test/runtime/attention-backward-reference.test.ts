// The backward oracle (attention-backward-harness.ts) against central finite differences of the CPU forward pass
// (src/runtime/attention-cpu.ts), in f64 on tiny shapes: every entry of dQ, dK, dV and the relative_bias table
// gradient, with masks that hide keys, rows and whole batch rows, grouped heads, cross lengths and every modifier.

import { describe, expect, it } from 'vitest';
import { attentionCpu, type AttentionShape, type MaskFn } from '../../src/runtime/attention-cpu.ts';
import { alibiSlopes, type ScoreModifier } from '../../src/wgsl/score-modifiers.ts';
import { attentionGradsReference, normRelError } from './attention-backward-harness.ts';
import { randomFloats } from './mask-fixtures.ts';

const shape: AttentionShape = { batch: 2, lq: 3, lk: 5, heads: 2, kvHeads: 1, headDim: 4 };
// Bottom-right causal; batch row 1 has three real keys; query 0 of head 1 sees nothing.
const mask: MaskFn = (b, h, q, k) => k <= q + 2 && (b === 0 || k < 3) && !(h === 1 && q === 0);

/** d/dx of f at every entry of x, by central differences (x is restored). */
function numericGrad(x: Float64Array, f: () => number, eps = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const keep = x[i];
    x[i] = keep + eps;
    const up = f();
    x[i] = keep - eps;
    const down = f();
    x[i] = keep;
    g[i] = (up - down) / (2 * eps);
  }
  return g;
}

const f64 = (n: number, seed: number, amplitude = 1) => Float64Array.from(randomFloats(n, seed, amplitude));

describe('the attention backward oracle', () => {
  const table = f64(4 * shape.heads, 9, 2);
  const relativeBias: ScoreModifier = { kind: 'relative_bias', heads: 2, buckets: 4, maxDistance: 3, bidirectional: true, table };
  const cases: [string, ScoreModifier[]][] = [
    ['no modifier', []],
    ['softcap', [{ kind: 'softcap', cap: 1.2 }]],
    ['alibi, relative_bias, softcap', [{ kind: 'alibi', slopes: alibiSlopes(2), form: 'distance' }, relativeBias, { kind: 'softcap', cap: 1.5 }]],
    ['softcap then relative_bias', [{ kind: 'softcap', cap: 1.5 }, relativeBias]],
  ];
  for (const [name, modifiers] of cases) {
    it(`matches finite differences of the CPU forward pass: ${name}`, () => {
      const { batch, lq, lk, heads, kvHeads, headDim } = shape;
      const q = f64(batch * lq * heads * headDim, 1, 2);
      const k = f64(batch * lk * kvHeads * headDim, 2, 2);
      const v = f64(batch * lk * kvHeads * headDim, 3);
      const dOut = f64(q.length, 4);
      const loss = () => attentionCpu(shape, q, k, v, { mask, modifiers }).reduce((acc, o, i) => acc + o * dOut[i], 0);
      const ref = attentionGradsReference(shape, q, k, v, dOut, { mask, modifiers });

      expect(normRelError(ref.out, attentionCpu(shape, q, k, v, { mask, modifiers }))).toBeLessThan(1e-12);
      for (const [what, x, g] of [['dQ', q, ref.dq], ['dK', k, ref.dk], ['dV', v, ref.dv]] as const) {
        expect(normRelError(g, numericGrad(x, loss)), what).toBeLessThan(1e-6);
      }
      if (modifiers.includes(relativeBias)) {
        const dTable = numericGrad(table, loss);
        expect(dTable.some((x) => Math.abs(x) > 1e-3)).toBe(true);
        expect(normRelError(ref.dTable!, dTable), 'dTable').toBeLessThan(1e-6);
      }
      // The row that sees nothing: no gradient, and no log-sum-exp.
      for (const b of [0, 1]) {
        const row = ((b * lq + 0) * heads + 1) * headDim;
        expect(Array.from(ref.dq.subarray(row, row + headDim))).toEqual([0, 0, 0, 0]);
        expect(ref.lse[(b * heads + 1) * lq + 0]).toBe(-Infinity);
      }
    });
  }

  it('the gradients are not trivially zero where keys are visible', () => {
    const { batch, lq, lk, heads, kvHeads, headDim } = shape;
    const q = f64(batch * lq * heads * headDim, 1, 2);
    const k = f64(batch * lk * kvHeads * headDim, 2, 2);
    const v = f64(batch * lk * kvHeads * headDim, 3);
    const ref = attentionGradsReference(shape, q, k, v, f64(q.length, 4), { mask });
    for (const g of [ref.dq, ref.dk, ref.dv]) expect(g.some((x) => Math.abs(x) > 1e-3)).toBe(true);
    // Keys 3 and 4 of batch row 1 are padding: no gradient reaches them.
    const padded = (1 * lk + 3) * kvHeads * headDim;
    expect(Array.from(ref.dk.subarray(padded, padded + 2 * headDim)).every((x) => x === 0)).toBe(true);
  });
});
