// tokenizer.json files as a spec's tokenizer. GPT-2's real tokenizer (rebuilt from the ranks gpt-tokenizer ships)
// is checked against gpt-tokenizer's own, independent BPE on real text; the Llama 2, T5 and BERT layouts are checked
// on hand-built files whose expected ids are worked out in the comments.

import { encode as gptTokenizerEncode } from 'gpt-tokenizer/encoding/r50k_base';
import { describe, expect, it } from 'vitest';
import { tokenizerFromJson, tokenizerFromJsonText } from '../../src/runtime/tokenizer-json.ts';
import { TokenizerError } from '../../src/runtime/tokenizer.ts';
import { gpt2TokenizerConfig, gpt2TokenizerJson } from '../support/gpt2-tokenizer-json.ts';
import { bertConfig, bertJson, llama2Config, llama2Json, t5Config, t5Json } from './fixtures.ts';

/** Real text of several kinds: prose with contractions and numbers, runs of spaces, code, Chinese, accents, emoji. */
const TEXTS = [
  "The quick brown fox doesn't jump over the lazy dog; it's 3.14 times lazier than in 1999.",
  '我喜欢吃苹果。北京是中国的首都，人口超过两千万。',
  'def forward(self, x):\n    return self.proj(x) + 1e-5  # residual\n\n\n',
  'Naïve café owners in São Paulo — “quoted” ½ price… 🚀🙂 ok?!',
  '  leading spaces,\ttabs\tand trailing   ',
  'Mixed 中文 and English: GPT-2 的分词器 handles bytes.',
];

describe('GPT-2 byte-level BPE from tokenizer.json', () => {
  const gpt2 = tokenizerFromJson(gpt2TokenizerJson(), gpt2TokenizerConfig, { vocabSize: 50257, specials: {} }, 'gpt2/tokenizer.json');

  it('gives the same ids as gpt-tokenizer, an independent implementation of the same BPE, on real text', () => {
    for (const text of TEXTS) expect(gpt2.encode(text), text).toEqual(gptTokenizerEncode(text));
  });

  it('spot ids known from GPT-2: "Hello world" is 15496 995, the end-of-text token is 50256', () => {
    expect(gpt2.encode('Hello world')).toEqual([15496, 995]);
    expect(gpt2.tokenId('<|endoftext|>')).toBe(50256);
  });

  it('round-trips every text, Chinese included', () => {
    for (const text of TEXTS) expect(gpt2.decode(gpt2.encode(text))).toBe(text);
  });

  it('takes bos and eos from the tokenizer config when the spec declares none, and skips them when decoding', () => {
    expect(gpt2.specials).toEqual({ bos: 50256, eos: 50256 });
    const ids = gpt2.encode('hi', { bos: true, eos: true });
    expect(ids).toEqual([50256, ...gptTokenizerEncode('hi'), 50256]);
    expect(gpt2.decode(ids)).toBe('hi');
    expect(gpt2.tokenText(50256)).toBe('<bos>');
    expect(gpt2.tokenText(15496)).toBe('Hello');
  });

  it('a model with more ids than the tokenizer shows the extra ids as <id> instead of dropping them', () => {
    const padded = tokenizerFromJson(gpt2TokenizerJson(), {}, { vocabSize: 50304, specials: {} }, 'gpt2');
    expect(padded.decode([15496, 50300, 995])).toBe('Hello<50300> world');
  });

  it('a model with fewer ids than the tokenizer is refused', () => {
    expect(() => tokenizerFromJson(gpt2TokenizerJson(), {}, { vocabSize: 50000, specials: {} }, 'gpt2/tokenizer.json')).toThrow(
      new TokenizerError("gpt2/tokenizer.json: the tokenizer has ids up to 50256 but the model's vocabulary has 50000 ids"),
    );
  });
});

describe('Llama 2 layout: SentencePiece BPE with Metaspace and byte fallback', () => {
  const llama = tokenizerFromJson(llama2Json(), llama2Config, { vocabSize: 300, specials: {} }, 'llama/tokenizer.json');

  it('merges by priority inside the one ▁-prefixed word', () => {
    // "hello world" becomes "▁hello▁world" (Metaspace, ▁ prepended to the first word, not split). Merges in order:
    // ▁h, ll, ell, ▁hell, ▁hello (271), ▁w, or, ▁wor (274); "l" (262) and "d" (266) stay single.
    expect(llama.encode('hello world')).toEqual([271, 274, 262, 266]);
  });

  it('falls back to UTF-8 byte tokens for characters it has no piece for', () => {
    // "hello 我" → ▁hello (271), ▁ (259), then 我 = E6 88 91 as <0xE6> <0x88> <0x91> = 0xE6+3, 0x88+3, 0x91+3.
    expect(llama.encode('hello 我')).toEqual([271, 259, 0xe6 + 3, 0x88 + 3, 0x91 + 3]);
  });

  it('does not apply the post-processor: <s> comes only from the flag (the spec)', () => {
    expect(llama.encode('hello', { bos: true, eos: true })).toEqual([1, 271, 2]);
    expect(llama.specials).toEqual({ bos: 1, eos: 2 });
  });

  it('round-trips text, Chinese through byte fallback included', () => {
    for (const text of ['hello world', 'hello 我喜欢吃苹果', 'world hello, 世界']) expect(llama.decode(llama.encode(text))).toBe(text);
    expect(llama.decode([1, 271, 274, 262, 266, 2])).toBe('hello world');
  });
});

