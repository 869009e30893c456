// A Hugging Face model directory as `mdl import` reads it: config.json, the weights (model.safetensors, or the shards
// that model.safetensors.index.json lists), and tokenizer.json / tokenizer_config.json when present. Every problem
// is one line naming the file.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readSafetensorsFile } from '../runtime/safetensors-file.ts';
import type { Tensor } from '../runtime/safetensors.ts';
import { UserError } from './user-error.ts';

export interface HfDirectory {
  dir: string;
  config: Record<string, unknown>;
  /** Every tensor of the checkpoint by its name in the files (data converted to f32, stored dtype kept). */
  tensors: Map<string, Tensor>;
  /** The files the tensors came from, for messages. */
  weightFiles: string[];
  tokenizer?: string;
  tokenizerConfig?: string;
}

export function readHfDirectory(dir: string): HfDirectory {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UserError(`${dir}: not a directory (mdl import reads a Hugging Face model directory)`);
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new UserError(`${dir}: no config.json (mdl import reads a Hugging Face model directory)`);
  const config = readJson(configPath);
  const { tensors, files } = readWeights(dir);
  const optional = (name: string) => (existsSync(join(dir, name)) ? join(dir, name) : undefined);
  return { dir, config, tensors, weightFiles: files, tokenizer: optional('tokenizer.json'), tokenizerConfig: optional('tokenizer_config.json') };
}

function readWeights(dir: string): { tensors: Map<string, Tensor>; files: string[] } {
  const single = join(dir, 'model.safetensors');
  const index = join(dir, 'model.safetensors.index.json');
  if (existsSync(single)) return { tensors: readSafetensorsFile(single).tensors, files: [single] };
  if (existsSync(index)) return readShards(dir, index);
  const other = ['pytorch_model.bin', 'pytorch_model.bin.index.json', 'tf_model.h5', 'flax_model.msgpack'].find((f) => existsSync(join(dir, f)));
  if (other) throw new UserError(`${join(dir, other)}: mdl import reads safetensors only; save the model with safe_serialization=True`);
  throw new UserError(`${dir}: no model.safetensors or model.safetensors.index.json`);
}

/** Sharded weights: every tensor the index lists must be in the shard it names, and nowhere else. */
function readShards(dir: string, indexPath: string): { tensors: Map<string, Tensor>; files: string[] } {
  const index = readJson(indexPath);
  const map = index.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new UserError(`${indexPath}: no "weight_map" object`);
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard.includes('/') || shard.includes('\\')) throw new UserError(`${indexPath}: weight_map["${name}"] is not a file name in the directory`);
    byShard.set(shard, [...(byShard.get(shard) ?? []), name]);
  }
  const tensors = new Map<string, Tensor>();
  const files: string[] = [];
  const shards = [...byShard].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  for (const [shard] of shards) if (!existsSync(join(dir, shard))) throw new UserError(`${join(dir, shard)}: listed in ${indexPath} but missing`);
  for (const [shard, names] of shards) {
    const path = join(dir, shard);
    const file = readSafetensorsFile(path);
    files.push(path);
    const listed = new Set(names);
    for (const name of names) if (!file.tensors.has(name)) throw new UserError(`${path}: has no tensor ${name}, which ${indexPath} places there`);
    for (const [name, t] of file.tensors) {
      if (!listed.has(name)) throw new UserError(`${path}: holds ${name}, which ${indexPath} does not place there`);
      tensors.set(name, t);
    }
  }
  return { tensors, files };
}

export function readJson(path: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new UserError(`${path}: ${(e as NodeJS.ErrnoException).code ? 'cannot read' : `not valid JSON (${(e as Error).message})`}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UserError(`${path}: expected a JSON object`);
  return json as Record<string, unknown>;
}
