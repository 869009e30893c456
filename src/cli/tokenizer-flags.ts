// The tokenizer a command uses, chosen by its flags: the spec's byte-level tokenizer by default, a JSON vocabulary
// on top of it with `--vocab FILE`, or a Hugging Face tokenizer.json with `--tokenizer FILE`. A
// `tokenizer_config.json` in the same folder as the tokenizer.json (or `NAME.tokenizer_config.json` beside
// `NAME.tokenizer.json`, as `mdl import` writes them) supplies the specials the spec leaves out.

import { existsSync, readFileSync } from 'node:fs';
import type { CheckedModel } from '../check/model.ts';
import { tokenizerFromJsonText } from '../runtime/tokenizer-json.ts';
import { byteTokenizer, parseVocabulary, tokenizerOptionsOf, vocabularyTokenizer, type Tokenizer } from '../runtime/tokenizer.ts';
import { UserError } from './user-error.ts';

export interface TokenizerFlags {
  vocab?: string;
  tokenizer?: string;
}

export const VOCAB_FLAG = ['--vocab <file>', 'a JSON vocabulary {"token": id, …} on top of the byte-level tokenizer (default: UTF-8 bytes after the special ids)'] as const;
export const TOKENIZER_FLAG = ['--tokenizer <file>', "a Hugging Face tokenizer.json (BPE, Unigram, WordPiece); tokenizer_config.json beside it gives the specials the spec leaves out"] as const;

/** Tokenizers already built, per model and flags: `--input-file` asks once per row. */
const built = new WeakMap<CheckedModel, Map<string, Tokenizer>>();

export function tokenizerFor(model: CheckedModel, flags: TokenizerFlags): Tokenizer {
  const key = JSON.stringify([flags.vocab, flags.tokenizer]);
  const cached = built.get(model)?.get(key);
  if (cached) return cached;
  const codec = buildTokenizer(model, flags);
  built.set(model, (built.get(model) ?? new Map()).set(key, codec));
  return codec;
}

function buildTokenizer(model: CheckedModel, flags: TokenizerFlags): Tokenizer {
  if (flags.vocab !== undefined && flags.tokenizer !== undefined) throw new UserError('--vocab and --tokenizer both choose the tokenizer: give one');
  const options = tokenizerOptionsOf(model);
  if (flags.tokenizer !== undefined) {
    const text = readText(flags.tokenizer, 'tokenizer file');
    const configPath = configBeside(flags.tokenizer);
    return tokenizerFromJsonText(text, configPath ? readText(configPath, 'tokenizer config') : undefined, options, flags.tokenizer);
  }
  if (flags.vocab !== undefined) return vocabularyTokenizer(parseVocabulary(readText(flags.vocab, 'vocabulary file'), flags.vocab), options, flags.vocab);
  return byteTokenizer(options);
}

/** `dir/tokenizer.json` → `dir/tokenizer_config.json`, `dir/NAME.tokenizer.json` → `dir/NAME.tokenizer_config.json`, if it exists. */
export function configBeside(tokenizerPath: string): string | undefined {
  if (!/tokenizer\.json$/.test(tokenizerPath)) return undefined;
  const path = tokenizerPath.replace(/tokenizer\.json$/, 'tokenizer_config.json');
  return existsSync(path) ? path : undefined;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    throw new UserError(`${path}: cannot read the ${what}`);
  }
}
