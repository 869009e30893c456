// Numerical edge cases of the fused kernel: rows with no visible key, huge logits, and the score modifiers.

import { describe, expect, it } from 'vitest';
import { alibiSlopes, type ScoreModifier } from '../../src/wgsl/score-modifiers.ts';
import { runCase, useGpu } from './gpu-harness.ts';
import { allFinite, causalBottomRight, causalTopLeft, keyPadding, randomFloats, someRowsBlind } from './mask-fixtures.ts';

const TOLERANCE = 1e-4;

/** Indices of the output elements of query row q, for every batch row and head. */
function rowElements(batch: number, lq: number, heads: number, headDim: number, q: number): number[] {
  const out: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const base = ((b * lq + q) * heads + h) * headDim;
      for (let i = 0; i < headDim; i++) out.push(base + i);
    }
  }
  return out;
}

describe('attention numerics', () => {
  const gpu = useGpu();

  it('rows with no visible key are exactly zero', async () => {
    const [batch, lq, lk, heads, headDim] = [2, 29, 29, 4, 32];
    const result = await runCase(gpu(), { batch, lq, lk, heads, kvHeads: 2, headDim, fixture: someRowsBlind, kernel: { tiles: { q: 8, k: 8 } } });
    expect(result.error).toBeLessThanOrEqual(TOLERANCE);
    for (let q = 1; q < lq; q += 3) {
      for (const i of rowElements(batch, lq, heads, headDim, q)) expect(result.gpu[i]).toBe(0);
    }
    // The rows in between did see keys.
    expect(rowElements(batch, lq, heads, headDim, 0).some((i) => result.gpu[i] !== 0)).toBe(true);
  });

  it('a batch row whose key length is 0 outputs zeros', async () => {
    const [batch, lq, lk, heads, headDim] = [2, 5, 12, 2, 32];
    const env = { dims: {}, data: { lengths: Int32Array.of(12, 0) } };
    const result = await runCase(gpu(), { batch, lq, lk, heads, kvHeads: 2, headDim, fixture: keyPadding, env });
    expect(result.error).toBeLessThanOrEqual(TOLERANCE);
    const half = lq * heads * headDim;
    expect(Array.from(result.gpu.subarray(half)).every((x) => x === 0)).toBe(true);
  });

  it('logits of ±1e4 stay finite and exact', async () => {
    // q = (1e4, 0, ...) and k rows with first element in {-1, 0, 1}: with scale 1 every logit is exactly -1e4, 0 or
    // +1e4, so the softmax has a unique right answer even with 1e4-sized gaps, on both sides of the comparison.
    const [batch, lq, lk, heads, kvHeads, headDim] = [1, 40, 40, 2, 1, 32];
    const q = new Float32Array(batch * lq * heads * headDim);
    for (let row = 0; row < lq * heads; row++) q[row * headDim] = row % 3 === 0 ? -1e4 : 1e4;
    const k = new Float32Array(batch * lk * kvHeads * headDim);
    for (let key = 0; key < lk; key++) k[key * headDim] = [1, 0, -1, 1, -1][key % 5];
    const v = randomFloats(k.length, 11);
    const result = await runCase(gpu(), {
      batch, lq, lk, heads, kvHeads, headDim, q, k, v, fixture: causalTopLeft,
      kernel: { scale: 1, tiles: { q: 8, k: 8 } },
    });
    expect(allFinite(result.gpu)).toBe(true);
    expect(result.error).toBeLessThanOrEqual(TOLERANCE);
  });

  it('random logits around ±1e4 stay finite', async () => {
    const [batch, lq, lk, heads, headDim] = [1, 33, 47, 2, 32];
    const q = randomFloats(batch * lq * heads * headDim, 3, 100);
    const k = randomFloats(batch * lk * heads * headDim, 4, 100);
    const result = await runCase(gpu(), { batch, lq, lk, heads, kvHeads: heads, headDim, q, k, fixture: causalBottomRight, kernel: { scale: 1 } });
    expect(allFinite(result.gpu)).toBe(true);
    // Every output is a convex combination of V rows in [-1, 1].
    expect(Array.from(result.gpu).every((x) => Math.abs(x) <= 1 + 1e-5)).toBe(true);
  });

  const modifierCases: [string, ScoreModifier[]][] = [
    ['ALiBi', [{ kind: 'alibi', slopes: alibiSlopes(6), form: 'distance' }]],
    ['soft-cap', [{ kind: 'softcap', cap: 2 }]],
    ['ALiBi then soft-cap', [{ kind: 'alibi', slopes: alibiSlopes(6), form: 'distance' }, { kind: 'softcap', cap: 1.5 }]],
  ];
  for (const [name, modifiers] of modifierCases) {
    it(`score modifier: ${name}`, async () => {
      const result = await runCase(gpu(), {
        batch: 2, lq: 37, lk: 53, heads: 6, kvHeads: 3, headDim: 32, fixture: causalBottomRight, kernel: { modifiers },
        q: randomFloats(2 * 37 * 6 * 32, 21, 3),
      });
      expect(result.error).toBeLessThanOrEqual(TOLERANCE);
    });
  }

  it('soft-cap keeps ±1e4 logits finite', async () => {
    const q = randomFloats(1 * 20 * 2 * 32, 9, 100);
    const k = randomFloats(1 * 20 * 2 * 32, 10, 100);
    const result = await runCase(gpu(), {
      batch: 1, lq: 20, lk: 20, heads: 2, kvHeads: 2, headDim: 32, q, k, kernel: { scale: 1, modifiers: [{ kind: 'softcap', cap: 30 }] },
    });
    expect(allFinite(result.gpu)).toBe(true);
    expect(result.error).toBeLessThanOrEqual(TOLERANCE);
  });
});
