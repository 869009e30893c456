// The byte-level tokenizer and its vocabulary-file variant: the exact id scheme, round trips of the translator's
// sentences, specials, invalid UTF-8, and the errors for vocabularies that cannot work.

import fc from 'fast-check';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import type { CheckedModel } from '../../src/check/model.ts';
import { byteTokenizer, parseVocabulary, tokenizerOptionsOf, TokenizerError, vocabularyTokenizer } from '../../src/runtime/tokenizer.ts';

const root = join(import.meta.dirname, '..', '..');
const spec = (name: string): CheckedModel => {
  const r = checkSource(readFileSync(join(root, 'specs', name), 'utf8'), name);
  if (!r.model) throw new Error(`${name} does not check`);
  return r.model;
};

const translator = byteTokenizer(tokenizerOptionsOf(spec('translator.mdl')));

describe('the spec decides the specials and the byte offset', () => {
  it('translator: pad 0, bos 1, eos 2, so byte b is id b + 3', () => {
    expect(tokenizerOptionsOf(spec('translator.mdl'))).toEqual({ vocabSize: 480, specials: { pad: 0, bos: 1, eos: 2 }, reserved: [0, 1, 2] });
    expect(translator.byteOffset).toBe(3);
    expect(translator.encode('A')).toEqual([0x41 + 3]);
    expect(translator.encode('我')).toEqual([0xe6 + 3, 0x88 + 3, 0x91 + 3]);
  });

  it('takes the specials of the target, not the decoder input or the source', () => {
    const text = `model m {
  dim vocab = 300, d_model = 8, heads = 2
  dim B, S, T
  input src: tokens[B, S] pad 5
  input tgt: tokens[B, T] pad 0 bos 1 eos 2
  decoder_input dec_in = shift_right(tgt, bos = 1)
  embed tokens: learned(vocab, d_model), positions: sinusoidal
  stack encoder x 1 on src { attention self heads = heads
    ffn 8 relu }
  stack decoder x 1 on dec_in { attention self heads = heads mask = causal
    attention cross memory = encoder heads = heads
    ffn 8 relu }
  output logits = project(decoder, vocab)
}`;
    const r = checkSource(text, 'm.mdl');
    expect(r.diagnostics).toEqual([]);
    const opts = tokenizerOptionsOf(r.model!);
    expect(opts.specials).toEqual({ pad: 0, bos: 1, eos: 2 });
    expect(opts.reserved).toEqual([0, 1, 2, 5]); // the source's pad 5 is kept free of bytes too
    const t = byteTokenizer(opts);
    expect(t.byteOffset).toBe(6);
    expect(t.decode([5, 6 + 0x61, 3])).toBe('a<3>');
  });

  it('gpt2-small: pad 50256 is the last of 50257 ids, so bytes take ids 0..255 below it', () => {
    const gpt2 = byteTokenizer(tokenizerOptionsOf(spec('gpt2-small.mdl')));
    expect(gpt2.byteOffset).toBe(0);
    expect(gpt2.encode('A\u00e9')).toEqual([0x41, 0xc3, 0xa9]);
    expect(gpt2.decode([0x68, 0x69, 50256])).toBe('hi');
    expect(gpt2.tokenText(50256)).toBe('<pad>');
    expect(gpt2.tokenText(0x41)).toBe('A');
    expect(gpt2.decode([300])).toBe('<300>'); // neither a byte nor a special
  });

  it('bytes follow the largest special whenever they fit there, even when the specials are high', () => {
    expect(byteTokenizer({ vocabSize: 1000, specials: { pad: 500 } }).byteOffset).toBe(501);
    expect(byteTokenizer({ vocabSize: 757, specials: { pad: 500 } }).byteOffset).toBe(501);
    expect(byteTokenizer({ vocabSize: 756, specials: { pad: 500 } }).byteOffset).toBe(0);
  });

  it('a vocabulary with room neither after nor below the specials: a clear error naming both', () => {
    expect(() => byteTokenizer({ vocabSize: 300, specials: { pad: 0, eos: 100 } })).toThrow(
      new TokenizerError(
        'the byte-level tokenizer needs 256 ids for the UTF-8 bytes, either after the largest special id 100 (ids 101..356, but the vocabulary has 300) or below every special id (but special id 0 is under 256)',
      ),
    );
  });

  it('without specials, bytes start at id 0', () => {
    expect(byteTokenizer({ vocabSize: 256, specials: {} }).encode('\u0000\u00ff')).toEqual([0, 0xc3, 0xbf]);
    expect(() => byteTokenizer({ vocabSize: 255, specials: {} })).toThrow(/needs 256 ids/);
  });

  it('rejects special ids outside the vocabulary', () => {
    expect(() => byteTokenizer({ vocabSize: 300, specials: { eos: 300 } })).toThrow('special id 300 is outside the vocabulary of 300 ids');
  });
});

