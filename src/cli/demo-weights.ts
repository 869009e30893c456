// The weights the demo translates with: weights/translator.safetensors, trained by `mdl train` on data/zh-en with
// the word-level vocabulary data/zh-en/vocab.json, and the record beside it (weights/translator.txt) that says how. The demo shows the record's command line so that
// anyone can retrain the weights, and a few held-out pairs from data/zh-en/test.tsv, which training never saw.

import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { IrGraph } from '../ir/ir.ts';
import { loadWeightsFile } from '../runtime/safetensors-file.ts';
import { WeightsError } from '../runtime/weights.ts';
import { repoRoot } from './repo-root.ts';

export const TRAINED_WEIGHTS = join(repoRoot(), 'weights', 'translator.safetensors');
export const TRAINING_RECORD = join(repoRoot(), 'weights', 'translator.txt');
export const HELD_OUT = join(repoRoot(), 'data', 'zh-en', 'test.tsv');
/** The vocabulary the weights were trained with (scripts/zh-en-vocab.mjs writes it from the corpus). */
export const TRAINED_VOCABULARY = join(repoRoot(), 'data', 'zh-en', 'vocab.json');

/** The sentence the demo translates first; it is in the training data. */
export const DEMO_SOURCE = '我喜欢吃苹果';

export interface TrainedWeights {
  path: string;
  /** The vocabulary file they read and write text with (the run's --vocab). */
  vocab: string;
  /** The `mdl train` command line that wrote them (the record's `command:` line). */
  command: string;
  /** The record's other `key: value` lines (seed, steps, time, where, losses), in order. */
  facts: [string, string][];
}

/**
 * The shipped weights when the spec being demonstrated is the shipped translator and they fit it; otherwise why not
 * (so the demo can say it runs on seeded weights instead), or undefined for any other spec.
 */
export function trainedWeightsFor(specFile: string, ir: IrGraph): TrainedWeights | { missing: string } | undefined {
  if (resolve(specFile) !== join(repoRoot(), 'specs', 'translator.mdl')) return undefined;
  if (!existsSync(TRAINED_WEIGHTS)) return { missing: `${TRAINED_WEIGHTS} is not there` };
  if (!existsSync(TRAINED_VOCABULARY)) return { missing: `${TRAINED_VOCABULARY}, the vocabulary of the weights, is not there` };
  try {
    loadWeightsFile(TRAINED_WEIGHTS, ir);
  } catch (e) {
    if (e instanceof WeightsError) return { missing: `the shipped weights no longer fit the spec (was it edited?): ${e.message.split('\n')[0]}` };
    throw e;
  }
  const facts = existsSync(TRAINING_RECORD) ? recordFacts(readFileSync(TRAINING_RECORD, 'utf8')) : [];
  const command = facts.find(([k]) => k === 'command')?.[1];
  if (!command) return { missing: `${TRAINING_RECORD} does not say how the weights were trained` };
  return { path: TRAINED_WEIGHTS, vocab: TRAINED_VOCABULARY, command, facts: facts.filter(([k]) => k !== 'command') };
}

/** `key: value` lines; anything else in the record is prose for people. */
export function recordFacts(text: string): [string, string][] {
  const out: [string, string][] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z][a-z ]*):\s+(.+)$/.exec(line.trimEnd());
    if (m) out.push([m[1], m[2]]);
  }
  return out;
}

/** The first `count` pairs of the held-out split, in file order (not chosen by how well they come out). */
export function heldOutPairs(count: number): { source: string; reference: string }[] {
  if (!existsSync(HELD_OUT)) return [];
  return readFileSync(HELD_OUT, 'utf8')
    .split('\n')
    .filter((l) => l.includes('\t'))
    .slice(0, count)
    .map((l) => {
      const [source, reference] = l.split('\t');
      return { source, reference };
    });
}
