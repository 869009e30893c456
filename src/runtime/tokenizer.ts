// Text ↔ token ids for a spec, offline, with no trained vocabulary needed.
//
// Byte-level scheme (the default):
//   - the special ids declared by the spec (pad, bos, eos of its tokens inputs and decoder input) keep their ids;
//   - the 256 UTF-8 bytes take one block of consecutive ids, `byteOffset` … `byteOffset + 255`:
//       * after the largest special id (`byteOffset` = 1 + that id, 0 without specials) when the block fits in the
//         vocabulary there: for the translator (pad 0, bos 1, eos 2) byte b is b + 3;
//       * otherwise at ids 0 … 255, when every special id is 256 or more: specials at the top of the vocabulary, as
//         GPT-2's <|endoftext|> (50256 of 50257), leave the bottom to the bytes.
//     A vocabulary where neither fits is refused with both requirements stated.
//   Ids outside the byte block that are not specials are unused by `encode`.
//
// Vocabulary file (optional): a JSON object mapping token strings to ids, `{"apple": 300, "苹果": 301}`. Encoding is
// greedy longest match over the UTF-8 bytes of the text; where no token matches, one byte is emitted with its
// byte-level id (byte fallback), so any text encodes. Vocabulary ids must not collide with specials or byte ids.
//
// `encode` adds no specials unless asked. `decode` skips specials, turns bytes (and vocabulary tokens) back into UTF-8
// with invalid sequences replaced by U+FFFD, and shows any other id as `<id>` so nothing is dropped silently.
//
// No Node imports: the browser uses this module as is (TextEncoder/TextDecoder are standard).

import type { CheckedModel, InputInfo } from '../check/model.ts';

export class TokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerError';
  }
}

export interface SpecialTokens {
  pad?: number;
  bos?: number;
  eos?: number;
}

export interface TokenizerOptions {
  /** The model's vocabulary size: every id is in [0, vocabSize). */
  vocabSize: number;
  /** Named specials of the tokens the decoder reads and predicts. */
  specials: SpecialTokens;
  /** Every id reserved for a special anywhere in the spec (a superset of `specials`' ids). */
  reserved?: readonly number[];
}

export interface Tokenizer {
  readonly vocabSize: number;
  readonly specials: SpecialTokens;
  encode(text: string, opts?: { bos?: boolean; eos?: boolean }): number[];
  decode(ids: Iterable<number>): string;
  /** A display form of one id: `<bos>`, the token's text, a printable byte, `<0xE6>` for other bytes, `<id>` otherwise. */
  tokenText(id: number): string;
}

/**
 * The tokenizer settings a spec implies: the vocabulary size of its embedding, the specials of the tokens input the
 * decoder reads (the target of a `shift_right` decoder input, or a decoder-only model's tokens), and every special id
 * of every tokens input as reserved, so no byte id ever collides with, say, an encoder pad id.
 */
export function tokenizerOptionsOf(m: CheckedModel): TokenizerOptions {
  if (!m.embed) throw new TokenizerError(`${m.name}: the spec has no token embedding, so there is no vocabulary to tokenize into`);
  const tokenInputs = [...m.inputs.values()].filter((i) => i.kind === 'tokens');
  const stack = m.output ? m.stacks.find((s) => s.name === m.output!.from) : m.stacks.at(-1);
  const fed = stack ? m.inputs.get(stack.source) : undefined;
  const decoderTokens: InputInfo | undefined = fed?.shiftedFrom ? m.inputs.get(fed.shiftedFrom) : fed?.kind === 'tokens' ? fed : tokenInputs[0];
  const specials: SpecialTokens = {};
  if (decoderTokens?.pad !== undefined) specials.pad = decoderTokens.pad;
  if (decoderTokens?.bos !== undefined) specials.bos = decoderTokens.bos;
  if (decoderTokens?.eos !== undefined) specials.eos = decoderTokens.eos;
  const reserved = new Set<number>();
  for (const i of tokenInputs) for (const id of [i.pad, i.bos, i.eos]) if (id !== undefined) reserved.add(id);
  return { vocabSize: m.embed.vocab, specials, reserved: [...reserved].sort((a, b) => a - b) };
}

/** The tokenizers of this file: text is UTF-8 bytes at consecutive ids, plus vocabulary tokens. */
export interface ByteTokenizer extends Tokenizer {
  /** Id of UTF-8 byte 0; byte b is `byteOffset + b`. */
  readonly byteOffset: number;
}

/** The byte-level tokenizer described at the top of this file. */
export function byteTokenizer(opts: TokenizerOptions): ByteTokenizer {
  return makeTokenizer(opts, new Map());
}

/** Byte-level ids plus the tokens of a vocabulary (token string → id), matched greedily, longest first. */
export function vocabularyTokenizer(vocabulary: ReadonlyMap<string, number> | Record<string, number>, opts: TokenizerOptions, source = 'vocabulary'): ByteTokenizer {
  const entries = vocabulary instanceof Map ? [...vocabulary] : Object.entries(vocabulary);
  return makeTokenizer(opts, new Map(entries), source);
}

/** Parses a vocabulary file's text: a JSON object of token string → integer id. */
export function parseVocabulary(text: string, source: string): Map<string, number> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new TokenizerError(`${source}: a vocabulary must be a JSON object mapping token strings to ids`);
  return new Map(Object.entries(json as Record<string, unknown>).map(([k, v]) => [k, v as number]));
}