describe('round trips', () => {
  it('the seed sentences', () => {
    for (const text of ['我喜欢吃苹果', 'I like to eat apples']) {
      const ids = translator.encode(text);
      expect(ids.every((id) => id >= 3 && id < 259)).toBe(true);
      expect(translator.decode(ids)).toBe(text);
    }
    expect(translator.encode('我喜欢吃苹果')).toHaveLength(18);
    expect(translator.encode('I like to eat apples')).toHaveLength(20);
  });

  it('any well-formed text (property)', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme' }), (text) => translator.decode(translator.encode(text)) === text));
  });

  it('lone surrogates are encoded as U+FFFD, as UTF-8 requires', () => {
    expect(translator.decode(translator.encode('a\ud800b'))).toBe('a\ufffdb');
  });
});

describe('specials', () => {
  it('encode adds bos/eos only when asked', () => {
    expect(translator.encode('hi', { bos: true, eos: true })).toEqual([1, 0x68 + 3, 0x69 + 3, 2]);
    expect(() => byteTokenizer({ vocabSize: 300, specials: { pad: 0 } }).encode('x', { eos: true })).toThrow('the spec declares no eos id for its tokens');
  });

  it('decode skips them, also between the bytes of one character', () => {
    const ids = translator.encode('苹果');
    expect(translator.decode([1, ...ids.slice(0, 2), 0, ...ids.slice(2), 2, 0, 0])).toBe('苹果');
  });

  it('tokenText names them and shows bytes', () => {
    expect([0, 1, 2, 3 + 0x41, 3 + 0xe6, 300].map((id) => translator.tokenText(id))).toEqual(['<pad>', '<bos>', '<eos>', 'A', '<0xE6>', '<300>']);
  });
});

describe('ids that are not text', () => {
  it('invalid UTF-8 decodes with U+FFFD', () => {
    const b = (x: number) => x + 3;
    expect(translator.decode([b(0xff), b(0x41)])).toBe('\ufffdA');
    expect(translator.decode([b(0xe6), b(0x88)])).toBe('\ufffd'); // a truncated 3-byte sequence
    expect(translator.decode([b(0xc0), b(0x80)])).toBe('\ufffd\ufffd'); // an overlong encoding
  });

  it('ids outside the byte range show as <id> and cut byte sequences', () => {
    expect(translator.decode([3 + 0x61, 259, 3 + 0x62, 319, -1, 1000])).toBe('a<259>b<319><-1><1000>');
    expect(translator.decode([3 + 0xe6, 300, 3 + 0x88, 3 + 0x91])).toBe('\ufffd<300>\ufffd\ufffd');
  });
});

describe('vocabulary files', () => {
  const opts = { vocabSize: 320, specials: { pad: 0, bos: 1, eos: 2 } };

  it('encode greedily, longest match first, with byte fallback', () => {
    const t = vocabularyTokenizer(parseVocabulary('{"apple": 300, "apples": 301, "app": 302, " ": 303, "苹果": 304, "eat": 305}', 'v.json'), opts);
    expect(t.encode('apples')).toEqual([301]);
    expect(t.encode('apple pie')).toEqual([300, 303, 3 + 0x70, 3 + 0x69, 3 + 0x65]);
    expect(t.encode('appl')).toEqual([302, 3 + 0x6c]);
    expect(t.encode('吃苹果')).toEqual([3 + 0xe5, 3 + 0x90, 3 + 0x83, 304]);
    expect(t.decode(t.encode('I eat apples, 吃苹果'))).toBe('I eat apples, 吃苹果');
    expect(t.tokenText(304)).toBe('苹果');
  });

  it('round-trip any text (property)', () => {
    const t = vocabularyTokenizer({ ab: 260, abc: 261, b: 262, é: 263, '😀x': 264 }, opts);
    fc.assert(fc.property(fc.string({ unit: fc.constantFrom('a', 'b', 'c', 'é', '😀', 'x', '我') }), (text) => t.decode(t.encode(text)) === text));
  });

  it('list every entry that collides or is out of range', () => {
    const bad = () => vocabularyTokenizer({ '': 300, pad: 0, byte: 10, far: 320, frac: 1.5, a: 301, b: 301 }, opts, 'v.json');
    expect(bad).toThrow(TokenizerError);
    expect(bad).toThrow(
      'v.json: 6 bad entries:\n' +
        '  token "" → 300: empty token\n' +
        '  token "pad" → 0: the id of a special token\n' +
        '  token "byte" → 10: a byte id (bytes use 3..258)\n' +
        '  token "far" → 320: not an id in [0, 320)\n' +
        '  token "frac" → 1.5: not an id in [0, 320)\n' +
        '  token "b" → 301: id already used by another token',
    );
  });

  it('must be a JSON object', () => {
    expect(() => parseVocabulary('[1]', 'v.json')).toThrow('v.json: a vocabulary must be a JSON object mapping token strings to ids');
    expect(() => parseVocabulary('{', 'v.json')).toThrow(/^v\.json: not valid JSON/);
    expect(() => vocabularyTokenizer(parseVocabulary('{"x": "5"}', 'v.json'), opts, 'v.json')).toThrow(/token "x" → "5": not an id/);
  });
});
