// Beam search through the KV cache on the device: a forked cache continues exactly as a full pass over its own
// sequence (the original is untouched by the fork's steps), and beam search with a cache per beam finds the same
// hypotheses, with the same scores, as beam search recomputing every position.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { lower } from '../../src/lower/passes.ts';
import { beamSearch } from '../../src/runtime/beam-search.ts';
import { CachedDecoder } from '../../src/runtime/cached-decoder.ts';
import { gpuForward, stepInputs } from '../../src/runtime/generate.ts';
import { seededWeights } from '../../src/runtime/init-weights.ts';
import { useGpu } from './gpu-harness.ts';

const root = join(import.meta.dirname, '..', '..');
const shipped = (f: string) => checkSource(readFileSync(join(root, 'specs', f), 'utf8'), f).model!;

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
  return d;
}

describe('beam search with a KV cache per beam', () => {
  const gpu = useGpu();

  it('a forked cache and its original continue different sequences, each as a full pass would', async () => {
    const m = shipped('translator.mdl');
    const lowered = lower(m);
    const weights = seededWeights(lowered.ir, 5);
    const full = gpuForward(gpu(), lowered, m, weights);
    const source = [200, 17, 45, 99];
    const a = new CachedDecoder(gpu(), lowered, m, weights);
    await a.next(stepInputs(m, [], source).run);
    await a.next(stepInputs(m, [40], source).run);
    const b = a.fork();
    try {
      for (const [cache, seq] of [[b, [40, 41]], [a, [40, 77]], [b, [40, 41, 42]], [a, [40, 77, 78]]] as const) {
        const { run, length } = stepInputs(m, [...seq], source);
        const row = await cache.next(run);
        const want = (await full(run)).subarray((length - 1) * row.length, length * row.length);
        expect(maxDiff(row, want), `${seq}`).toBeLessThan(1e-4 * Math.max(1, ...Array.from(want, Math.abs)));
      }
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  for (const [spec, prompt, source] of [['translator.mdl', [], [200, 17, 45, 99, 3]], ['packed.mdl', [110, 101, 109], undefined]] as const) {
    it(`${spec}: the same hypotheses and scores as recomputing every position`, async () => {
      const m = shipped(spec);
      const lowered = lower(m);
      const weights = seededWeights(lowered.ir, 7);
      const forward = gpuForward(gpu(), lowered, m, weights);
      const opts = { prompt: [...prompt], source: source && [...source], maxNew: 4, beams: 3 };
      const reasons: string[] = [];
      const cached = await beamSearch(m, forward, { ...opts, cache: new CachedDecoder(gpu(), lowered, m, weights), onCacheAbandoned: (r) => reasons.push(r) });
      const recomputed = await beamSearch(m, forward, opts);
      expect(reasons).toEqual([]);
      expect(cached.map((h) => h.tokens)).toEqual(recomputed.map((h) => h.tokens));
      for (const [i, h] of cached.entries()) expect(h.score).toBeCloseTo(recomputed[i].score, 3);
    });
  }
});
