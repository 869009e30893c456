// Hand-built tokenizer.json files, a few hundred bytes each, in the layouts Hugging Face publishes for Llama 2
// (SentencePiece BPE with Metaspace and byte fallback), T5 (Unigram with Metaspace) and BERT (WordPiece). Each is
// small enough that the ids a text must get can be worked out by hand; the tests explain each expectation.

const special = (id: number, content: string) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });

/**
 * Llama 2 layout. Ids: <unk> 0, <s> 1, </s> 2, byte tokens <0x00>…<0xFF> at 3…258 (byte b is b + 3), then
 * 259 ▁, 260 h, 261 e, 262 l, 263 o, 264 w, 265 r, 266 d and the merge results 267 ▁h, 268 ll, 269 ell,
 * 270 ▁hell, 271 ▁hello, 272 ▁w, 273 or, 274 ▁wor, in merge order.
 */
export function llama2Json(): Record<string, unknown> {
  const vocab: Record<string, number> = { '<unk>': 0, '<s>': 1, '</s>': 2 };
  for (let b = 0; b < 256; b++) vocab[`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`] = 3 + b;
  ['▁', 'h', 'e', 'l', 'o', 'w', 'r', 'd', '▁h', 'll', 'ell', '▁hell', '▁hello', '▁w', 'or', '▁wor'].forEach((t, i) => (vocab[t] = 259 + i));
  return {
    version: '1.0',
    added_tokens: [special(0, '<unk>'), special(1, '<s>'), special(2, '</s>')],
    normalizer: null,
    pre_tokenizer: { type: 'Metaspace', replacement: '▁', prepend_scheme: 'first', split: false },
    // Llama 2's post-processor prepends <s>; mdl leaves specials to the spec, so it must not show up in the ids.
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
      special_tokens: { '<s>': { id: '<s>', ids: [1], tokens: ['<s>'] } },
    },
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '▁' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        { type: 'Strip', content: ' ', start: 1, stop: 0 },
      ],
    },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: '<unk>',
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: true,
      byte_fallback: true,
      ignore_merges: false,
      vocab,
      merges: ['▁ h', 'l l', 'e ll', '▁h ell', '▁hell o', '▁ w', 'o r', '▁w or'],
    },
  };
}

export const llama2Config = { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>', add_bos_token: true };

/**
 * T5 layout: Unigram pieces with log-probabilities. Ids: <pad> 0, </s> 1, <unk> 2, ▁ 3, ▁the 4, t 5, h 6, e 7,
 * ▁cat 8, ▁ca 9, ts 10, s 11, c 12, a 13, ▁我 14, 喜欢 15, 喜 16, 欢 17.
 */
export function t5Json(): Record<string, unknown> {
  const pieces: [string, number][] = [
    ['<pad>', 0],
    ['</s>', 0],
    ['<unk>', 0],
    ['▁', -2],
    ['▁the', -3],
    ['t', -5],
    ['h', -5],
    ['e', -5],
    ['▁cat', -3.5],
    ['▁ca', -4.5],
    ['ts', -2],
    ['s', -5],
    ['c', -5],
    ['a', -5],
    ['▁我', -3],
    ['喜欢', -3],
    ['喜', -6],
    ['欢', -6],
  ];
  const metaspace = { type: 'Metaspace', replacement: '▁', prepend_scheme: 'always', split: true };
  return {
    version: '1.0',
    added_tokens: [special(0, '<pad>'), special(1, '</s>'), special(2, '<unk>')],
    normalizer: null,
    pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, metaspace] },
    // T5 appends </s> in its post-processor; again not mdl's business.
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      pair: [{ Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }, { Sequence: { id: 'B', type_id: 0 } }, { SpecialToken: { id: '</s>', type_id: 0 } }],
      special_tokens: { '</s>': { id: '</s>', ids: [1], tokens: ['</s>'] } },
    },
    decoder: metaspace,
    model: { type: 'Unigram', unk_id: 2, vocab: pieces, byte_fallback: false },
  };
}

export const t5Config = { eos_token: '</s>', pad_token: '<pad>', unk_token: '<unk>' };

/**
 * BERT layout (uncased). Ids: [PAD] 0, [UNK] 1, [CLS] 2, [SEP] 3, [MASK] 4, the 5, cat 6, ##s 7, play 8, ##ing 9,
 * 我 10, 喜 11, 欢 12, ',' 13, '!' 14, un 15, ##aff 16, ##able 17.
 */
export function bertJson(): Record<string, unknown> {
  const tokens = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'the', 'cat', '##s', 'play', '##ing', '我', '喜', '欢', ',', '!', 'un', '##aff', '##able'];
  return {
    version: '1.0',
    added_tokens: ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((t, i) => special(i, t)),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }],
      pair: [{ SpecialToken: { id: '[CLS]', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { SpecialToken: { id: '[SEP]', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }, { SpecialToken: { id: '[SEP]', type_id: 1 } }],
      special_tokens: { '[CLS]': { id: '[CLS]', ids: [2], tokens: ['[CLS]'] }, '[SEP]': { id: '[SEP]', ids: [3], tokens: ['[SEP]'] } },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: Object.fromEntries(tokens.map((t, i) => [t, i])) },
  };
}

export const bertConfig = { do_lower_case: true, pad_token: '[PAD]', unk_token: '[UNK]', cls_token: '[CLS]', sep_token: '[SEP]', mask_token: '[MASK]' };
