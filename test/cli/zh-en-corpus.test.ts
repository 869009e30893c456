// What data/zh-en/README.md says about the corpus the shipped translator weights were trained on: the sizes of the
// two splits, that no held-out sentence is in the training split while every character and word of it is, the
// demo's sentence is trained on, and every pair fits the translator's S, T <= 64 in byte tokens.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { root } from './train-support.ts';

const pairs = (name: string) =>
  readFileSync(join(root, 'data', 'zh-en', name), 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
const words = (english: string) => english.toLowerCase().match(/[a-z]+/g) ?? [];

describe('data/zh-en', () => {
  const train = pairs('train.tsv');
  const test = pairs('test.tsv');

  it('has 727 training and 80 held-out pairs, one source<TAB>target per line', () => {
    expect(train).toHaveLength(727);
    expect(test).toHaveLength(80);
    for (const p of [...train, ...test]) {
      expect(p, p.join('\\t')).toHaveLength(2);
      expect(p[0]).toMatch(/^\p{Script=Han}+$/u);
      expect(p[1]).toMatch(/^[A-Z][A-Za-z ]*[a-zA-Z?]$/);
    }
    expect(train).toContainEqual(['我喜欢吃苹果', 'I like to eat apples']);
  });

  it("shows in its README's table of patterns only lines of train.tsv", () => {
    const readme = readFileSync(join(root, 'data', 'zh-en', 'README.md'), 'utf8');
    const examples = [...readme.matchAll(/^\| [^|]+ \| (\S+) → ([^|]+?) \|$/gmu)].map((m) => [m[1], m[2]]);
    expect(examples).toHaveLength(7);
    for (const e of examples) expect(train).toContainEqual(e);
  });

  it('holds out sentences, not words: no held-out source is trained on, but all its characters and words are', () => {
    const trainedSources = new Set(train.map((p) => p[0]));
    const chars = new Set(train.flatMap((p) => [...p[0]]));
    const vocab = new Set(train.flatMap((p) => words(p[1])));
    expect(new Set(test.map((p) => p[0])).size).toBe(test.length);
    for (const [zh, en] of test) {
      expect(trainedSources.has(zh), zh).toBe(false);
      expect([...zh].filter((c) => !chars.has(c)), zh).toEqual([]);
      expect(words(en).filter((w) => !vocab.has(w)), en).toEqual([]);
    }
  });

  it("fits the translator's bounds: at most 64 source tokens and 63 target tokens before eos", () => {
    for (const [zh, en] of [...train, ...test]) {
      expect(Buffer.byteLength(zh)).toBeLessThanOrEqual(64);
      expect(Buffer.byteLength(en)).toBeLessThanOrEqual(63);
    }
  });
});
