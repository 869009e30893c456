// Writes data/zh-en/vocab.json, the word-level vocabulary of the translator, from the corpus in data/zh-en.
//
// Byte-level tokens make each Chinese character three tokens and each English word four to eight, so the
// translator's sequences are long and its cross-attention has to line bytes up with bytes. With this vocabulary
// every Chinese character is one token, every English word is one token carrying its leading space (" like",
// " apples"; a sentence's first word has none: "I", "She"), and punctuation is one token, so 我喜欢吃苹果 is 6 tokens
// and "I like to eat apples" 5. The tokenizer's greedy longest match then reads whole words, because no token
// holds a space after its first byte.
//
// Ids start right after the byte block (specials 0..2, bytes 3..258) and follow sorted token order, so the file
// is the same on every run. Usage: node scripts/zh-en-vocab.mjs [--check]  (--check: fail if the file differs).

import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'data', 'zh-en');
const FIRST_ID = 259;

const tokens = new Set();
for (const file of ['train.tsv', 'test.tsv']) {
  for (const line of readFileSync(join(dir, file), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const [zh, en] = line.split('\t');
    for (const ch of zh) tokens.add(ch);
    // Words, and each punctuation mark on its own: "Do you like tea?" → Do, you, like, tea, ?
    const words = en.match(/[A-Za-z']+|[^A-Za-z'\s]/g) ?? [];
    words.forEach((w, i) => {
      const punct = !/[A-Za-z]/.test(w);
      // A word's token carries the space before it; the first word and punctuation (which follows a word directly) have none.
      const spaced = i > 0 && !punct && en.includes(` ${w}`);
      tokens.add(spaced ? ` ${w}` : w);
      if (i === 0 && !punct) tokens.add(` ${w}`); // the same word can also appear mid-sentence
    });
  }
}

const sorted = [...tokens].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
const vocab = Object.fromEntries(sorted.map((t, i) => [t, FIRST_ID + i]));
const text = `${JSON.stringify(vocab, null, 1)}\n`;
const out = join(dir, 'vocab.json');
if (process.argv.includes('--check')) {
  if (readFileSync(out, 'utf8') !== text) {
    console.error(`${out} is not what the corpus gives; run node scripts/zh-en-vocab.mjs`);
    process.exit(1);
  }
} else {
  writeFileSync(`${out}.tmp`, text);
  renameSync(`${out}.tmp`, out);
}
console.log(`${sorted.length} tokens, ids ${FIRST_ID}..${FIRST_ID + sorted.length - 1}`);
