// Per-stack learned positions on WebGPU against the CPU reference: the full forward pass, KV-cache decoding step by
// step (the decoder's table read at each new position, the encoder's once), and the gradients of every parameter,
// both tables included, from the training program.

import { describe, expect, it } from 'vitest';
import { lower } from '../../src/lower/passes.ts';
import { CachedDecoder } from '../../src/runtime/cached-decoder.ts';
import { interpret } from '../../src/runtime/cpu-interpreter.ts';
import { gpuForward, stepInputs } from '../../src/runtime/generate.ts';
import { seededWeights } from '../../src/runtime/init-weights.ts';
import { runProgram } from '../../src/runtime/program.ts';
import { useGpu } from '../runtime/gpu-harness.ts';
import { checkedModel, compareWithCpu } from '../support/gpu-gradients.ts';
import { STACK_POSITIONS_SPEC } from '../support/stack-positions-spec.ts';

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => Array.from(a).reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, x) => Math.max(m, Math.abs(x)), 0);

describe('per-stack learned positions on WebGPU vs the CPU reference', () => {
  const gpu = useGpu();

  it('forward, cached decoding and gradients', async () => {
    const m = checkedModel(STACK_POSITIONS_SPEC);
    const lowered = lower(m);
    // Away from init's zeros and ones, so the position rows, norms and logits bias all show.
    const weights = new Map([...seededWeights(lowered.ir, 9)].map(([name, v]) => [name, Float32Array.from(v, (_, i) => 0.4 * Math.sin(i * 12.9898 + name.length * 78.233))]));
    expect([...weights.keys()]).toEqual(expect.arrayContaining(['encoder.positions.weight', 'decoder.positions.weight']));
    const inputs = { src: Int32Array.from([5, 6, 7, 8, 9, 1, 11, 12, 13, 14, 15, 16]), tgt: Int32Array.from([20, 21, 22, 2, 1, 23, 24, 25, 26, 2]) };
    const run = { dims: { B: 2, S: 6, T: 5 }, inputs, weights };
    const want = interpret(lowered.ir, m, run).get(lowered.ir.outputs[0])!;
    const got = (await runProgram(gpu(), lowered, m, run)).get(lowered.ir.outputs[0])!;
    expect(maxAbs(want)).toBeGreaterThan(0);
    expect(maxDiff(got, want) / Math.max(1, maxAbs(want)), 'full pass').toBeLessThan(1e-4);

    expect(lowered.cache.unsupported).toBeUndefined();
    const full = gpuForward(gpu(), lowered, m, weights);
    const cache = new CachedDecoder(gpu(), lowered, m, weights);
    const tokens = [20, 21];
    const source = [5, 6, 7, 8, 9];
    try {
      for (let step = 0; step < 5; step++) {
        const { run: r, length } = stepInputs(m, tokens, source);
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

    const { cpu } = await compareWithCpu(gpu(), STACK_POSITIONS_SPEC, { B: 2, S: 6, T: 5 }, inputs);
    expect([...cpu.grads.keys()]).toEqual(expect.arrayContaining(['encoder.positions.weight', 'decoder.positions.weight']));
  }, 300_000);
});
