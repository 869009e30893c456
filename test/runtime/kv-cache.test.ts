// Decoding with a KV cache computes what a full pass computes: at every step of a greedy generation, the logits of
// the new position from the cache equal those of a full recomputation on the device and of the CPU interpreter, so
// the tokens are the same. Covered: every shipped spec that can generate, and masks that keep the cache exact
// (causal in both alignments, windows that drop keys, sinks, chunks, prefix-LM, documents, dilation, ALiBi), and
// masks that cannot (the cache is then refused with the reason, and generation recomputes).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import type { CheckedModel } from '../../src/check/model.ts';
import { lower } from '../../src/lower/passes.ts';
import { CacheInexactError, CachedDecoder } from '../../src/runtime/cached-decoder.ts';
import { interpret } from '../../src/runtime/cpu-interpreter.ts';
import { generate, gpuForward, stepInputs } from '../../src/runtime/generate.ts';
import { seededWeights } from '../../src/runtime/init-weights.ts';
import { useGpu } from './gpu-harness.ts';

const root = join(import.meta.dirname, '..', '..');

function model(text: string, path = 'spec.mdl'): CheckedModel {
  const r = checkSource(text, path);
  if (!r.model) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.model;
}

const shipped = (f: string) => model(readFileSync(join(root, 'specs', f), 'utf8'), f);

