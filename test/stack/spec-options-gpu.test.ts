// The spec options on WebGPU, each model against the CPU reference: the full forward pass, KV-cache decoding step by
// step (the cached logits against a full pass and the interpreter), and every parameter's gradient from the training
// program. The models set every option away from its default: rotary halves with θ and a fraction, an unscaled
// embedding, no biases, ε, the exact GELU, learned positions with an offset, the embedding norm with post-norm,
// concatenated sinusoids, unscaled attention scores and a layer norm without β.

import { describe, expect, it } from 'vitest';
import { lower } from '../../src/lower/passes.ts';
import { CachedDecoder } from '../../src/runtime/cached-decoder.ts';
import { interpret } from '../../src/runtime/cpu-interpreter.ts';
import { gpuForward, stepInputs } from '../../src/runtime/generate.ts';
import { seededWeights } from '../../src/runtime/init-weights.ts';
import { runProgram } from '../../src/runtime/program.ts';
import { useGpu } from '../runtime/gpu-harness.ts';
import { checkedModel, compareWithCpu, tokenRows } from '../support/gpu-gradients.ts';

const lm = (embed: string, stack: string, layers: string, scores = '') => `model t {
  dim vocab = 40, d_model = 16, heads = 2, d_ff = 24
  dim B, T <= 16
  input ids: tokens[B, T] pad 0
  ${scores}
  embed ${embed}
  stack decoder x 2 on ids (${stack}) {
    ${layers}
  }
  output logits = project(decoder, vocab)
  loss lm = cross_entropy(logits, labels = next(ids))
}`;

const MODELS: [string, string][] = [
  [
    'Llama-like: rotary halves θ 500000 over half of each head, unscaled embedding, no biases, rms ε 1e-6, SwiGLU',
    lm('tokens: learned(vocab, d_model, scale = 1), positions: rotary(style = halves, theta = 500000, fraction = 0.5)', 'norm = pre rms, eps = 1e-6, bias = false', 'attention self heads = heads mask = causal\n    ffn d_ff swiglu'),
  ],
  [
    'BART-like: learned positions offset by 2, embedding norm, post-norm, exact GELU, attention without biases, tied output with a logits bias',
    lm('tokens: learned(vocab, d_model, scale = 1), positions: learned(18, offset = 2)', 'norm = post layer, embed_norm = layer', 'attention self heads = heads mask = causal bias = false\n    ffn d_ff gelu_erf').replace('project(decoder, vocab)', 'project(decoder, vocab, tied = tokens, bias = true)'),
  ],
  [
    'T5-like scores (scale = 1), gated GELU (geglu), concatenated sinusoids, layer norms without β',
    lm('tokens: learned(vocab, d_model), positions: sinusoidal(layout = concatenated)', 'norm = pre layer, bias = false, eps = 1e-6', 'attention self heads = heads mask = causal scale = 1\n    ffn d_ff geglu bias = true'),
  ],
  [
    'T5’s shared relative bias and BLOOM’s ALiBi form (slope · k) under a causal mask',
    lm('tokens: learned(vocab, d_model, scale = 1), positions: none', 'norm = pre rms, eps = 1e-6, bias = false', 'attention self heads = heads mask = causal score = t5 scale = 1\n    attention self heads = heads mask = causal score = bloom\n    ffn d_ff relu', 'score t5 = relative_bias(buckets = 4, max_distance = 8, bidirectional = false, shared = true)\n  score bloom = alibi(form = key)'),
  ],
];

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, x) => Math.max(m, Math.abs(x)), 0);

describe('spec options on WebGPU vs the CPU reference', () => {
  const gpu = useGpu();

  for (const [name, text] of MODELS) {
    it(`${name}: forward, cached decoding and gradients`, async () => {
      const m = checkedModel(text);
      const lowered = lower(m);
      // Every tensor, biases and norm scales included, away from mdl init's zeros and ones, so each option's term shows.
      const weights = new Map([...seededWeights(lowered.ir, 9)].map(([name, v]) => [name, Float32Array.from(v, (_, i) => 0.4 * Math.sin(i * 12.9898 + name.length * 78.233))]));
      // The full pass, with padding in the second row.
      const run = { dims: { B: 2, T: 7 }, inputs: { ids: tokenRows(2, 7, 40, 3) }, weights };
      const want = interpret(lowered.ir, m, run).get(lowered.ir.outputs[0])!;
      const got = (await runProgram(gpu(), lowered, m, run)).get(lowered.ir.outputs[0])!;
      expect(maxAbs(want)).toBeGreaterThan(0);
      expect(maxDiff(got, want) / Math.max(1, maxAbs(want)), 'full pass').toBeLessThan(1e-4);

      // Greedy decoding through the cache: every step's logits against a full pass and the interpreter.
      expect(lowered.cache.unsupported).toBeUndefined();
      const full = gpuForward(gpu(), lowered, m, weights);
      const cache = new CachedDecoder(gpu(), lowered, m, weights);
      const tokens = [5, 9, 14];
      try {
        for (let step = 0; step < 4; step++) {
          const { run: r, length } = stepInputs(m, tokens, []);
          const cached = await cache.next(r);
          const vocab = cached.length;
          const recomputed = (await full(r)).subarray((length - 1) * vocab, length * vocab);
          const oracle = (interpret(lowered.ir, m, { ...r, weights }).get(lowered.ir.outputs[0]) as Float64Array).subarray((length - 1) * vocab, length * vocab);
          const scale = Math.max(1, maxAbs(oracle));
          expect(maxDiff(cached, recomputed) / scale, `step ${step}: cache vs full pass`).toBeLessThan(1e-4);
          expect(maxDiff(cached, oracle) / scale, `step ${step}: cache vs CPU`).toBeLessThan(1e-3);
          tokens.push(3 + ((step * 7) % 30));
        }
      } finally {
        cache.destroy();
      }

      // Gradients of every parameter from the training program.
      await compareWithCpu(gpu(), text, { B: 2, T: 7 }, { ids: tokenRows(2, 7, 40, 4) });
    }, 240_000);
  }

  it('without a mask, where BLOOM’s form and the distance form differ: gradients of the shared table and the rest', async () => {
    const text = lm('tokens: learned(vocab, d_model, scale = 1), positions: none', 'norm = pre rms, bias = false', 'attention self heads = heads score = t5\n    attention self heads = heads score = bloom\n    ffn d_ff relu', 'score t5 = relative_bias(buckets = 4, max_distance = 8, shared = true)\n  score bloom = alibi(form = key)');
    const { cpu } = await compareWithCpu(gpu(), text, { B: 2, T: 7 }, { ids: tokenRows(2, 7, 40, 5) });
    expect([...cpu.grads.keys()].filter((k) => k.includes('relative_attention_bias'))).toEqual(['decoder.layers.0.self_attn.relative_attention_bias.weight']);
  }, 240_000);
});
