// Every program `mdl train` and `mdl eval` run, lowered together for `mdl compile` (train.manifest.json,
// eval.manifest.json, accumulate.manifest.json, optimizer.manifest.json beside the full pass's manifest) and for
// `mdl dump --stage optimizer`. A kernel whose WGSL equals one already rendered (the evaluation program runs the
// training program's forward kernels) is that kernel, file name included, so a compiled folder holds it once.
// The optimizer programs are lowered with no parameter frozen; `mdl train --freeze` lowers its own.

import type { CheckedModel } from '../check/model.ts';
import type { Lowered } from './passes.ts';
import { buildTrainingIr } from '../ir/training.ts';
import { buildGradGraph, type GradGraph } from './grad.ts';
import { scheduleAccumulate, scheduleOptimizerStep, trainedParams, type LoweredProgram } from './optimizer-program.ts';
import { render, type RenderedKernel } from './render.ts';
import { scheduleTraining } from './train-schedule.ts';
import type { ScheduleOptions } from './schedule.ts';

export interface NamedProgram extends LoweredProgram {
  /** The manifest's name without `.manifest.json`, and the prefix of the kernel files only this program runs. */
  name: 'train' | 'eval' | 'accumulate' | 'optimizer';
}

export const TRAINING_MANIFESTS = ['train', 'eval', 'accumulate', 'optimizer'].map((n) => `${n}.manifest.json`);

/** The training programs of a spec that declares a loss, rendered in run order; `shared`: kernels already written. */
export function trainingPrograms(model: CheckedModel, shared: readonly RenderedKernel[] = [], graph: GradGraph = buildGradGraph(buildTrainingIr(model)), options: ScheduleOptions = {}): NamedProgram[] {
  const params = trainedParams(graph);
  const out: NamedProgram[] = [];
  const kernels = [...shared];
  const add = (name: NamedProgram['name'], program: LoweredProgram['program']) => {
    const rendered = render(program, `${name}-`, undefined, kernels);
    kernels.push(...rendered.kernels.filter((k) => !kernels.includes(k)));
    out.push({ name, program, rendered });
  };
  add('train', scheduleTraining(graph, model, options));
  add('eval', scheduleTraining(graph, model, options, true));
  add('accumulate', scheduleAccumulate(graph.model, params));
  add('optimizer', scheduleOptimizerStep(graph.model, params));
  return out;
}

/** The training programs to compile with a lowered spec (none without a loss), sharing the kernels it already has. */
export function compiledTrainingPrograms(model: CheckedModel, lowered: Pick<Lowered, 'rendered' | 'decode'>, options: ScheduleOptions = {}): NamedProgram[] {
  if (!model.loss || !model.output) return [];
  const shared = [...lowered.rendered.kernels, ...(lowered.decode ? [...lowered.decode.prefill.rendered.kernels, ...lowered.decode.step.rendered.kernels] : [])];
  return trainingPrograms(model, shared, undefined, options);
}