describe('T5 layout: Unigram with Metaspace', () => {
  const t5 = tokenizerFromJson(t5Json(), t5Config, { vocabSize: 32, specials: {} }, 't5/tokenizer.json');

  it('picks the most likely segmentation, not the longest first piece', () => {
    // Words "▁the", "▁cats", "▁我喜欢". ▁the is one piece (4, log-prob −3). For ▁cats, ▁cat + s = −3.5 − 5 = −8.5
    // but ▁ca + ts = −4.5 − 2 = −6.5, so 9 10 (a greedy longest match would give 8 11). ▁我 + 喜欢 = −6 beats
    // ▁我 + 喜 + 欢 = −15: 14 15.
    expect(t5.encode('the cats 我喜欢')).toEqual([4, 9, 10, 14, 15]);
  });

  it('round-trips, and takes eos and pad from the config', () => {
    expect(t5.decode(t5.encode('the cats 我喜欢'))).toBe('the cats 我喜欢');
    expect(t5.specials).toEqual({ pad: 0, eos: 1 });
    expect(t5.encode('the', { eos: true })).toEqual([4, 1]);
  });
});

describe('BERT layout: WordPiece', () => {
  const bert = tokenizerFromJson(bertJson(), bertConfig, { vocabSize: 18, specials: {} }, 'bert/tokenizer.json');

  it('lowercases, splits punctuation and each Chinese character, then takes the longest ##-pieces', () => {
    // the 5 | cats → cat ##s 6 7 | , 13 | playing → play ##ing 8 9 | ! 14 | 我 喜 欢 10 11 12 |
    // unaffable → un ##aff ##able 15 16 17 | dog → [UNK] 1. No [CLS]/[SEP]: the post-processor is not applied.
    expect(bert.encode('The cats, playing! 我喜欢 unaffable dog')).toEqual([5, 6, 7, 13, 8, 9, 14, 10, 11, 12, 15, 16, 17, 1]);
  });

  it('decodes ##-pieces back into words and drops special tokens', () => {
    // [UNK] is a special token, so it is skipped; punctuation is reattached by the decoder's cleanup.
    expect(bert.decode([2, 5, 6, 7, 13, 8, 9, 14, 15, 16, 17, 1, 3])).toBe('the cats, playing! unaffable');
    expect(bert.specials).toEqual({ pad: 0 });
  });
});

describe('specials: the spec and the tokenizer config must agree', () => {
  it('the spec wins where the config is silent', () => {
    const t5 = tokenizerFromJson(t5Json(), {}, { vocabSize: 32, specials: { bos: 0, eos: 1 } }, 't5');
    expect(t5.specials).toEqual({ bos: 0, eos: 1 });
  });

  it('a disagreement is an error naming both', () => {
    expect(() => tokenizerFromJson(llama2Json(), llama2Config, { vocabSize: 300, specials: { eos: 0 } }, 'llama/tokenizer.json')).toThrow(
      new TokenizerError(`llama/tokenizer.json: the spec's eos id is 0 but the tokenizer config's eos_token "</s>" is id 2`),
    );
  });

  it('a config naming a token the tokenizer lacks is an error', () => {
    expect(() => tokenizerFromJson(t5Json(), { eos_token: '<eos>' }, { vocabSize: 32, specials: {} }, 't5/tokenizer.json')).toThrow(
      new TokenizerError(`t5/tokenizer.json: the tokenizer config's eos_token "<eos>" is not a token of the tokenizer`),
    );
  });
});

describe('files that are not tokenizer.json', () => {
  it('a JSON vocabulary is pointed at --vocab', () => {
    expect(() => tokenizerFromJsonText('{"apple": 300}', undefined, { vocabSize: 320, specials: {} }, 'vocab.json')).toThrow(/no "model" with a "type"\); a JSON vocabulary/);
  });

  it('broken JSON says so', () => {
    expect(() => tokenizerFromJsonText('{"model": ', undefined, { vocabSize: 320, specials: {} }, 'x/tokenizer.json')).toThrow(/^x\/tokenizer\.json: not valid JSON/);
  });
});
