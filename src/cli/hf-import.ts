// From a Hugging Face model directory to an mdl spec and weights in mdl's names: the family is chosen by config.json's
// `model_type`, and the result is checked here (the spec checks, the weights fit it) before anything is written.

import { basename } from 'node:path';
import { checkSource } from '../check/check.ts';
import { buildIr } from '../ir/build.ts';
import type { TensorToWrite } from '../runtime/safetensors.ts';
import { checkWeights, paramsOf } from '../runtime/weights.ts';
import { HfConfig } from './hf-config.ts';
import { readJson, type HfDirectory } from './hf-directory.ts';
import { importBart } from './hf-bart.ts';
import { importGpt2 } from './hf-gpt2.ts';
import { importLlama } from './hf-llama.ts';
import { importMarian } from './hf-marian.ts';
import { importT5 } from './hf-t5.ts';
import { importWhisperDecoder } from './hf-whisper.ts';
import { Checkpoint, type ImportDType, type ImportHints, type Imported } from './hf-tensors.ts';

interface Family {
  /** Prefixes a tensor name may carry in this family's files. */
  prefixes: string[];
  convert(cfg: HfConfig, ckpt: Checkpoint, name: string, dtype: ImportDType, hints: ImportHints): Imported;
}

const llama: Family = { prefixes: ['model.', ''], convert: importLlama };
const FAMILIES: Record<string, Family> = {
  gpt2: { prefixes: ['transformer.', ''], convert: importGpt2 },
  llama,
  mistral: llama,
  qwen2: llama,
  t5: { prefixes: [''], convert: importT5 },
  marian: { prefixes: ['model.', ''], convert: importMarian },
  bart: { prefixes: ['model.', ''], convert: importBart },
  whisper: { prefixes: ['model.', ''], convert: importWhisperDecoder },
};

export const SUPPORTED_MODEL_TYPES = Object.keys(FAMILIES);

export function importCheckpoint(dir: HfDirectory, name: string, dtype: ImportDType): Imported {
  const cfg = new HfConfig(dir.config, `${dir.dir.replace(/\/+$/, '')}/config.json`);
  const type = cfg.str('model_type');
  const family = FAMILIES[type];
  if (!family) throw cfg.error('model_type', `${JSON.stringify(type)} is not supported (mdl imports ${SUPPORTED_MODEL_TYPES.map((t) => JSON.stringify(t)).join(', ')})`);
  const source = dir.weightFiles.length === 1 ? dir.weightFiles[0] : `${dir.dir.replace(/\/+$/, '')}/model.safetensors.index.json`;
  const imported = family.convert(cfg, new Checkpoint(dir.tensors, source, family.prefixes), name, dtype, hintsOf(dir));
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

/** The pad and eos tokens tokenizer_config.json names, with their ids in tokenizer.json. */
function hintsOf(dir: HfDirectory): ImportHints {
  if (!dir.tokenizer || !dir.tokenizerConfig) return {};
  const config = readJson(dir.tokenizerConfig);
  const json = readJson(dir.tokenizer);
  const idOf = (key: string): [number, string] | undefined => {
    const entry = config[key];
    const token = typeof entry === 'string' ? entry : typeof entry === 'object' && entry !== null ? (entry as { content?: unknown }).content : undefined;
    if (typeof token !== 'string') return undefined;
    const added = Array.isArray(json.added_tokens) ? (json.added_tokens as { id?: unknown; content?: unknown }[]).find((t) => t.content === token)?.id : undefined;
    const vocab = (json.model as { vocab?: unknown } | undefined)?.vocab;
    const inVocab = Array.isArray(vocab) ? vocab.findIndex((p) => Array.isArray(p) && p[0] === token) : typeof vocab === 'object' && vocab !== null ? (vocab as Record<string, unknown>)[token] : undefined;
    const id = typeof added === 'number' ? added : typeof inVocab === 'number' && inVocab >= 0 ? inVocab : undefined;
    return id === undefined ? undefined : [id, token];
  };
  const pad = idOf('pad_token');
  const eos = idOf('eos_token');
  return { pad: pad?.[0], padToken: pad?.[1], eos: eos?.[0], eosToken: eos?.[1] };
}

/** A model name from an output path: its file name, as an identifier. */
export function modelNameOf(path: string): string {
  const base = basename(path).replace(/\.mdl$/, '').replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(base) ? base : `m_${base}`;
}
