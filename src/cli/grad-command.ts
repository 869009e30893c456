// `mdl grad FILE --data DATA [--backend gpu|cpu] [--weights W] -o grads.safetensors`: the loss the spec declares
// and the gradient of every parameter for one batch (the whole data file), computed by the training program on
// WebGPU (the default) or by the CPU reference in f64, and written with the parameters' own names (f32), the loss
// in the metadata. The training program is built (and verified) before a device is asked for.

import type { Command } from 'commander';
import { lowerTraining } from '../lower/train-schedule.ts';
import { runBackward } from '../runtime/cpu-training.ts';
import { acquireGpu } from '../runtime/device.ts';
import { tunedTrainingOptions } from './train-backend.ts';
import { runTraining } from '../runtime/program.ts';
import { DEFAULT_SEED, paramsOf, seededWeights } from '../runtime/init-weights.ts';
import { writeSafetensors } from '../runtime/safetensors.ts';
import { loadWeightsFile } from '../runtime/safetensors-file.ts';
import { requireModel } from './load.ts';
import { checkOutputFile, writeOutputFile } from './output-file.ts';
import { gradGraph, readBatch } from './training-inputs.ts';
import { TOKENIZER_FLAG, tokenizerFor, VOCAB_FLAG } from './tokenizer-flags.ts';
import { UserError } from './user-error.ts';

interface GradOptions {
  data: string;
  output: string;
  weights?: string;
  vocab?: string;
  tokenizer?: string;
  backend?: string;
  force?: boolean;
}

export function registerGradCommand(program: Command): void {
  program
    .command('grad')
    .description('compute the declared loss and the gradient of every parameter for one batch of data')
    .argument('<file>', '.mdl spec file (with a loss declaration)')
    .requiredOption('--data <file>', 'training data: source<TAB>target lines (encoder-decoder), text lines or JSONL (decoder-only)')
    .requiredOption('-o, --output <path>', 'the .safetensors file of gradients to write (an existing file is kept unless --force)')
    .option('--weights <file>', 'weights (.safetensors; default: seeded, as mdl init writes them)')
    .option(...VOCAB_FLAG)
    .option(...TOKENIZER_FLAG)
    .option('--backend <name>', 'gpu (the training program on WebGPU) or cpu (the reference interpreter in f64)', 'gpu')
    .option('--force', 'replace the output file if it exists')
    .action(async (file: string, opts: GradOptions) => {
      if (opts.backend !== 'gpu' && opts.backend !== 'cpu') throw new UserError(`--backend is gpu or cpu, not '${opts.backend}'`);
      const { model } = requireModel(file);
      const graph = gradGraph(model, file);
      const lowered = opts.backend === 'gpu' ? lowerTraining(graph, model) : undefined;
      checkOutputFile(opts.output, opts.force);
      const weights = opts.weights ? loadWeightsFile(opts.weights, graph) : seededWeights(graph, DEFAULT_SEED);
      if (!opts.weights) process.stderr.write(`mdl: ${model.name}: no --weights given, using seeded weights (seed ${DEFAULT_SEED})\n`);
      const batch = readBatch(opts.data, model, tokenizerFor(model, opts));
      const run = { dims: batch.dims, inputs: batch.inputs, weights };
      let r: { loss: number; counted: number; grads: Map<string, ArrayLike<number>> };
      if (lowered) {
        const gpu = await acquireGpu({ skipWorkgroupZeroInit: true });
        try {
          const options = tunedTrainingOptions(gpu);
          r = await runTraining(gpu, graph, model, run, options.matmulTiling ? lowerTraining(graph, model, options) : lowered);
        } finally {
          gpu.release();
        }
      } else {
        r = runBackward(graph, model, run);
      }
      if (r.counted === 0) throw new UserError(`${opts.data}: no position counts towards the loss '${model.loss!.name}' (every label is padding or outside count)`);
      const shapes = new Map(paramsOf(graph).map((p) => [p.name, p.shape]));
      const tensors = new Map([...r.grads].map(([name, g]) => [name, { shape: shapes.get(name)!, data: Float32Array.from(g) }]));
      const metadata = { format: 'pt', model: model.name, loss: String(r.loss), loss_name: model.loss!.name, counted: String(r.counted), examples: String(batch.examples), weights: opts.weights ?? `seeded (seed ${DEFAULT_SEED})` };
      writeOutputFile(opts.output, writeSafetensors(tensors, metadata), opts.force);
      process.stdout.write(`${opts.output}: ${model.name}, loss ${model.loss!.name} = ${r.loss.toFixed(6)} (mean over ${r.counted} tokens of ${batch.examples} examples), ${tensors.size} gradients\n`);
    });
}
