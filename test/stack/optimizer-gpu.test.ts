// The optimizer step on Dawn against the CPU reference (src/runtime/training-loop.ts `trainStep`, AdamW in f64): from
// the same weights and batches, with two micro-batches accumulated, clipping active, weight decay and a frozen
// parameter, the weights and both moments agree within 1e-4 (norm-wise, per parameter) after each of two steps;
// the frozen parameter keeps its exact bytes on both; and the device repeats itself bit for bit. The programs a
// profile times (`encodeStep`) take the same step as `step`.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTrainingIr } from '../../src/ir/training.ts';
import { buildGradGraph } from '../../src/lower/grad.ts';
import { freshState, type OptimizerState } from '../../src/runtime/adamw.ts';
import { DeviceTrainer } from '../../src/runtime/gpu-training.ts';
import { seededWeights } from '../../src/runtime/init-weights.ts';
import type { TrainingBatch } from '../../src/runtime/training-data.ts';
import { trainStep, type StepConfig } from '../../src/runtime/training-loop.ts';
import { useGpu } from '../runtime/gpu-harness.ts';
import { checkedModel, relativeError, tokenRows } from '../support/gpu-gradients.ts';

const gpu = useGpu();
const specs = join(import.meta.dirname, '..', '..', 'specs');

function shrunk(file: string, dims: Record<string, string>): string {
  let text = readFileSync(join(specs, file), 'utf8');
  for (const [name, value] of Object.entries(dims)) text = text.replace(new RegExp(`\\b${name} = [^,\\n]+`), `${name} = ${value}`);
  return text;
}

const copy = (w: Map<string, Float32Array>) => new Map([...w].map(([n, a]) => [n, a.slice()]));
const copyState = (s: OptimizerState): OptimizerState => ({ step: s.step, m: copy(s.m), v: copy(s.v) });

