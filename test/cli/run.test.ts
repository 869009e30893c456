// Generation from the command line's code path: the WebGPU program and the CPU reference interpreter compute the same
// logits at every step (every position, every vocabulary entry) with the same seeded weights, and so choose the same
// tokens, for an encoder-decoder and a decoder-only spec.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import type { CheckedModel } from '../../src/check/model.ts';
import { runModel } from '../../src/cli/run-command.ts';
import { lower } from '../../src/lower/passes.ts';
import { cpuForward, generate, gpuForward, type Forward } from '../../src/runtime/generate.ts';
import { seededWeights } from '../../src/runtime/init-weights.ts';
import { useGpu } from '../runtime/gpu-harness.ts';

const root = join(import.meta.dirname, '..', '..');
const load = (f: string) => checkSource(readFileSync(join(root, 'specs', f), 'utf8'), f).model!;
const quiet = () => {};

/** Greedy generation where every step runs on both backends; returns the tokens and each step's relative logit error. */
async function bothBackends(gpu: ReturnType<ReturnType<typeof useGpu>>, model: CheckedModel, prompt: number[], source: number[] | undefined, maxNew: number) {
  const lowered = lower(model);
  const weights = seededWeights(lowered.ir, 3);
  const onGpu = gpuForward(gpu, lowered, model, weights);
  const onCpu = cpuForward(lowered, model, weights);
  const errors: number[] = [];
  let values = 0;
  const forward: Forward = async (run) => {
    const [g, c] = [await onGpu(run), await onCpu(run)];
    expect(g.length).toBe(c.length);
    let scale = 0;
    let diff = 0;
    for (let i = 0; i < c.length; i++) {
      scale = Math.max(scale, Math.abs(c[i]));
      diff = Math.max(diff, Math.abs(g[i] - c[i]));
    }
    errors.push(diff / scale);
    values += c.length;
    return c;
  };
  const tokens = await generate(model, forward, { prompt, source, maxNew, greedy: true });
  return { tokens, errors, values };
}

describe('mdl run', () => {
  const gpu = useGpu();

  it('translator: GPU and CPU generate the same tokens from the seed sentence', async () => {
    const opts = { source: '我喜欢吃苹果', input: '', maxNew: '5', seed: '3' };
    const onGpu = await runModel(load('translator.mdl'), { ...opts, backend: 'gpu' }, quiet);
    const onCpu = await runModel(load('translator.mdl'), { ...opts, backend: 'cpu' }, quiet);
    expect(onGpu.source).toHaveLength(18); // 6 characters, 3 UTF-8 bytes each
    expect(onGpu.tokens).toHaveLength(5);
    expect(onGpu.tokens).toEqual(onCpu.tokens);
    expect(onGpu.adapter).toBeTruthy();
  });

  it('a decoder-only spec with packed documents: GPU and CPU agree, sampling is reproducible', async () => {
    const opts = { input: 'mdl', maxNew: '4', seed: '5', temperature: '0.8', topK: '20' };
    const a = await runModel(load('packed.mdl'), { ...opts, backend: 'gpu' }, quiet);
    const b = await runModel(load('packed.mdl'), { ...opts, backend: 'cpu' }, quiet);
    expect(a.tokens).toEqual(b.tokens);
    expect(a.prompt).toHaveLength(3);
  });

  // Token ids: the spec's special ids come first, then the UTF-8 bytes (我喜 and "mdl").
  for (const [spec, prompt, source] of [
    ['translator.mdl', [], [3 + 0xe6, 3 + 0x88, 3 + 0x91, 3 + 0xe5, 3 + 0x96, 3 + 0x9c]],
    ['packed.mdl', [3 + 0x6d, 3 + 0x64, 3 + 0x6c], undefined],
  ] as const) {
    it(`${spec}: the device's logits equal the reference interpreter's at every step`, async () => {
      const steps = 6;
      const { tokens, errors, values } = await bothBackends(gpu(), load(spec), [...prompt], source && [...source], steps);
      expect(tokens).toHaveLength(steps);
      expect(errors).toHaveLength(steps);
      expect(values).toBeGreaterThan(steps * 300);
      for (const [step, e] of errors.entries()) expect(e, `step ${step}`).toBeLessThan(1e-3);
    });
  }
});