interface TrieNode {
  id?: number;
  next: Map<number, TrieNode>;
}

function makeTokenizer(opts: TokenizerOptions, vocabulary: Map<string, number>, source = 'vocabulary'): ByteTokenizer {
  const { vocabSize, specials } = opts;
  const named: [string, number | undefined][] = [
    ['pad', specials.pad],
    ['bos', specials.bos],
    ['eos', specials.eos],
  ];
  const specialIds = new Set([...(opts.reserved ?? []), ...named.flatMap(([, id]) => (id === undefined ? [] : [id]))]);
  for (const id of specialIds) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) throw new TokenizerError(`special id ${id} is outside the vocabulary of ${vocabSize} ids`);
  }
  const byteOffset = byteBlockStart(specialIds, vocabSize);
  const specialName = new Map<number, string>();
  for (const [name, id] of named) if (id !== undefined && !specialName.has(id)) specialName.set(id, name);

  const encoder = new TextEncoder();
  const root: TrieNode = { next: new Map() };
  const tokenBytes = new Map<number, Uint8Array>();
  const problems: string[] = [];
  for (const [token, id] of vocabulary) {
    const what = `token ${JSON.stringify(token)} → ${JSON.stringify(id)}`;
    if (token === '') problems.push(`${what}: empty token`);
    else if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= vocabSize) problems.push(`${what}: not an id in [0, ${vocabSize})`);
    else if (specialIds.has(id)) problems.push(`${what}: the id of a special token`);
    else if (id >= byteOffset && id < byteOffset + 256) problems.push(`${what}: a byte id (bytes use ${byteOffset}..${byteOffset + 255})`);
    else if (tokenBytes.has(id)) problems.push(`${what}: id already used by another token`);
    else {
      const bytes = encoder.encode(token);
      tokenBytes.set(id, bytes);
      let node = root;
      for (const b of bytes) {
        let child = node.next.get(b);
        if (!child) node.next.set(b, (child = { next: new Map() }));
        node = child;
      }
      node.id = id;
    }
  }
  if (problems.length) throw new TokenizerError(`${source}: ${problems.length} bad entr${problems.length === 1 ? 'y' : 'ies'}:\n${problems.slice(0, 20).map((p) => `  ${p}`).join('\n')}`);

  const isByte = (id: number) => id >= byteOffset && id < byteOffset + 256;

  return {
    vocabSize,
    specials: { ...specials },
    byteOffset,
    encode(text, flags = {}) {
      const ids: number[] = [];
      if (flags.bos) ids.push(required('bos', specials.bos));
      const bytes = encoder.encode(text);
      for (let i = 0; i < bytes.length; ) {
        // Longest vocabulary token starting here; otherwise the single byte.
        let node: TrieNode | undefined = root;
        let best = -1;
        let bestEnd = i + 1;
        for (let j = i; j < bytes.length && (node = node.next.get(bytes[j])); j++) {
          if (node.id !== undefined) {
            best = node.id;
            bestEnd = j + 1;
          }
        }
        ids.push(best >= 0 ? best : byteOffset + bytes[i]);
        i = bestEnd;
      }
      if (flags.eos) ids.push(required('eos', specials.eos));
      return ids;
    },
    decode(ids) {
      const decoder = new TextDecoder('utf-8', { fatal: false });
      let out = '';
      let pending: number[] = [];
      const flush = () => {
        if (pending.length) out += decoder.decode(Uint8Array.from(pending));
        pending = [];
      };
      for (const id of ids) {
        if (specialIds.has(id)) continue;
        if (isByte(id)) pending.push(id - byteOffset);
        else if (tokenBytes.has(id)) pending.push(...tokenBytes.get(id)!);
        else {
          flush();
          out += `<${id}>`;
        }
      }
      flush();
      return out;
    },
    tokenText(id) {
      const name = specialName.get(id);
      if (name) return `<${name}>`;
      if (isByte(id)) {
        const b = id - byteOffset;
        return b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
      }
      const bytes = tokenBytes.get(id);
      return bytes ? new TextDecoder().decode(bytes) : `<${id}>`;
    },
  };
}

/** Where the 256 byte ids start: after the largest special id if they fit there, else at 0 below specials ≥ 256. */
export function byteBlockStart(specialIds: ReadonlySet<number>, vocabSize: number): number {
  if (specialIds.size === 0) {
    if (vocabSize < 256) throw new TokenizerError(`the byte-level tokenizer needs 256 ids for the UTF-8 bytes but the vocabulary has ${vocabSize}`);
    return 0;
  }
  const largest = Math.max(...specialIds);
  const smallest = Math.min(...specialIds);
  if (largest + 1 + 256 <= vocabSize) return largest + 1;
  if (smallest >= 256) return 0;
  throw new TokenizerError(
    `the byte-level tokenizer needs 256 ids for the UTF-8 bytes, either after the largest special id ${largest} ` +
      `(ids ${largest + 1}..${largest + 256}, but the vocabulary has ${vocabSize}) or below every special id (but special id ${smallest} is under 256)`,
  );
}

function required(name: string, id: number | undefined): number {
  if (id === undefined) throw new TokenizerError(`the spec declares no ${name} id for its tokens`);
  return id;
}
