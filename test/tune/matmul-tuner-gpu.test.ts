// The matmul tuner on Dawn: every tiling is checked against the host's f64 product before its time counts, the vec4
// tilings are turned away where K is no multiple of 4, and the choice is one of the tilings that computed correctly.

import { describe, expect, it } from 'vitest';
import { referenceMatmul, tuneMatmul } from '../../src/tune/matmul-tuner.ts';
import { MATMUL_TILINGS } from '../../src/wgsl/matmul-tilings.ts';
import { useGpu } from '../runtime/gpu-harness.ts';

describe('the matmul tuner', () => {
  const gpu = useGpu();

  it('holds the tilings to a product worked by hand', () => {
    // a = [[1, 2], [3, 4], [5, 6]], w = [[1, 0], [1, -1]]: out[m, n] = Σ_k a[m, k] w[n, k].
    const out = referenceMatmul(Float32Array.of(1, 2, 3, 4, 5, 6), Float32Array.of(1, 0, 1, -1), { M: 3, N: 2, K: 2 });
    expect(Array.from(out)).toEqual([1, -1, 3, -1, 5, -1]);
  });

  it('measures every tiling at odd shapes and picks one that computed correctly', async () => {
    const outcome = await tuneMatmul(gpu(), [{ M: 37, N: 29, K: 20 }, { M: 5, N: 70, K: 44 }], { rounds: 2 });
    expect(outcome.results.map((r) => r.tiling).sort()).toEqual([...MATMUL_TILINGS].sort());
    for (const r of outcome.results) {
      expect(r.rejected, r.tiling).toBeUndefined();
      expect(r.maxErr!, r.tiling).toBeLessThan(1e-4);
      expect(r.ms, r.tiling).toHaveLength(2);
    }
    expect(outcome.fallback.tiling).toBe('wg32');
    expect(outcome.results).toContain(outcome.best);
    expect(outcome.best.totalMs! * 1.05 <= outcome.fallback.totalMs! || outcome.best === outcome.fallback).toBe(true);
  });

  it('turns the vec4 tilings away where K is no multiple of 4', async () => {
    const outcome = await tuneMatmul(gpu(), [{ M: 9, N: 11, K: 13 }], { rounds: 1 });
    const rejected = outcome.results.filter((r) => r.rejected).map((r) => r.tiling);
    expect(rejected.sort()).toEqual(['reg4x4v4', 'reg8x4v4']);
    expect(outcome.results.find((r) => r.tiling === 'reg4x4v4')!.rejected).toMatch(/multiple of 4 \(K = 13\)/);
    expect(['reg4x4v4', 'reg8x4v4']).not.toContain(outcome.best.tiling);
  });

  it('picks the tiling with the least time weighted by count, given the measurements', async () => {
    // Injected times (ms per problem): reg8x4 is fastest on the first problem, reg4x4 on the second, which occurs
    // three times as often, so reg4x4 has the least weighted total (2 + 3·1 = 5 against 1 + 3·3 = 10; wg32: 40).
    const table: Record<string, [number, number]> = { wg32: [10, 10], wg64: [9, 9], reg4x4: [2, 1], reg8x4: [1, 3], reg4x4v4: [8, 8], reg8x4v4: [8, 8] };
    const calls: string[] = [];
    const problems = [{ M: 8, N: 8, K: 8 }, { M: 8, N: 12, K: 8, count: 3 }];
    const outcome = await tuneMatmul(gpu(), problems, {
      rounds: 2,
      budgetMs: 0,
      timer: async (tiling, p, run) => {
        await run();
        calls.push(`${tiling}@${p.N}`);
        return table[tiling][p.N === 8 ? 0 : 1];
      },
    });
    expect(outcome.best.tiling).toBe('reg4x4');
    expect(outcome.results.find((r) => r.tiling === 'reg4x4')!.totalMs).toBe(5);
    expect(outcome.results.find((r) => r.tiling === 'reg8x4')!.totalMs).toBe(10);
    expect(outcome.fallback.totalMs).toBe(40);
    // Round by round: every tiling once per round, in turn.
    const order = ['wg32', ...MATMUL_TILINGS.filter((t) => t !== 'wg32')];
    expect(calls).toEqual([...order, ...order].map((t) => `${t}@8`).concat([...order, ...order].map((t) => `${t}@12`)));
  });

  it('keeps the default when no tiling beats it by the margin', async () => {
    let calls = 0;
    const outcome = await tuneMatmul(gpu(), [{ M: 8, N: 8, K: 8 }], { rounds: 1, timer: async (tiling) => (calls++, tiling === 'wg32' ? 10 : 9.8) });
    expect(outcome.best.tiling).toBe('wg32');
    // 10 ms samples sum to less than the default budget of 200 ms: 5 rounds (5× the one asked for), every tiling.
    expect(calls).toBe(5 * MATMUL_TILINGS.length);
  });
});
