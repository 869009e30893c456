// A Hugging Face `tokenizer.json` as a spec's tokenizer: byte-level BPE (GPT-2, Llama 3), SentencePiece-style BPE
// and Unigram with Metaspace (Llama 2, Mistral, T5, Marian), WordPiece (BERT). The file is interpreted by
// `@huggingface/tokenizers`, the pure JavaScript port of the library that writes these files, so normalizers,
// pre-tokenizers, models and decoders behave as they do where the checkpoint came from.
//
// What this module adds is the contract with the spec:
//   - every id the tokenizer can produce must be an id of the model's vocabulary (a model may have more ids than
//     its tokenizer, as checkpoints padded to a multiple of 64 do; those extra ids decode as `<id>`);
//   - the specials (pad, bos, eos) are the spec's where it declares them, else the tokenizer config's
//     (`tokenizer_config.json`: `bos_token`, `eos_token`, `pad_token`); where both name one, they must agree, since a
//     disagreement means the tokenizer belongs to another model;
//   - `encode` adds no specials of its own (the library's post-processor, which would add Llama's <s> or BERT's
//     [CLS]/[SEP], is not applied): specials come from the spec's inputs, as with the byte-level tokenizer, so the
//     same spec behaves the same whichever tokenizer feeds it.
//
// No Node imports: the browser page uses this module as is.

import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { TokenizerError, type SpecialTokens, type Tokenizer, type TokenizerOptions } from './tokenizer.ts';

export interface JsonTokenizer extends Tokenizer {
  /** Ids the tokenizer file defines: 0 … tokenizerSize − 1 (at most the model's vocabSize). */
  readonly tokenizerSize: number;
  /** Token string → id, the `model.vocab` plus added tokens. */
  tokenId(token: string): number | undefined;
}

/** Parses the text of a tokenizer.json (and, when given, its tokenizer_config.json) into a tokenizer for a spec. */
export function tokenizerFromJsonText(text: string, configText: string | undefined, opts: TokenizerOptions, source: string): JsonTokenizer {
  const json = parseObject(text, source);
  const config = configText === undefined ? {} : parseObject(configText, source.replace(/tokenizer\.json$/, 'tokenizer_config.json'));
  return tokenizerFromJson(json, config, opts, source);
}

export function tokenizerFromJson(json: Record<string, unknown>, config: Record<string, unknown>, opts: TokenizerOptions, source: string): JsonTokenizer {
  const model = json.model as Record<string, unknown> | undefined;
  if (typeof model !== 'object' || model === null || typeof model.type !== 'string') {
    throw new TokenizerError(`${source}: not a tokenizer.json (no "model" with a "type"); a JSON vocabulary {"token": id} goes to --vocab`);
  }
  let hf: HfTokenizer;
  try {
    hf = new HfTokenizer(json, config);
  } catch (e) {
    throw new TokenizerError(`${source}: cannot build the ${model.type} tokenizer: ${(e as Error).message}`);
  }
  const vocab = hf.get_vocab(true);
  let size = 0;
  for (const id of vocab.values()) size = Math.max(size, id + 1);
  if (size > opts.vocabSize) {
    throw new TokenizerError(`${source}: the tokenizer has ids up to ${size - 1} but the model's vocabulary has ${opts.vocabSize} ids`);
  }

  const specials = specialsOf(hf, config, opts.specials, source);
  const skipped = new Set<number>([...(opts.reserved ?? []), ...Object.values(specials), ...[...hf.get_added_tokens_decoder()].filter(([, t]) => t.special).map(([id]) => id)]);
  const specialName = new Map<number, string>();
  for (const [name, id] of Object.entries(specials)) if (!specialName.has(id)) specialName.set(id, name);

  const decodeKnown = (ids: number[]) => (ids.length ? hf.decode(ids, { skip_special_tokens: true }) : '');
  return {
    vocabSize: opts.vocabSize,
    tokenizerSize: size,
    specials,
    tokenId: (token) => hf.token_to_id(token),
    encode(text, flags = {}) {
      const ids = hf.encode(text, { add_special_tokens: false }).ids;
      if (flags.bos) ids.unshift(required('bos', specials.bos));
      if (flags.eos) ids.push(required('eos', specials.eos));
      return ids;
    },
    decode(ids) {
      // Runs of the tokenizer's own ids decode together (a word's pieces join, bytes of one character combine);
      // an id beyond the tokenizer is shown as `<id>` so nothing is dropped silently.
      let out = '';
      let run: number[] = [];
      for (const id of ids) {
        if (skipped.has(id)) continue;
        if (id >= 0 && id < size && hf.id_to_token(id) !== undefined) run.push(id);
        else {
          out += decodeKnown(run) + `<${id}>`;
          run = [];
        }
      }
      return out + decodeKnown(run);
    },
    tokenText(id) {
      const name = specialName.get(id);
      if (name) return `<${name}>`;
      return hf.id_to_token(id) ?? `<${id}>`;
    },
  };
}

const SPECIAL_KEYS = { pad: 'pad_token', bos: 'bos_token', eos: 'eos_token' } as const;

/** The spec's specials, completed from the tokenizer config; a special both name must have one id. */
function specialsOf(hf: HfTokenizer, config: Record<string, unknown>, fromSpec: SpecialTokens, source: string): SpecialTokens {
  const out: SpecialTokens = { ...fromSpec };
  for (const [name, key] of Object.entries(SPECIAL_KEYS) as [keyof SpecialTokens, string][]) {
    const entry = config[key];
    const token = typeof entry === 'string' ? entry : typeof entry === 'object' && entry !== null ? (entry as { content?: unknown }).content : undefined;
    if (typeof token !== 'string') continue;
    const id = hf.token_to_id(token);
    if (id === undefined) throw new TokenizerError(`${source}: the tokenizer config's ${key} ${JSON.stringify(token)} is not a token of the tokenizer`);
    const declared = fromSpec[name];
    if (declared === undefined) out[name] = id;
    else if (declared !== id) {
      throw new TokenizerError(`${source}: the spec's ${name} id is ${declared} but the tokenizer config's ${key} ${JSON.stringify(token)} is id ${id}`);
    }
  }
  return out;
}

function parseObject(text: string, source: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`${source}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new TokenizerError(`${source}: expected a JSON object`);
  return json as Record<string, unknown>;
}

function required(name: string, id: number | undefined): number {
  if (id === undefined) throw new TokenizerError(`neither the spec nor the tokenizer config declares a ${name} token`);
  return id;
}
