// Gradients on WebGPU: the training program (src/lower/train-schedule.ts) rendered and run by the program runner,
// the labels worked out on the host first exactly as the CPU reference does (`labelsOf`: pad, `next`, `within`
// and the loss's count predicate). The result has the CPU reference's shape: the loss, the counted positions and
// every parameter's gradient by name.

import type { CheckedModel } from '../check/model.ts';
import type { GradGraph } from '../lower/grad.ts';
import { lossBuffers, lowerTraining } from '../lower/train-schedule.ts';
import { evalDim, type RunInputs, type Tensor } from './cpu-interpreter.ts';
import { labelsOf } from './cpu-training.ts';
import type { GpuContext } from './device.ts';
import { maskEnv, runProgram } from './program.ts';

export interface GpuTrainingResult {
  loss: number;
  counted: number;
  grads: Map<string, Float32Array>;
}


export async function runTraining(gpu: GpuContext, g: GradGraph, m: CheckedModel, run: RunInputs, lowered = lowerTraining(g, m)): Promise<GpuTrainingResult> {
  const labelsNode = g.nodes.find((n) => n.op === 'labels');
  if (!labelsNode) throw new Error('the training graph has no labels node');
  const get = (id: string): Tensor => {
    const v = run.inputs[id.slice(1)];
    if (!(v instanceof Int32Array)) throw new Error(`the labels read ${id}, which is not a token input`);
    return v;
  };
  for (const d of labelsNode.shape) evalDim(d, run.dims);
  const { labels, counted } = labelsOf(labelsNode, get, m, maskEnv(m, run), run.dims);
  const inputs = { ...run.inputs, [labelsNode.id.slice(1)]: labels };
  const out = await runProgram(gpu, lowered, m, { ...run, inputs });
  const value = (id: string) => out.get(id) as Float32Array;
  const gpuCount = value(lossBuffers(g.loss).count)[0];
  if (gpuCount !== counted) throw new Error(`the device counted ${gpuCount} positions, the host ${counted}`);
  const grads = new Map([...g.grads].map(([name, id]) => [name, value(id)]));
  return { loss: value(g.loss)[0], counted, grads };
}
