// AdamW against PyTorch's definition, written out here step by step in f64 (not through the module), with the first
// step also as a literal: p = 1, g = 0.5, lr = 0.1, λ = 0.01 gives p = 0.999 − 0.1·0.5/(0.5 + 1e-8) = 0.899.
// Then clipping by global norm and the learning-rate schedules.

import { describe, expect, it } from 'vitest';
import { adamwStep, clipByGlobalNorm, DEFAULT_ADAMW, freshState, isDecayed, learningRate } from '../../src/runtime/adamw.ts';

/** torch.optim.AdamW for one scalar over a list of gradients (amsgrad off, maximize off). */
function torchAdamW(p: number, grads: number[], lr: number, wd: number, b1 = 0.9, b2 = 0.999, eps = 1e-8): number {
  let m = 0;
  let v = 0;
  grads.forEach((g, i) => {
    const t = i + 1;
    p = p * (1 - lr * wd);
    m = b1 * m + (1 - b1) * g;
    v = b2 * v + (1 - b2) * g * g;
    const bias1 = 1 - b1 ** t;
    const bias2 = 1 - b2 ** t;
    const stepSize = lr / bias1;
    const denom = Math.sqrt(v) / Math.sqrt(bias2) + eps;
    p = p - (stepSize * m) / denom;
  });
  return p;
}

describe('AdamW', () => {
  it('takes the step PyTorch takes: the first step by hand, three steps by the written-out formula', () => {
    const weights = new Map([['w.weight', Float32Array.of(1, -2, 0.5)]]);
    const state = freshState(weights);
    const cfg = { ...DEFAULT_ADAMW, weightDecay: 0.01 };
    const gs = [
      [0.5, 0.1, -3],
      [-0.25, 0.2, 1],
      [0.125, -0.4, 2],
    ];
    adamwStep(weights, new Map([['w.weight', Float64Array.from(gs[0])]]), state, 0.1, cfg);
    expect(weights.get('w.weight')![0]).toBeCloseTo(0.899, 6);
    for (const g of gs.slice(1)) adamwStep(weights, new Map([['w.weight', Float64Array.from(g)]]), state, 0.1, cfg);
    const start = [1, -2, 0.5];
    start.forEach((p0, i) => expect(weights.get('w.weight')![i]).toBeCloseTo(torchAdamW(p0, gs.map((g) => g[i]), 0.1, 0.01), 6));
    expect(state.step).toBe(3);
  });

  it('does not decay norm scales and biases, and leaves frozen parameters and their moments as they were', () => {
    expect(isDecayed('decoder.0.ffn.up.weight')).toBe(true);
    expect(isDecayed('decoder.0.ffn.up.bias')).toBe(false);
    expect(isDecayed('decoder.0.attention_norm.weight')).toBe(false);
    expect(isDecayed('final_norm.weight')).toBe(false);
    const weights = new Map([
      ['a.bias', Float32Array.of(2)],
      ['b.weight', Float32Array.of(2)],
      ['c.weight', Float32Array.of(2)],
    ]);
    const state = freshState(weights);
    const g = new Map(['a.bias', 'b.weight', 'c.weight'].map((n) => [n, Float64Array.of(0.3)]));
    adamwStep(weights, g, state, 0.01, { ...DEFAULT_ADAMW, weightDecay: 0.5 }, new Set(['c.weight']));
    expect(weights.get('a.bias')![0]).toBeCloseTo(torchAdamW(2, [0.3], 0.01, 0), 6);
    expect(weights.get('b.weight')![0]).toBeCloseTo(torchAdamW(2, [0.3], 0.01, 0.5), 6);
    expect(weights.get('b.weight')![0]).not.toBeCloseTo(weights.get('a.bias')![0], 4);
    expect(weights.get('c.weight')![0]).toBe(2);
    expect(state.m.get('c.weight')![0]).toBe(0);
  });
});

describe('clipping by global norm', () => {
  it('scales all gradients together to the limit and returns the norm before', () => {
    const g = new Map([
      ['a', Float64Array.of(3, 0)],
      ['b', Float64Array.of(4)],
    ]);
    expect(clipByGlobalNorm(g, 1)).toBe(5);
    expect(g.get('a')![0]).toBeCloseTo(0.6, 6);
    expect(g.get('b')![0]).toBeCloseTo(0.8, 6);
    const small = new Map([['a', Float64Array.of(0.3, 0.4)]]);
    expect(clipByGlobalNorm(small, 1)).toBeCloseTo(0.5, 12);
    expect([...small.get('a')!]).toEqual([0.3, 0.4]);
  });
});

describe('learning-rate schedule', () => {
  const base = { lr: 1, warmup: 10, total: 110 };
  it('warms up linearly, then decays by a half cosine or a line to zero at the last step', () => {
    expect(learningRate(5, { ...base, schedule: 'cosine' })).toBe(0.5);
    expect(learningRate(10, { ...base, schedule: 'cosine' })).toBe(1);
    expect(learningRate(60, { ...base, schedule: 'cosine' })).toBeCloseTo(0.5, 12);
    expect(learningRate(35, { ...base, schedule: 'cosine' })).toBeCloseTo(0.5 * (1 + Math.cos(Math.PI / 4)), 12);
    expect(learningRate(110, { ...base, schedule: 'cosine' })).toBeCloseTo(0, 12);
    expect(learningRate(60, { ...base, schedule: 'linear' })).toBeCloseTo(0.5, 12);
    expect(learningRate(100, { ...base, schedule: 'constant' })).toBe(1);
  });
});
