// What `mdl grad`, `mdl train` and `mdl eval` share: the backward graph of a spec with a loss and
// the data file read into examples, every problem reported as a UserError naming the file (and line).

import { readFileSync } from 'node:fs';
import type { CheckedModel } from '../check/model.ts';
import { buildTrainingIr, NoLossError } from '../ir/training.ts';
import { buildGradGraph, type GradGraph } from '../lower/grad.ts';
import type { Tokenizer } from '../runtime/tokenizer.ts';
import { packDocuments, readTrainingBatch, readTrainingRows, TrainingDataError, type Row, type TrainingBatch } from '../runtime/training-data.ts';
import { UserError } from './user-error.ts';

export function gradGraph(model: CheckedModel, file: string): GradGraph {
  try {
    return buildGradGraph(buildTrainingIr(model));
  } catch (e) {
    if (e instanceof NoLossError) throw new UserError(`${file}: ${e.message}`);
    throw e;
  }
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new UserError(`${path}: cannot read the ${what}`);
  }
}

function dataProblem<T>(body: () => T): T {
  try {
    return body();
  } catch (e) {
    if (e instanceof TrainingDataError) throw new UserError(e.message);
    throw e;
  }
}

/** The whole file as one padded batch (`mdl grad`). */
export function readBatch(path: string, model: CheckedModel, codec: Tokenizer): TrainingBatch {
  const text = readText(path, 'data file');
  return dataProblem(() => readTrainingBatch(text, path, model, codec));
}

/**
 * Every example of a data file. A bad line stops with file:line, or with `skipBad` is reported on stderr and skipped;
 * a file left with no example is refused either way.
 */
export function readExamples(path: string, model: CheckedModel, codec: Tokenizer, skipBad: boolean, pack?: number): Row[] {
  const text = readText(path, 'data file');
  let skipped = 0;
  const onBad = skipBad
    ? (message: string) => {
        skipped++;
        process.stderr.write(`mdl: ${message} (line skipped)\n`);
      }
    : undefined;
  const rows = dataProblem(() => readTrainingRows(text, path, model, codec, onBad));
  if (rows.length === 0) throw new UserError(`${path}: no examples${skipped ? ` (${skipped} bad lines skipped)` : ' (the file has no non-blank line)'}`);
  return pack ? dataProblem(() => packDocuments(rows, model, pack)) : rows;
}

/** The longest packed row: the bound of the tokens' axis where the spec has one, else a batch. */
export function packLimit(model: CheckedModel, batchTokens: number): number {
  const tokens = [...model.inputs.values()].find((i) => i.kind === 'tokens' && !i.shiftedFrom);
  return (tokens?.axis && model.dims.get(tokens.axis)?.bound) || batchTokens;
}
