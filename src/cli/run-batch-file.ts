// `mdl run --input-file FILE`: one row per line, each checked as the single-row flags are, with the line named in
// every error (FILE:LINE: …).
//
// A line is either plain text, the prompt (decoder-only) or the source (encoder-decoder), or a JSON object:
//   {"text": "…"} or {"ids": [1, 2, 3]}            the prompt (the target prefix of an encoder-decoder)
//   {"source": "…"} or {"source_ids": [4, 5, 6]}    the source of an encoder-decoder
//   {"NAME": 7}                                      a lengths input
//   {"NAME": [0, 0, 1]}                              segment ids, one per prompt position
//   {"NAME": [[0.1, …], …]}                          features, [length, width]
// Empty lines are skipped.

import { readFileSync } from 'node:fs';
import type { CheckedModel } from '../check/model.ts';
import { rolesOf } from '../runtime/generate.ts';
import { gatherRunInputs, type RunInputFlags, type RunInputs } from './run-inputs.ts';
import { UserError } from './user-error.ts';

export interface BatchFileRow extends RunInputs {
  /** 1-based line of the file. */
  line: number;
}

/** The flags given beside --input-file that apply to every row. */
export type SharedFlags = Pick<RunInputFlags, 'vocab' | 'tokenizer'>;

export function readBatchFile(model: CheckedModel, path: string, shared: SharedFlags): BatchFileRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UserError(`--input-file ${path}: cannot read the file`);
  }
  const rows: BatchFileRow[] = [];
  for (const [i, raw] of text.split(/\r?\n/).entries()) {
    if (raw.trim() === '') continue;
    const where = `${path}:${i + 1}`;
    try {
      rows.push({ ...gatherRunInputs(model, { ...shared, ...flagsOf(model, raw) }), line: i + 1 });
    } catch (e) {
      if (e instanceof UserError) throw new UserError(`${where}: ${e.message}`);
      throw e;
    }
  }
  if (rows.length === 0) throw new UserError(`--input-file ${path}: no rows (one prompt or JSON object per line)`);
  return rows;
}

/** The single-row flags a line stands for. */
function flagsOf(model: CheckedModel, line: string): RunInputFlags {
  const roles = rolesOf(model);
  if (!line.trimStart().startsWith('{')) return roles.source ? { source: line } : { input: line };
  let row: unknown;
  try {
    row = JSON.parse(line);
  } catch (e) {
    throw new UserError(`not a JSON object: ${(e as Error).message}`);
  }
  if (typeof row !== 'object' || row === null || Array.isArray(row)) throw new UserError('a JSON line is one object');
  const flags: RunInputFlags = { set: [], featureRows: {} };
  const idList = (v: unknown, key: string) => {
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) throw new UserError(`"${key}" is a list of token ids`);
    return v.join(',');
  };
  for (const [key, value] of Object.entries(row)) {
    if (key === 'text') flags.input = text(value, key);
    else if (key === 'ids' || key === 'tokens') flags.tokens = idList(value, key);
    else if (key === 'source') flags.source = text(value, key);
    else if (key === 'source_ids' || key === 'source_tokens') flags.sourceTokens = idList(value, key);
    else {
      const input = model.inputs.get(key);
      if (!input) throw new UserError(`"${key}" is neither text, ids, source, source_ids nor an input of ${model.name} (${[...model.inputs.keys()].join(', ')})`);
      if (input.kind === 'features') flags.featureRows![key] = value;
      else if (input.kind === 'lengths' && typeof value === 'number') flags.set!.push(`${key}=${value}`);
      else if (input.kind === 'segments' && Array.isArray(value)) flags.set!.push(`${key}=${value.join(',')}`);
      else if (input.kind === 'lengths') throw new UserError(`"${key}" is a lengths input: one whole number`);
      else if (input.kind === 'segments') throw new UserError(`"${key}" is a segments input: a list of ids, one per prompt position`);
      else throw new UserError(`"${key}" is a tokens input: give it as "ids" or "source_ids"`);
    }
  }
  if (roles.source && flags.input === undefined && flags.tokens === undefined && flags.source === undefined && flags.sourceTokens === undefined) {
    throw new UserError('give the row a "source" or "source_ids"');
  }
  return flags;
}

function text(v: unknown, key: string): string {
  if (typeof v !== 'string') throw new UserError(`"${key}" is a string`);
  return v;
}
