// The lowering stages `mdl dump --stage NAME` can print, each from a checked model, in pipeline order. The command
// line adds them to the front end's stages (src/cli/front-end-commands.ts).

import type { CheckedModel } from '../check/model.ts';
import { printIr } from '../ir/print.ts';
import { buildTrainingIr } from '../ir/training.ts';
import { buildGradGraph } from './grad.ts';
import { lower, PASSES } from './passes.ts';
import { printProgram } from './print-program.ts';
import { lowerTraining } from './train-schedule.ts';
import { trainingPrograms } from './training-programs.ts';

function passText(name: string, model: CheckedModel): string {
  const pass = PASSES.find((p) => p.name === name);
  if (!pass) throw new Error(`no lowering pass named ${name}`);
  return pass.print(lower(model));
}

export const loweringDumpStages: Record<string, (model: CheckedModel) => string> = {
  fuse: (model) => passText('fuse', model),
  schedule: (model) => passText('schedule', model),
  wgsl: (model) => {
    const { kernels } = lower(model).rendered;
    return kernels.map((k) => `// ---- ${k.file}\n${k.wgsl.endsWith('\n') ? k.wgsl : `${k.wgsl}\n`}`).join('\n');
  },
  manifest: (model) => passText('render', model),
  cache: (model) => passText('cache', model),
  decode: (model) => passText('decode', model),
  // The forward graph, the loss and the backward graph of a spec that declares a loss (NoLossError otherwise).
  grad: (model) => printIr(buildGradGraph(buildTrainingIr(model))),
  // The forward pass, the loss and the backward pass as one program of kernel launches, verified against its kernels.
  train: (model) => printProgram(lowerTraining(buildGradGraph(buildTrainingIr(model)), model).program),
  // The optimizer's programs: gradients accumulated per micro-batch, then the global norm, clipping and AdamW.
  optimizer: (model) =>
    trainingPrograms(model)
      .filter((p) => p.name === 'accumulate' || p.name === 'optimizer')
      .map((p) => `# ${p.name}\n${printProgram(p.program)}${printScalars(p.program.scalars)}`)
      .join('\n'),
};

function printScalars(scalars: Record<string, string> | undefined): string {
  return Object.entries(scalars ?? {}).map(([name, about]) => `  $${name}: ${about}\n`).join('');
}
