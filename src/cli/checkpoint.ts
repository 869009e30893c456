// Checkpoints of `mdl train`: two safetensors files written atomically.
//   OUT.safetensors        the weights under the parameters' own names (what `mdl run --weights` loads), with
//                          metadata mdl_checkpoint = "weights", the model and the step;
//   OUT.optim.safetensors  AdamW's moments as `m.NAME` and `v.NAME` (f32), with mdl_checkpoint = "optimizer", the
//                          step, and the run (seed, schedule, data order, loss history) as JSON in the metadata.
// A file is replaced only when its metadata shows that mdl wrote it as a checkpoint; anything else stays untouched.

import { existsSync } from 'node:fs';
import type { OptimizerState } from '../runtime/adamw.ts';
import { readSafetensorsFile } from '../runtime/safetensors-file.ts';
import { SafetensorsError, writeSafetensors, type SafetensorsHeader } from '../runtime/safetensors.ts';
import { checkOutputFile, writeOutputFile } from './output-file.ts';
import { UserError } from './user-error.ts';

export const CHECKPOINT_KEY = 'mdl_checkpoint';

export function optimizerPath(weightsPath: string): string {
  return weightsPath.replace(/(\.safetensors)?$/, '.optim.safetensors');
}

/** The metadata of a safetensors file, read without its tensor data; undefined when it is not one. */
function headerMetadata(path: string): Record<string, string> | undefined {
  let found: SafetensorsHeader | undefined;
  try {
    readSafetensorsFile(path, (h) => {
      found = h;
      throw new SafetensorsError(path, 'header only');
    });
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw e;
  }
  return found?.metadata;
}

/** Refuses (before any training) a target that exists and is not a checkpoint mdl wrote. */
export function checkCheckpointTargets(path: string): void {
  for (const [p, kind] of [
    [path, 'weights'],
    [optimizerPath(path), 'optimizer'],
  ]) {
    checkOutputFile(p, true);
    if (existsSync(p) && headerMetadata(p)?.[CHECKPOINT_KEY] !== kind) throw new UserError(`${p}: already exists and is not a checkpoint mdl wrote; mdl leaves it as it is (choose another -o)`);
  }
}

export interface Checkpoint {
  model: string;
  shapes: Map<string, number[]>;
  weights: Map<string, Float32Array>;
  state: OptimizerState;
  /** Everything needed to continue: seed, schedule, data order, loss history. */
  run: unknown;
}

export function writeCheckpoint(path: string, c: Checkpoint): void {
  checkCheckpointTargets(path);
  const step = String(c.state.step);
  const moments = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, shape] of c.shapes) {
    moments.set(`m.${name}`, { shape, data: c.state.m.get(name)! });
    moments.set(`v.${name}`, { shape, data: c.state.v.get(name)! });
  }
  // The optimizer state first: a weights file is never newer than the moments beside it.
  writeOutputFile(optimizerPath(path), writeSafetensors(moments, { [CHECKPOINT_KEY]: 'optimizer', model: c.model, step, run: JSON.stringify(c.run) }), true);
  const weights = new Map([...c.shapes].map(([name, shape]) => [name, { shape, data: c.weights.get(name)! }]));
  writeOutputFile(path, writeSafetensors(weights, { format: 'pt', [CHECKPOINT_KEY]: 'weights', model: c.model, step }), true);
}

/** The optimizer state and run beside a checkpoint's weights; refused unless both files are mdl's, of one step. */
export function readOptimizerState(path: string, model: string, names: string[]): { state: OptimizerState; run: unknown } {
  const weightsMeta = headerMetadata(path);
  if (weightsMeta?.[CHECKPOINT_KEY] !== 'weights') throw new UserError(`${path}: not a checkpoint mdl train wrote (no ${CHECKPOINT_KEY} in its metadata)`);
  const optim = optimizerPath(path);
  if (!existsSync(optim)) throw new UserError(`${optim}: missing; --resume needs the optimizer state written beside the weights`);
  const file = readSafetensorsFile(optim);
  const meta = file.metadata;
  if (meta[CHECKPOINT_KEY] !== 'optimizer') throw new UserError(`${optim}: not an optimizer state mdl train wrote`);
  if (meta.model !== model || weightsMeta.model !== model) throw new UserError(`${path}: a checkpoint of model '${weightsMeta.model}', not '${model}'`);
  if (meta.step !== weightsMeta.step) throw new UserError(`${path}: weights at step ${weightsMeta.step} but optimizer state at step ${meta.step}`);
  const tensor = (key: string) => {
    const t = file.tensors.get(key);
    if (!t) throw new UserError(`${optim}: no tensor '${key}'`);
    return t.data;
  };
  const state: OptimizerState = { step: Number(meta.step), m: new Map(names.map((n) => [n, tensor(`m.${n}`)])), v: new Map(names.map((n) => [n, tensor(`v.${n}`)])) };
  return { state, run: JSON.parse(meta.run ?? '{}') };
}
