// The backend `mdl train` and `mdl eval` run on: WebGPU by default (weights and optimizer state on the device, read
// back only for checkpoints), or the CPU reference with `--backend cpu`, which is the oracle the device is checked
// against. The training programs are built (and verified) before a device is asked for.

import type { CheckedModel } from '../check/model.ts';
import type { GradGraph } from '../lower/grad.ts';
import type { OptimizerState } from '../runtime/adamw.ts';
import { acquireGpu } from '../runtime/device.ts';
import type { ScheduleOptions } from '../lower/schedule.ts';
import type { GpuContext } from '../runtime/device.ts';
import { DeviceTrainer } from '../runtime/gpu-training.ts';
import { tunedMatmulFor } from '../tune/tuned-tiles.ts';
import { cpuBackend, type Backend } from './train-run.ts';
import { UserError } from './user-error.ts';

export const BACKEND_HELP = 'gpu (WebGPU) or cpu (the reference interpreter in f64, the oracle)';

export function backendName(text: string | undefined): 'gpu' | 'cpu' {
  if (text === undefined || text === 'gpu') return 'gpu';
  if (text === 'cpu') return 'cpu';
  throw new UserError(`--backend is gpu or cpu, not '${text}'`);
}

/**
 * The training program's schedule on this adapter: the matmul tiling `mdl tune` chose for it where it has run (as
 * `mdl run` takes it), which also blocks the backward products; said on stderr so a run shows what it used.
 */
export function tunedTrainingOptions(gpu: GpuContext): ScheduleOptions {
  const matmulTiling = tunedMatmulFor(gpu.adapter);
  if (!matmulTiling) return {};
  process.stderr.write(`mdl: matmuls use the ${matmulTiling} tiling tuned for this adapter\n`);
  return { matmulTiling };
}

/** The backend with its resources; `release` frees the device (a no-op on the CPU). */
export async function openBackend(name: 'gpu' | 'cpu', graph: GradGraph, model: CheckedModel, weights: Map<string, Float32Array>, state: OptimizerState, frozen: ReadonlySet<string>): Promise<Backend & { release(): void }> {
  if (name === 'cpu') return { ...cpuBackend(graph, model), release: () => {} };
  const gpu = await acquireGpu({ skipWorkgroupZeroInit: true });
  let trainer: DeviceTrainer;
  try {
    trainer = new DeviceTrainer(gpu, graph, model, weights, state, frozen, tunedTrainingOptions(gpu));
  } catch (e) {
    gpu.release();
    throw e;
  }
  return {
    name: 'gpu',
    step: (c, _weights, s) => trainer.step(c, s),
    evaluate: (batches) => trainer.evaluate(batches),
    sync: (w, s) => trainer.download(w, s),
    get memory() {
      return trainer.memory;
    },
    release: () => {
      trainer.release();
      gpu.release();
    },
  };
}