async function compareSteps(text: string, batches: TrainingBatch[], frozen: string) {
  const model = checkedModel(text);
  const graph = buildGradGraph(buildTrainingIr(model));
  expect(graph.grads.has(frozen)).toBe(true);
  const config: StepConfig = {
    graph,
    model,
    batches,
    seed: 3,
    accumulate: 2,
    clip: 0.05,
    adamw: { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 },
    schedule: { lr: 1e-2, warmup: 0, total: 10, schedule: 'cosine' },
    frozen: new Set([frozen]),
  };
  const start = seededWeights(graph, 11);
  const cpuWeights = copy(start);
  const cpuState = freshState(start);
  const devWeights = copy(start);
  const devState = freshState(start);
  const trainer = new DeviceTrainer(gpu(), graph, model, devWeights, devState, config.frozen);
  try {
    for (let step = 1; step <= 2; step++) {
      const cpu = trainStep(config, cpuWeights, cpuState);
      const dev = await trainer.step(config, devState);
      await trainer.download(devWeights, devState);
      expect(devState.step).toBe(step);
      expect(dev.counted).toBe(cpu.counted);
      expect(dev.lr).toBe(cpu.lr);
      expect(Math.abs(dev.loss - cpu.loss)).toBeLessThan(1e-4 * cpu.loss);
      // Clipping is active: the norm is above the threshold, and both backends measured the same norm.
      expect(cpu.gradNorm).toBeGreaterThan(config.clip * 2);
      expect(Math.abs(dev.gradNorm - cpu.gradNorm)).toBeLessThan(1e-4 * cpu.gradNorm);
      for (const [name, ref] of cpuWeights) {
        if (name === frozen) continue;
        if (name.endsWith('k_proj.bias')) {
          // Its gradient is zero in exact arithmetic (softmax ignores a shift shared by every key), so each backend
          // holds only its own round-off there (1e-17 in f64, 1e-9 in f32), and AdamW's normalisation turns either
          // into a step of up to about lr. What both must do is stay within those steps of zero.
          for (const w of [ref, devWeights.get(name)!]) expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(2 * config.schedule.lr * step);
          continue;
        }
        // Each weight moved, and the device moved it to where the reference did.
        expect(relativeError(ref, start.get(name)!)).toBeGreaterThan(0);
        const err = relativeError(devWeights.get(name)!, ref);
        expect(err, `${name} after step ${step}: ${err}`).toBeLessThan(1e-4);
        for (const moment of ['m', 'v'] as const) {
          const e = relativeError(devState[moment].get(name)!, cpuState[moment].get(name)!, 1e-30);
          expect(e, `${moment}.${name} after step ${step}: ${e}`).toBeLessThan(1e-4);
        }
      }
      expect(Buffer.from(devWeights.get(frozen)!.buffer).equals(Buffer.from(start.get(frozen)!.buffer))).toBe(true);
      expect(Buffer.from(cpuWeights.get(frozen)!.buffer).equals(Buffer.from(start.get(frozen)!.buffer))).toBe(true);
    }
  } finally {
    trainer.release();
  }
  // The same two steps again on a fresh trainer: the same bytes.
  const again = copy(start);
  const againState = freshState(start);
  const second = new DeviceTrainer(gpu(), graph, model, again, againState, config.frozen);
  try {
    await second.step(config, againState);
    await second.step(config, againState);
    await second.download(again, againState);
  } finally {
    second.release();
  }
  for (const [name, w] of devWeights) expect(Buffer.from(again.get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
  return { trainer, memory: trainer.memory };
}

describe('AdamW on WebGPU agrees with the CPU reference', () => {
  it('translator-shaped (encoder-decoder, tied table): accumulation 2, clipping, weight decay, a frozen norm', async () => {
    const text = shrunk('translator.mdl', { vocab: '300', d_model: '16', heads: '2', d_ff: '24' });
    const batches: TrainingBatch[] = [
      { dims: { B: 2, S: 5, T: 7 }, inputs: { src: tokenRows(2, 5, 300, 1), tgt: tokenRows(2, 7, 300, 2) }, examples: 2 },
      { dims: { B: 1, S: 3, T: 4 }, inputs: { src: tokenRows(1, 3, 300, 3), tgt: tokenRows(1, 4, 300, 4) }, examples: 1 },
    ];
    const { memory } = await compareSteps(text, batches, 'encoder.layers.0.self_attn_norm.weight');
    // The peak counts everything the step holds at once, so it is at least the parts that must be there.
    expect(memory.peak).toBeGreaterThanOrEqual(memory.params + memory.optimizer);
    expect(memory.activations).toBeGreaterThan(0);
  }, 180_000);

  it('decoder-only (gpt2-small shrunk): accumulation 2, clipping, weight decay, a frozen projection', async () => {
    const text = shrunk('gpt2-small.mdl', { vocab: '300', d_model: '16', heads: '2', layers: '2', d_ff: '24', context: '16' }).replace('pad 50256', 'pad 0').replace('T <= 1024', 'T <= 16');
    const batches: TrainingBatch[] = [
      { dims: { B: 2, T: 9 }, inputs: { ids: tokenRows(2, 9, 300, 5) }, examples: 2 },
      { dims: { B: 3, T: 5 }, inputs: { ids: tokenRows(3, 5, 300, 6) }, examples: 3 },
    ];
    await compareSteps(text, batches, 'decoder.layers.1.ffn.up_proj.weight');
  }, 180_000);

  it('the programs encodeStep gives (what a profile times) take the same first step as `step`, bit for bit', async () => {
    const text = shrunk('gpt2-small.mdl', { vocab: '300', d_model: '16', heads: '2', layers: '1', d_ff: '24', context: '16' }).replace('pad 50256', 'pad 0').replace('T <= 1024', 'T <= 16');
    const model = checkedModel(text);
    const graph = buildGradGraph(buildTrainingIr(model));
    const batch: TrainingBatch = { dims: { B: 2, T: 9 }, inputs: { ids: tokenRows(2, 9, 300, 7) }, examples: 2 };
    const config: StepConfig = {
      graph,
      model,
      batches: [batch],
      seed: 1,
      accumulate: 1,
      clip: 0,
      adamw: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 },
      schedule: { lr: 1e-2, warmup: 0, total: 10, schedule: 'constant' },
      frozen: new Set(),
    };
    const start = seededWeights(graph, 5);
    const results: Map<string, Float32Array>[] = [];
    for (const how of ['step', 'encodeStep'] as const) {
      const weights = copy(start);
      const state = freshState(start);
      const trainer = new DeviceTrainer(gpu(), graph, model, weights, state, config.frozen);
      try {
        if (how === 'step') await trainer.step(config, state);
        else {
          const parts = await trainer.encodeStep(config, batch);
          try {
            expect(parts.map((p) => p.encoded.steps)).toEqual(parts.map((p) => p.program.steps.length));
            const encoder = gpu().device.createCommandEncoder();
            for (const p of parts) p.encoded.encode(encoder);
            gpu().device.queue.submit([encoder.finish()]);
            await gpu().device.queue.onSubmittedWorkDone();
          } finally {
            for (const p of parts) p.encoded.release();
          }
        }
        await trainer.download(weights, state);
      } finally {
        trainer.release();
      }
      results.push(weights);
    }
    for (const [name, w] of results[0]) {
      // Every weight moved (but k_proj.bias, whose gradient is zero in exact arithmetic: see above).
      if (!name.endsWith('k_proj.bias')) expect(relativeError(w, start.get(name)!), name).toBeGreaterThan(0);
      expect(Buffer.from(results[1].get(name)!.buffer).equals(Buffer.from(w.buffer)), name).toBe(true);
    }
  }, 180_000);
});
