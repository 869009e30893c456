// Learned relative-position bias (T5): the bucket function against values worked out by hand from T5's definition,
// the kernel's integer thresholds against the bucket function, the fused kernel against the CPU oracle, a whole
// model on Dawn against the interpreter, and KV-cache decoding with it.

import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { lower } from '../../src/lower/passes.ts';
import { CachedDecoder } from '../../src/runtime/cached-decoder.ts';
import { interpret } from '../../src/runtime/cpu-interpreter.ts';
import { gpuForward, stepInputs } from '../../src/runtime/generate.ts';
import { seededWeights } from '../../src/runtime/init-weights.ts';
import { runProgram } from '../../src/runtime/program.ts';
import type { RelativeBiasShape } from '../../src/check/relative-bias-shape.ts';
import { bucketThresholds, relativeBucket } from '../../src/wgsl/relative-bias.ts';
import type { ScoreModifier } from '../../src/wgsl/score-modifiers.ts';
import { runCase, useGpu } from './gpu-harness.ts';
import { causalTopLeft, randomFloats } from './mask-fixtures.ts';

const t5: RelativeBiasShape = { buckets: 32, maxDistance: 128, bidirectional: true };

describe('relative-position buckets', () => {
  it('match T5 worked by hand (32 buckets, 16 per direction, exact below 8, log up to 128)', () => {
    // bucket(d) = 8 + trunc(ln(d / 8) / ln(16) · 8) for 8 ≤ d < 128, else 15; keys after the query add 16.
    const byHand: [number, number][] = [[0, 0], [-1, 1], [-7, 7], [-8, 8], [-12, 9], [-16, 10], [-32, 12], [-64, 14], [-127, 15], [-128, 15], [-5000, 15], [1, 17], [5, 21], [16, 26], [200, 31]];
    for (const [rel, bucket] of byHand) expect(relativeBucket(rel, t5), `k - q = ${rel}`).toBe(bucket);
    // Unidirectional: keys after the query share bucket 0; 32 buckets, exact below 16.
    const causal = { ...t5, bidirectional: false };
    for (const [rel, bucket] of [[5, 0], [0, 0], [-15, 15], [-16, 16], [-32, 16 + Math.trunc((Math.log(2) / Math.log(8)) * 16)], [-1000, 31]]) {
      expect(relativeBucket(rel, causal), `k - q = ${rel}`).toBe(bucket);
    }
  });

  it('the kernel’s thresholds give the same bucket at every distance', () => {
    for (const shape of [t5, { ...t5, bidirectional: false }, { buckets: 4, maxDistance: 3, bidirectional: true }, { buckets: 10, maxDistance: 1000, bidirectional: false }]) {
      const thresholds = bucketThresholds(shape);
      const perSide = shape.bidirectional ? shape.buckets / 2 : shape.buckets;
      const exact = Math.floor(perSide / 2);
      for (let d = 0; d < 3 * shape.maxDistance; d++) {
        const kernel = d < exact ? d : exact + thresholds.filter((t) => d >= t).length;
        expect(kernel, `${JSON.stringify(shape)} d=${d}`).toBe(relativeBucket(-d, shape));
      }
    }
  });
});

describe('relative_bias on Dawn', () => {
  const gpu = useGpu();

  it.each([true, false])('fused attention matches the CPU oracle (bidirectional %s), with and without a mask', async (bidirectional) => {
    const heads = 4;
    const shape = { buckets: 8, maxDistance: 20, bidirectional };
    const table = randomFloats(shape.buckets * heads, 5, 2);
    const modifiers: ScoreModifier[] = [{ kind: 'relative_bias', heads, table, ...shape }, { kind: 'softcap', cap: 5 }];
    for (const fixture of [undefined, causalTopLeft]) {
      const r = await runCase(gpu(), { batch: 2, lq: 37, lk: 45, heads, kvHeads: 2, headDim: 32, fixture, kernel: { modifiers }, scoreTable: table });
      expect(r.error, fixture?.name ?? 'no mask').toBeLessThan(1e-4);
    }
  });

  const spec = `model t5ish {
  dim vocab = 61, d_model = 32, heads = 4, d_ff = 64
  dim B, S <= 32, T <= 32
  input src: tokens[B, S] pad 0
  input tgt: tokens[B, T] pad 0 bos 1 eos 2
  decoder_input dec_in = shift_right(tgt, bos = 1, eos = 2)
  score enc_bias = relative_bias(buckets = 8, max_distance = 16)
  score dec_bias = relative_bias(buckets = 8, max_distance = 16, bidirectional = false)
  embed tokens: learned(vocab, d_model), positions: none
  stack encoder x 1 on src (norm = pre rms) {
    attention self heads = heads mask = key_padding(src) score = enc_bias
    ffn d_ff relu
  }
  stack decoder x 2 on dec_in (norm = pre rms) {
    attention self heads = heads mask = causal & key_padding(dec_in) score = dec_bias
    attention cross memory = encoder heads = heads mask = key_padding(src)
    ffn d_ff relu
  }
  output logits = project(decoder, vocab, tied = tokens)
}`;

  it('a T5-like encoder-decoder: the forward pass matches the interpreter, and KV-cache decoding matches the full pass', async () => {
    const r = checkSource(spec, 't5ish.mdl');
    expect(r.diagnostics.map((d) => d.message)).toEqual([]);
    const m = r.model!;
    const lowered = lower(m);
    expect(lowered.ir.nodes.filter((n) => n.id.endsWith('relative_attention_bias.weight')).map((n) => n.id)).toEqual([
      '%encoder.layers.0.self_attn.relative_attention_bias.weight',
      '%decoder.layers.0.self_attn.relative_attention_bias.weight',
      '%decoder.layers.1.self_attn.relative_attention_bias.weight',
    ]);
    const weights = seededWeights(lowered.ir, 4);
    // Learned biases of a visible size, so that a wrong bucket shows in the logits.
    for (const [name, w] of weights) if (name.endsWith('relative_attention_bias.weight')) w.set(randomFloats(w.length, name.length, 3));
    const run = { dims: { B: 2, S: 9, T: 7 }, inputs: { src: Int32Array.from({ length: 18 }, (_, i) => (i % 9 < 7 || i < 9 ? 3 + i : 0)), tgt: Int32Array.from({ length: 14 }, (_, i) => 5 + i) } };
    const cpu = interpret(lowered.ir, m, { ...run, weights }).get(lowered.ir.outputs[0])!;
    const got = (await runProgram(gpu(), lowered, m, { ...run, weights })).get(lowered.program.outputs[0])!;
    let err = 0;
    for (let i = 0; i < cpu.length; i++) err = Math.max(err, Math.abs(cpu[i] - got[i]));
    expect(err).toBeLessThan(1e-3);

    const cache = new CachedDecoder(gpu(), lowered, m, weights);
    const full = gpuForward(gpu(), lowered, m, weights);
    const tokens: number[] = [];
    const source = [3, 4, 5, 6, 7, 8];
    for (let step = 0; step < 4; step++) {
      const { run: s, length } = stepInputs(m, tokens, source);
      const a = await cache.next(s);
      const b = (await full(s)).subarray((length - 1) * a.length, length * a.length);
      let d = 0;
      for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
      expect(d, `step ${step}`).toBeLessThan(1e-4);
      tokens.push(10 + step);
    }
    cache.destroy();
  });
});
