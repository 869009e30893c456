// What every `mdl run` builds before it generates: the program lowered with this adapter's tuned tiles, checked at
// the first step's dims and against the adapter's limits, and the weights (a file, or seeded).

import type { CheckedModel } from '../check/model.ts';
import { lower, type Lowered } from '../lower/passes.ts';
import type { GpuContext } from '../runtime/device.ts';
import { seededWeights } from '../runtime/init-weights.ts';
import { checkProgramMaskSizes } from '../runtime/mask-size-check.ts';
import { prepareRun } from '../runtime/program.ts';
import { loadWeightsFile } from '../runtime/safetensors-file.ts';
import { tunedScheduleOptions } from '../tune/tuned-tiles.ts';

export interface Prepared {
  lowered: Lowered;
  weights: Map<string, Float32Array>;
  compileMs: number;
  /** On the GPU: attention kernels that took tiles from the tuning cache, of how many. */
  tuned?: { tuned: number; total: number };
}

/** `dims`: the first step's dims of every row the run will start with. */
export function prepareModel(gpu: GpuContext | undefined, model: CheckedModel, dims: Record<string, number>[], weightsFile: string | undefined, seed: number, progress: (line: string) => void): Prepared {
  // On the GPU, attention kernels take the tiles `mdl tune` chose for this adapter, where it has run.
  const tuning = gpu && tunedScheduleOptions(gpu.adapter, { subgroups: gpu.subgroups });
  const t0 = performance.now();
  const lowered = lower(model, tuning?.options);
  for (const d of dims) {
    // Mask sizes at the first step's dims, before any weights; later steps are checked as they run.
    checkProgramMaskSizes(model, lowered.program, d);
    // And the adapter's limits (buffer sizes, weights included), which a large spec can exceed.
    if (gpu) prepareRun(gpu, lowered.program, lowered.rendered, d);
  }
  const compileMs = performance.now() - t0;
  const tuned = tuning?.report();
  if (tuned?.tuned) progress(`mdl: ${tuned.tuned} of ${tuned.total} attention kernel(s) use tiles tuned for this adapter\n`);
  // The other per-adapter choices, said as `mdl train` says its matmul tiling, so a run shows what it used.
  const { matmulTiling, normForm } = tuning?.options ?? {};
  const choices = [matmulTiling && `matmuls use the ${matmulTiling} tiling`, normForm && `norms the ${normForm} form`].filter(Boolean);
  if (choices.length) progress(`mdl: ${choices.join(', ')} tuned for this adapter\n`);
  const weights = weightsFile ? loadWeightsFile(weightsFile, lowered.ir) : seededWeights(lowered.ir, seed);
  return { lowered, weights, compileMs, tuned };
}
