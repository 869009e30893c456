// Shared by the GPU gradient tests: token rows with repeated ids and padding, the norm-wise relative error, and a
// comparison of the training program on the device with the CPU reference in f64 for one spec and batch.

import { lowerTraining } from '../../src/lower/train-schedule.ts';
import type { ScheduleOptions } from '../../src/lower/schedule.ts';
import { expect } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { buildTrainingIr } from '../../src/ir/training.ts';
import { buildGradGraph } from '../../src/lower/grad.ts';
import { runBackward } from '../../src/runtime/cpu-training.ts';
import type { GpuContext } from '../../src/runtime/device.ts';
import { runTraining } from '../../src/runtime/program.ts';
import { seededWeights } from '../../src/runtime/init-weights.ts';

/** Token rows with repeated ids (a small range) and padding (id 0) at the end of later rows. */
export function tokenRows(batch: number, length: number, vocab: number, seed: number): Int32Array {
  return Int32Array.from({ length: batch * length }, (_, i) => {
    const b = Math.floor(i / length);
    const t = i % length;
    if (b > 0 && t >= length - 2 * b) return 0;
    return 3 + ((i * 7 + seed * 13) % Math.min(9, vocab - 3));
  });
}

export const norm = (a: ArrayLike<number>): number => Math.sqrt(Array.from(a).reduce((s, x) => s + x * x, 0));

/**
 * ‖a − b‖ / ‖b‖, the per-parameter agreement `mdl grad` promises between its backends. A gradient that is zero in
 * exact arithmetic (a key projection's bias: softmax ignores a shift shared by every key) is measured against
 * `floor` instead (1e-6 of the model's largest gradient norm), since f32 leaves round-off of that order in it.
 */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>, floor = 1e-30): number {
  return norm(Array.from(a, (x, i) => x - b[i])) / Math.max(norm(b), floor);
}

export function checkedModel(text: string) {
  const r = checkSource(text, 'spec.mdl');
  if (!r.model) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.model;
}

/** Runs both backends on seeded weights and expects the same counted positions, loss and every gradient. */
export async function compareWithCpu(gpu: GpuContext, text: string, dims: Record<string, number>, inputs: Record<string, Int32Array>, seed = 5, options: ScheduleOptions = {}) {
  const m = checkedModel(text);
  const g = buildGradGraph(buildTrainingIr(m));
  const weights = seededWeights(g, seed);
  const cpu = runBackward(g, m, { dims, inputs, weights });
  const dev = await runTraining(gpu, g, m, { dims, inputs, weights }, lowerTraining(g, m, options));
  expect(cpu.counted).toBeGreaterThan(0);
  expect(dev.counted).toBe(cpu.counted);
  expect(Math.abs(dev.loss - cpu.loss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu.loss)));
  expect([...dev.grads.keys()]).toEqual([...cpu.grads.keys()]);
  const floor = 1e-6 * Math.max(...[...cpu.grads.values()].map(norm));
  for (const [name, ref] of cpu.grads) {
    const err = relativeError(dev.grads.get(name)!, ref, floor);
    expect(err, `${name}: relative error ${err}`).toBeLessThan(1e-3);
  }
  return { cpu, dev };
}