/** A small decoder-only model with the given mask (and optional score modifiers). */
function lm(mask: string, opts: { positions?: string; score?: string; kv?: number } = {}): CheckedModel {
  return model(`model lm {
  dim vocab = 53, d_model = 32, heads = 4, d_ff = 48
  dim B, T <= 96
  input ids: tokens[B, T] pad 0
  input docs: segments[B, T]
  ${opts.score ? `score s = ${opts.score}` : ''}
  mask m = ${mask}
  embed tokens: learned(vocab, d_model), positions: ${opts.positions ?? 'sinusoidal'}
  stack decoder x 2 on ids (norm = pre layer) {
    attention self heads = heads kv_heads = ${opts.kv ?? 4} mask = m ${opts.score ? 'score = s' : ''}
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab)
}`);
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

describe('decoding with a KV cache', () => {
  const gpu = useGpu();

  /**
   * Greedy generation in lock step: at each step the cached decoder, a full pass on the device and the CPU
   * interpreter get the same sequence; their last-position logits must agree. Returns the cache's last state.
   */
  async function lockStep(m: CheckedModel, prompt: number[], steps: number, source: number[] = []) {
    const lowered = lower(m);
    expect(lowered.cache.unsupported).toBeUndefined();
    const weights = seededWeights(lowered.ir, 11);
    const full = gpuForward(gpu(), lowered, m, weights);
    const cache = new CachedDecoder(gpu(), lowered, m, weights);
    const tokens = [...prompt];
    try {
      for (let step = 0; step < steps; step++) {
        const { run, length } = stepInputs(m, tokens, source);
        const cached = await cache.next(run);
        const vocab = cached.length;
        const recomputed = (await full(run)).subarray((length - 1) * vocab, length * vocab);
        const oracle = (interpret(lowered.ir, m, { ...run, weights }).get(lowered.ir.outputs[0]) as Float64Array).subarray((length - 1) * vocab, length * vocab);
        const scale = Math.max(1, maxAbs(oracle));
        expect(maxDiff(cached, recomputed) / scale, `step ${step}: cache vs full pass`).toBeLessThan(1e-4);
        expect(maxDiff(cached, oracle) / scale, `step ${step}: cache vs CPU`).toBeLessThan(1e-3);
        expect(argmax(cached), `step ${step}`).toBe(argmax(oracle));
        tokens.push(argmax(oracle));
      }
      return cache.stats();
    } finally {
      cache.destroy();
    }
  }

  it('translator (encoder-decoder): cross K/V kept, decoder input shifted on the host', async () => {
    const stats = await lockStep(shipped('translator.mdl'), [], 6, [200, 17, 45, 99, 3, 61, 7]);
    expect(stats.map((s) => s.live)).toEqual([6, 6]);
  });

  it('packed documents: rotary positions, grouped-query attention, segment ids', async () => {
    await lockStep(shipped('packed.mdl'), [5, 9, 14, 30], 5);
  });

  it('gpt2-small, shrunk to test size (learned positions, tied projection, bottom-right causal)', async () => {
    // The shipped spec unchanged but for its sizes: at 124M parameters one step takes about a minute on SwiftShader.
    const text = readFileSync(join(root, 'specs', 'gpt2-small.mdl'), 'utf8')
      .replace(/dim vocab = 50257, d_model = 768, heads = 12, layers = 12, d_ff = 3072, context = 1024/, 'dim vocab = 300, d_model = 48, heads = 4, layers = 2, d_ff = 96, context = 64')
      .replace(/T <= 1024/, 'T <= 64')
      .replace(/pad 50256/, 'pad 299');
    expect(text).toContain('d_model = 48');
    await lockStep(model(text, 'gpt2-small.mdl'), [20, 21, 22], 5);
  });

  it('mask zoo (encoder-decoder without a decoder input)', async () => {
    await lockStep(shipped('mask-zoo.mdl'), [4, 8], 4, [9, 10, 11, 12, 13]);
  });

  it('causal aligned bottom-right, with ALiBi and soft-capping: offsets reach the score modifiers', async () => {
    await lockStep(lm('causal(align = bottom_right)', { score: 'alibi, softcap(20)', kv: 2 }), [3, 4, 5], 5);
  });

  it('a sliding window drops the keys it no longer sees, and stays exact', async () => {
    const stats = await lockStep(lm('window(4)', { positions: 'rotary' }), [3, 4, 5, 6, 7, 8], 40);
    for (const s of stats) {
      // 46 keys seen; a window of 4 needs the last 3 before the next query, so most were dropped.
      expect(s.dropped + s.live).toBe(45);
      expect(s.dropped).toBeGreaterThan(30);
      expect(s.capacity).toBeLessThanOrEqual(16);
    }
  });

  it('sinks or a window: the sinks are never dropped', async () => {
    const stats = await lockStep(lm('sink(2) | window(3)'), [3, 4, 5], 8);
    for (const s of stats) expect(s.dropped).toBe(0);
  });

  it('chunks, prefix-LM inside the prompt, documents, dilation, every-third, random per head', async () => {
    await lockStep(lm('chunked(4) & causal'), [3, 4, 5], 6);
    await lockStep(lm('prefix(3)'), [3, 4, 5, 6], 4);
    await lockStep(lm('document(docs) & causal'), [3, 4], 4);
    await lockStep(lm('dilated(8, 2)'), [3, 4, 5], 6);
    await lockStep(lm('causal & (q - k) % 3 == 0'), [3, 4], 4);
    // Random bits differ per head: tile classes are kept per head.
    await lockStep(lm('causal & random(0.3, 5)'), [3, 4, 5], 4);
  });

  it('a mask that lets earlier positions see later ones is caught at the step where it happens', async () => {
    const m = lm('steps(4)');
    const lowered = lower(m);
    const weights = seededWeights(lowered.ir, 11);
    const cache = new CachedDecoder(gpu(), lowered, m, weights);
    await cache.next(stepInputs(m, [3, 4, 5, 6], []).run);
    // Position 4 starts a new time step, which positions 0–3 cannot see; position 5 shares 4's step.
    await cache.next(stepInputs(m, [3, 4, 5, 6, 7], []).run);
    await expect(cache.next(stepInputs(m, [3, 4, 5, 6, 7, 8], []).run)).rejects.toThrow(CacheInexactError);
    await expect(cache.next(stepInputs(m, [3, 4, 5, 6, 7, 8], []).run)).rejects.toThrow(/lets position 4 see the later position 5/);
    cache.destroy();
  });

  it('generation leaves the cache when it becomes inexact and still matches full recomputation', async () => {
    const m = lm('steps(4)');
    const lowered = lower(m);
    const weights = seededWeights(lowered.ir, 11);
    const forward = gpuForward(gpu(), lowered, m, weights);
    const reasons: string[] = [];
    const opts = { prompt: [3, 4, 5, 6], maxNew: 5, greedy: true };
    const cached = await generate(m, forward, { ...opts, cache: new CachedDecoder(gpu(), lowered, m, weights), onCacheAbandoned: (r) => reasons.push(r) });
    const recomputed = await generate(m, forward, opts);
    expect(cached).toEqual(recomputed);
    expect(reasons).toHaveLength(1);
  });

  it('lengths along the decoder axis: exact while they stay at the prompt length, refused when they change', async () => {
    const m = model(`model plm {
  dim vocab = 53, d_model = 32, heads = 4, d_ff = 48
  dim B, T <= 96
  input ids: tokens[B, T] pad 0
  input plen: lengths[B] of T
  mask m = prefix(plen)
  embed tokens: learned(vocab, d_model), positions: sinusoidal
  stack decoder x 2 on ids (norm = pre layer) {
    attention self heads = heads mask = m
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab)
}`);
    const lowered = lower(m);
    expect(lowered.cache.unsupported).toBeUndefined();
    const weights = seededWeights(lowered.ir, 5);
    const forward = gpuForward(gpu(), lowered, m, weights);
    const cache = new CachedDecoder(gpu(), lowered, m, weights);
    const data = { promptPositions: 4 };
    for (const tokens of [[3, 4, 5, 6], [3, 4, 5, 6, 9], [3, 4, 5, 6, 9, 12]]) {
      const { run, length } = stepInputs(m, tokens, [], undefined, data);
      const cached = await cache.next(run);
      const full = (await forward(run)).subarray((length - 1) * 53, length * 53);
      expect(maxDiff(cached, full)).toBeLessThan(1e-4 * Math.max(1, maxAbs(full)));
    }
    await expect(cache.next(stepInputs(m, [3, 4, 5, 6, 9, 12, 1], [], undefined, { promptPositions: 2 }).run)).rejects.toThrow('lengths plen changed from 4 to 2 between steps');
    cache.destroy();
  });

  it('the plan refuses masks whose earlier rows would change as the sequence grows, and says why', () => {
    expect(lower(shipped('streaming.mdl')).cache.unsupported).toMatch(/mask arrived reads the decoder length T/);
    expect(lower(lm('k < T - 2')).cache.unsupported).toMatch(/reads the decoder length T/);
    expect(lower(lm('causal & q < Lq')).cache.unsupported).toMatch(/reads the query length Lq/);
    expect(lower(lm('causal(align = bottom_right)')).cache.unsupported).toBeUndefined();
    expect(() => new CachedDecoder(gpu(), lower(shipped('streaming.mdl')), shipped('streaming.mdl'), new Map())).toThrow(CacheInexactError);
  });
});
