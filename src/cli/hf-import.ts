// From a Hugging Face model directory to an mdl spec and weights in mdl's names: the family is chosen by config.json's
// `model_type`, and the result is checked here (the spec checks, the weights fit it) before anything is written.

import { basename } from 'node:path';
import { checkSource } from '../check/check.ts';
import { buildIr } from '../ir/build.ts';
import type { TensorToWrite } from '../runtime/safetensors.ts';
import { checkWeights, paramsOf } from '../runtime/weights.ts';
import { HfConfig } from './hf-config.ts';
import type { HfDirectory } from './hf-directory.ts';
import { importGpt2 } from './hf-gpt2.ts';
import { Checkpoint, type ImportDType } from './hf-tensors.ts';

export interface Imported {
  /** The family's name as people say it. */
  family: string;
  spec: string;
  tensors: Map<string, TensorToWrite>;
  /** The specials the config names (informational: the spec declares the ones it uses). */
  specials: { bos?: number; eos?: number; pad?: number };
}

interface Family {
  /** Prefixes a tensor name may carry in this family's files. */
  prefixes: string[];
  convert(cfg: HfConfig, ckpt: Checkpoint, name: string, dtype: ImportDType): Imported;
}

const FAMILIES: Record<string, Family> = {
  gpt2: { prefixes: ['transformer.', ''], convert: importGpt2 },
};

export const SUPPORTED_MODEL_TYPES = Object.keys(FAMILIES);

export function importCheckpoint(dir: HfDirectory, name: string, dtype: ImportDType): Imported {
  const cfg = new HfConfig(dir.config, `${dir.dir.replace(/\/+$/, '')}/config.json`);
  const type = cfg.str('model_type');
  const family = FAMILIES[type];
  if (!family) throw cfg.error('model_type', `${JSON.stringify(type)} is not supported (mdl imports ${SUPPORTED_MODEL_TYPES.map((t) => JSON.stringify(t)).join(', ')})`);
  const source = dir.weightFiles.length === 1 ? dir.weightFiles[0] : `${dir.dir.replace(/\/+$/, '')}/model.safetensors.index.json`;
  const imported = family.convert(cfg, new Checkpoint(dir.tensors, source, family.prefixes), name, dtype);
  selfCheck(imported, name);
  return imported;
}

/** The generated spec must check and its parameters must be exactly the converted tensors: a bug here, not the user's. */
function selfCheck(imported: Imported, name: string): void {
  const checked = checkSource(imported.spec, `${name}.mdl`);
  if (!checked.model) {
    const first = checked.diagnostics.find((d) => d.severity === 'error');
    throw new Error(`the spec generated for ${imported.family} does not check: ${first?.span.line}:${first?.span.col} ${first?.message}`);
  }
  checkWeights(paramsOf(buildIr(checked.model)), imported.tensors, `${name}.safetensors`);
}

/** A model name from an output path: its file name, as an identifier. */
export function modelNameOf(path: string): string {
  const base = basename(path).replace(/\.mdl$/, '').replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(base) ? base : `m_${base}`;
}
