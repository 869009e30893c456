// data/zh-en/vocab.json, the translator's word-level vocabulary: it is what scripts/zh-en-vocab.mjs makes of the
// corpus, it fits the translator's spec, and with it every corpus line is whole words and characters, never bytes.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { parseVocabulary, tokenizerOptionsOf, vocabularyTokenizer } from '../../src/runtime/tokenizer.ts';

const root = join(import.meta.dirname, '..', '..');
const dir = join(root, 'data', 'zh-en');
const model = checkSource(readFileSync(join(root, 'specs', 'translator.mdl'), 'utf8'), 'translator.mdl').model!;
const vocabulary = parseVocabulary(readFileSync(join(dir, 'vocab.json'), 'utf8'), 'vocab.json');
const codec = vocabularyTokenizer(vocabulary, tokenizerOptionsOf(model), 'vocab.json');
const pairs = (file: string) =>
  readFileSync(join(dir, file), 'utf8')
    .split('\n')
    .filter((l) => l.includes('\t'))
    .map((l) => l.split('\t') as [string, string]);
const isByte = (id: number) => id >= codec.byteOffset && id < codec.byteOffset + 256;

describe('data/zh-en/vocab.json', () => {
  it('is what scripts/zh-en-vocab.mjs writes from the corpus', () => {
    // --check fails (status 1) when the committed file differs from the script's output.
    const out = execFileSync(process.execPath, [join(root, 'scripts', 'zh-en-vocab.mjs'), '--check'], { encoding: 'utf8' });
    expect(out).toBe(`${vocabulary.size} tokens, ids 259..${258 + vocabulary.size}\n`);
  });

  it('fits the translator: ids after pad 0, bos 1, eos 2 and the bytes 3..258, below the vocab dim', () => {
    expect(codec.byteOffset).toBe(3);
    const ids = [...vocabulary.values()].sort((a, b) => a - b);
    expect(ids[0]).toBe(259);
    expect(ids.at(-1)).toBeLessThan(model.embed!.vocab);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('reads the demo sentence as 6 characters and its translation as 5 words', () => {
    const zh = codec.encode('我喜欢吃苹果');
    expect(zh.map((id) => codec.tokenText(id))).toEqual(['我', '喜', '欢', '吃', '苹', '果']);
    const en = codec.encode('I like to eat apples', { eos: true });
    expect(en.map((id) => codec.tokenText(id))).toEqual(['I', ' like', ' to', ' eat', ' apples', '<eos>']);
    expect(codec.encode('Do you like tea?').map((id) => codec.tokenText(id))).toEqual(['Do', ' you', ' like', ' tea', '?']);
  });

  it('round-trips every line of the corpus, and no line needs byte fallback', () => {
    const all = [...pairs('train.tsv'), ...pairs('test.tsv')];
    expect(all.length).toBe(727 + 80);
    for (const [zh, en] of all) {
      for (const text of [zh, en]) {
        const ids = codec.encode(text);
        expect(codec.decode(ids), text).toBe(text);
        expect(ids.filter(isByte), text).toEqual([]);
      }
      // One token per character on the Chinese side, one per word or mark on the English side.
      expect(codec.encode(zh).length).toBe([...zh].length);
      expect(codec.encode(en).length).toBe(en.match(/[A-Za-z']+|[^A-Za-z'\s]/g)!.length);
    }
  });
});
