// Token choice checked against plain references written here over fixed logits: the repetition penalty as Hugging
// Face defines it, the exact sets top-k and top-p keep, pad never chosen, and sampled frequencies that match the
// reference distribution over many seeded draws.

import { describe, expect, it } from 'vitest';
import { candidates, chooseToken, logSoftmax, processLogits, seededRandom, stopStringIn } from '../../src/runtime/sampling.ts';

const logits = [2.0, -1.0, 0.5, 3.0, 0.5, -3.0, 1.0, 0.0];

/** Reference: softmax at a temperature, top-k by sorting, top-p by accumulating sorted probabilities. */
function reference(row: number[], temperature: number, topK: number, topP: number): Map<number, number> {
  const probs = row.map((x) => Math.exp(x / temperature));
  const z = probs.reduce((a, b) => a + b, 0);
  let pairs = probs.map((p, i) => [i, p / z] as [number, number]).sort((a, b) => b[1] - a[1] || a[0] - b[0]);
  if (topK > 0) pairs = pairs.slice(0, topK);
  let s = pairs.reduce((a, [, p]) => a + p, 0);
  pairs = pairs.map(([i, p]) => [i, p / s]);
  const kept: [number, number][] = [];
  let mass = 0;
  for (const pair of pairs) {
    if (kept.length > 0 && mass >= topP) break;
    kept.push(pair);
    mass += pair[1];
  }
  s = kept.reduce((a, [, p]) => a + p, 0);
  return new Map(kept.map(([i, p]) => [i, p / s]));
}

describe('sampling', () => {
  it('repetition penalty: positive logits divided, negative multiplied, only for ids already seen', () => {
    const out = processLogits(logits, [3, 1, 3, 7], { repetitionPenalty: 2 });
    expect([...out]).toEqual([2.0, -2.0, 0.5, 1.5, 0.5, -3.0, 1.0, 0.0]);
  });

  it('pad is never chosen, even when it is the most likely token', () => {
    const processed = processLogits(logits, [], { pad: 3 });
    expect(chooseToken(processed, { greedy: true }, seededRandom(1))).toBe(0);
    const random = seededRandom(4);
    for (let i = 0; i < 2000; i++) expect(chooseToken(processed, { greedy: false, temperature: 5 }, random)).not.toBe(3);
  });

  it('top-k and top-p keep exactly the reference sets with the reference probabilities', () => {
    for (const [t, k, p] of [[1, 0, 1], [1, 3, 1], [0.7, 0, 0.9], [1, 0, 0.5], [2, 5, 0.8], [1, 0, 0.01]] as const) {
      const { ids, probs } = candidates(Float64Array.from(logits), { temperature: t, topK: k, topP: p });
      const want = reference(logits, t, k, p);
      expect(ids, `t=${t} k=${k} p=${p}`).toEqual([...want.keys()]);
      for (const [j, id] of ids.entries()) expect(probs[j]).toBeCloseTo(want.get(id)!, 12);
    }
    // Two most likely: 3 (p≈0.54) then 0 (p≈0.20): top-p 0.6 keeps both, 0.5 only the first.
    expect(candidates(Float64Array.from(logits), { topP: 0.6 }).ids).toEqual([3, 0]);
    expect(candidates(Float64Array.from(logits), { topP: 0.5 }).ids).toEqual([3]);
  });

  it('sampled frequencies follow the reference distribution (fixed seed, 40000 draws)', () => {
    const draws = 40000;
    for (const [t, k, p] of [[1, 0, 1], [0.8, 4, 0.9]] as const) {
      const want = reference(logits, t, k, p);
      const counts = new Map<number, number>();
      const random = seededRandom(7);
      const processed = Float64Array.from(logits);
      for (let i = 0; i < draws; i++) {
        const id = chooseToken(processed, { greedy: false, temperature: t, topK: k, topP: p }, random);
        counts.set(id, (counts.get(id) ?? 0) + 1);
      }
      for (const id of counts.keys()) expect(want.has(id), `id ${id} outside the kept set`).toBe(true);
      // Within 5 standard deviations of a binomial count.
      for (const [id, q] of want) expect(Math.abs((counts.get(id) ?? 0) - q * draws)).toBeLessThan(5 * Math.sqrt(draws * q * (1 - q)) + 1);
    }
  });

  it('the same seed gives the same draws; another seed does not', () => {
    const run = (seed: number) => {
      const random = seededRandom(seed);
      return Array.from({ length: 20 }, () => chooseToken(Float64Array.from(logits), { greedy: false, temperature: 2 }, random));
    };
    expect(run(3)).toEqual(run(3));
    expect(run(3)).not.toEqual(run(4));
  });

  it('greedy takes the largest logit; log-softmax is normalised', () => {
    expect(chooseToken(Float64Array.from(logits), { greedy: true, temperature: 9, topP: 0.1 }, seededRandom(0))).toBe(3);
    const ls = logSoftmax(logits);
    expect(ls.reduce((a, x) => a + Math.exp(x), 0)).toBeCloseTo(1, 12);
    expect(ls[3] - ls[0]).toBeCloseTo(1, 12);
  });

  it('stop strings are found anywhere in the generated text', () => {
    expect(stopStringIn('hello wor', ['\n', 'wor'])).toBe('wor');
    expect(stopStringIn('hello', ['\n', ''])).toBeUndefined();
  });
});
