// Training data → one padded batch of model inputs, the reader `mdl grad` uses (one batch = the whole file).
//
// - Encoder-decoder spec (its output stack reads a shift_right decoder input): TSV lines `source<TAB>target`. The
//   source fills the encoder's tokens input; the target fills the input the decoder input is shifted from, ending
//   with its eos when it declares one (shift_right adds bos itself).
// - Decoder-only spec: plain text lines, one sequence each, or JSONL (a file whose first non-blank line starts
//   with `{`): `{"text": "…"}`; `{"prompt": "…", "text": "…"}` fills a lengths input along the sequence with the
//   prompt's length (bos included), as instruction tuning's `count = q + 1 >= prompt[b]` reads it; and
//   `{"documents": ["…", "…"]}` packs several documents into one row and fills a segments input with their ids.
//   The sequence starts with bos and ends with eos when the tokens input declares them.
//
// - Either kind: JSONL whose fields are named after the spec's inputs, so that any input can be fed: text or ids for
//   a tokens input, a whole number for a lengths input, ids for a segments input (`{"src": "…", "tgt": "…"}`).
//
// Rows are padded to the longest with each input's pad id. Every problem names the file and line.

import type { CheckedModel, InputInfo } from '../check/model.ts';
import type { Tokenizer } from './tokenizer.ts';

export class TrainingDataError extends Error {}

export interface TrainingBatch {
  dims: Record<string, number>;
  inputs: Record<string, Int32Array>;
  examples: number;
}

export interface Row {
  line: number;
  tokens: Record<string, number[]>;
  segments?: number[];
  prompt?: number;
}

export function readTrainingBatch(text: string, path: string, m: CheckedModel, codec: Tokenizer): TrainingBatch {
  const rows = readTrainingRows(text, path, m, codec);
  if (rows.length === 0) throw new TrainingDataError(`${path}: no examples (the file has no non-blank line)`);
  return packRows(rows, m, path);
}

/**
 * Every example of a data file, tokenized, one row per non-blank line. A bad line (wrong shape, too long, a label
 * outside the vocabulary) throws, naming file:line, unless `onBad` is given: then it is passed the message and skipped.
 */
export function readTrainingRows(text: string, path: string, m: CheckedModel, codec: Tokenizer, onBad?: (message: string) => void): Row[] {
  const stack = m.stacks.find((s) => s.name === m.output?.from);
  const fed = stack ? m.inputs.get(stack.source) : undefined;
  if (!stack || !fed) throw new TrainingDataError(`${m.name}: the spec has no output stack to train`);
  const lines = text.split(/\r?\n/);
  const rows: Row[] = [];
  const inputs = [...m.inputs.values()].filter((i) => !i.shiftedFrom);
  for (const i of inputs) if (i.kind === 'features') throw new TrainingDataError(`${path}: '${i.name}' holds features, and mdl reads only text data`);
  if (fed.shiftedFrom) {
    const target = m.inputs.get(fed.shiftedFrom)!;
    const source = inputs.find((i) => i.kind === 'tokens' && i !== target);
    if (!source) throw new TrainingDataError(`${m.name}: no tokens input for the source`);
    const jsonl = lines.find((l) => l.trim())?.trim().startsWith('{') ?? false;
    lines.forEach((raw, at) => guard(at, () => {
      if (!raw.trim()) return;
      if (jsonl) return void rows.push(namedRow(parseLine(raw, `${path}:${at + 1}`), `${path}:${at + 1}`, at + 1, inputs, fed, codec));
      const cols = raw.split('\t');
      if (cols.length !== 2) throw new TrainingDataError(`${path}:${at + 1}: expected source<TAB>target, found ${cols.length === 1 ? 'no tab' : `${cols.length - 1} tabs`}`);
      rows.push({ line: at + 1, tokens: { [source.name]: codec.encode(cols[0]), [target.name]: codec.encode(cols[1], { eos: target.eos !== undefined }) } });
    }));
  } else {
    const jsonl = lines.find((l) => l.trim())?.trim().startsWith('{') ?? false;
    lines.forEach((raw, at) => guard(at, () => {
      if (!raw.trim()) return;
      rows.push(jsonl ? jsonRow(raw, `${path}:${at + 1}`, at + 1, fed, codec, inputs) : { line: at + 1, tokens: { [fed.name]: sequence([raw], fed, codec).ids } });
    }));
  }
  return rows;

  function guard(at: number, body: () => void): void {
    const before = rows.length;
    try {
      body();
      if (rows.length > before) checkRow(rows[before], inputs, m, path);
    } catch (e) {
      rows.length = before;
      if (!(e instanceof TrainingDataError) || !onBad) throw e;
      onBad(e.message.startsWith(`${path}:`) ? e.message : `${path}:${at + 1}: ${e.message}`);
    }
  }
}

/** A row that could never fit the spec: longer than its axis allows, or a label the output cannot predict. */
function checkRow(r: Row, inputs: InputInfo[], m: CheckedModel, path: string): void {
  const vocab = m.output?.vocab ?? Infinity;
  for (const input of inputs) {
    const ids = r.tokens[input.name];
    if (!ids) continue;
    const bound = m.dims.get(input.axis!)?.bound;
    if (bound !== undefined && ids.length > bound) throw new TrainingDataError(`${path}:${r.line}: ${ids.length} tokens, but ${input.axis} is at most ${bound} in ${m.name}`);
    const outside = m.loss?.labels === input.name ? ids.find((v) => v >= vocab) : undefined;
    if (outside !== undefined) throw new TrainingDataError(`${path}:${r.line}: token id ${outside} is outside the output vocabulary (0..${vocab - 1})`);
  }
}

/** Rows padded into one batch of model inputs (each input padded to its longest row with its pad id). */
export function packRows(rows: Row[], m: CheckedModel, path: string): TrainingBatch {
  return pack(rows, [...m.inputs.values()].filter((i) => !i.shiftedFrom), m, path);
}

function sequence(parts: string[], input: InputInfo, codec: Tokenizer): { ids: number[]; segments: number[]; firstLength: number } {
  const ids: number[] = [];
  const segments: number[] = [];
  let firstLength = 0;
  parts.forEach((p, doc) => {
    const t = codec.encode(p, { bos: input.bos !== undefined, eos: input.eos !== undefined });
    ids.push(...t);
    segments.push(...t.map(() => doc));
    if (doc === 0) firstLength = t.length;
  });
  return { ids, segments, firstLength };
}

function parseLine(raw: string, where: string): Record<string, unknown> {
  let o: unknown;
  try {
    o = JSON.parse(raw);
  } catch {
    throw new TrainingDataError(`${where}: not valid JSON`);
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) throw new TrainingDataError(`${where}: expected a JSON object`);
  return o as Record<string, unknown>;
}

/**
 * A JSONL line naming the spec's inputs: a tokens input takes text (with the specials a sequence of its kind gets:
 * bos and eos for the decoder's tokens, eos for a target that shift_right reads, none for a source) or ids; a
 * lengths input a whole number; a segments input ids.
 */
function namedRow(o: Record<string, unknown>, where: string, line: number, inputs: InputInfo[], fed: InputInfo, codec: Tokenizer): Row {
  const row: Row = { line, tokens: {} };
  const ids = (v: unknown, key: string): number[] => {
    if (Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0)) return v as number[];
    throw new TrainingDataError(`${where}: "${key}" must be ${typeof v === 'string' ? 'a list of ids' : 'text or a list of ids'}`);
  };
  for (const [key, v] of Object.entries(o)) {
    const input = inputs.find((i) => i.name === key);
    if (!input) throw new TrainingDataError(`${where}: unknown field "${key}" (the spec's inputs are ${inputs.map((i) => i.name).join(', ')})`);
    if (input.kind === 'lengths') {
      if (!Number.isInteger(v) || (v as number) < 0) throw new TrainingDataError(`${where}: "${key}" must be a whole number`);
      row.prompt = v as number;
    } else if (input.kind === 'segments') row.segments = ids(v, key);
    else if (typeof v === 'string') {
      const decoder = input === fed;
      const target = fed.shiftedFrom === input.name;
      row.tokens[key] = codec.encode(v, { bos: decoder && input.bos !== undefined, eos: (decoder || target) && input.eos !== undefined });
    } else row.tokens[key] = ids(v, key);
  }
  return row;
}

function jsonRow(raw: string, where: string, line: number, fed: InputInfo, codec: Tokenizer, inputs: InputInfo[]): Row {
  const o = parseLine(raw, where);
  // The fixed forms come first: an input may itself be called "prompt" (a lengths input the prompt fills).
  const fixed = Object.keys(o).every((k) => k === 'text' || k === 'prompt' || k === 'documents') && ('text' in o || 'documents' in o);
  if (!fixed && Object.keys(o).some((k) => inputs.some((i) => i.name === k))) return namedRow(o, where, line, inputs, fed, codec);
  const rec = o;
  const str = (x: unknown) => typeof x === 'string';
  if (o && typeof o === 'object' && Array.isArray(rec.documents) && rec.documents.every(str) && rec.documents.length > 0) {
    const s = sequence(rec.documents as string[], fed, codec);
    return { line, tokens: { [fed.name]: s.ids }, segments: s.segments };
  }
  if (o && typeof o === 'object' && str(rec.text) && (rec.prompt === undefined || str(rec.prompt))) {
    if (rec.prompt === undefined) return { line, tokens: { [fed.name]: sequence([rec.text as string], fed, codec).ids } };
    // The prompt and the answer are one sequence: bos, prompt, answer, eos.
    const prompt = codec.encode(rec.prompt as string, { bos: fed.bos !== undefined });
    const answer = codec.encode(rec.text as string, { eos: fed.eos !== undefined });
    return { line, tokens: { [fed.name]: [...prompt, ...answer] }, prompt: prompt.length };
  }
  throw new TrainingDataError(`${where}: expected {"text": "…"}, {"prompt": "…", "text": "…"}, {"documents": ["…", …]} or fields named after the spec's inputs`);
}

function pack(rows: Row[], inputs: InputInfo[], m: CheckedModel, path: string): TrainingBatch {
  const dims: Record<string, number> = {};
  // The batch dim is the first axis of every input (the checker makes them agree).
  const batch = inputs[0] ? [...inputs[0].shape[0].keys()][0] : undefined;
  if (batch) dims[batch] = rows.length;
  const out: Record<string, Int32Array> = {};
  const vocab = m.output?.vocab ?? Infinity;
  for (const input of inputs) {
    const axis = input.axis!;
    const tokenInput = input.kind === 'tokens';
    const lengthOf = (r: Row) => (tokenInput ? r.tokens[input.name]?.length : r.segments?.length) ?? 0;
    if (input.kind === 'lengths') {
      if (rows.some((r) => r.prompt === undefined)) throw new TrainingDataError(`${path}: the spec's lengths input '${input.name}' needs a "prompt" on every line ({"prompt": "…", "text": "…"})`);
      out[input.name] = Int32Array.from(rows, (r) => r.prompt!);
      continue;
    }
    if (input.kind === 'segments' && rows.some((r) => !r.segments)) {
      // A row that is a single document is document 0 throughout.
      for (const r of rows) r.segments ??= Object.values(r.tokens)[0].map(() => 0);
    }
    const length = Math.max(...rows.map(lengthOf));
    const bound = m.dims.get(axis)?.bound;
    const longest = rows.find((r) => lengthOf(r) === length)!;
    if (bound !== undefined && length > bound) throw new TrainingDataError(`${path}:${longest.line}: ${length} tokens, but ${axis} is at most ${bound} in ${m.name}`);
    if (dims[axis] !== undefined && dims[axis] !== length) throw new TrainingDataError(`${path}: inputs along ${axis} disagree in length (${dims[axis]} and ${length})`);
    dims[axis] = length;
    const data = new Int32Array(rows.length * length).fill(tokenInput ? (input.pad ?? 0) : -1);
    rows.forEach((r, b) => {
      const values = tokenInput ? r.tokens[input.name] : r.segments!;
      if (!values) throw new TrainingDataError(`${path}:${r.line}: nothing fills the input '${input.name}'`);
      values.forEach((v, q) => {
        if (tokenInput && m.loss?.labels === input.name && v >= vocab) throw new TrainingDataError(`${path}:${r.line}: token id ${v} is outside the output vocabulary (0..${vocab - 1})`);
        data[b * length + q] = v;
      });
    });
    out[input.name] = data;
  }
  return { dims, inputs: out, examples: rows.length };
}

/**
 * Packs decoder-only examples into rows of at most `limit` tokens, in file order, each example a document of its
 * own in the spec's segments input (the `within` of its loss keeps predictions inside a document). A spec without a
 * segments input cannot tell documents apart, so packing is refused there.
 */
export function packDocuments(rows: Row[], m: CheckedModel, limit: number): Row[] {
  const inputs = [...m.inputs.values()].filter((i) => !i.shiftedFrom);
  const tokens = inputs.filter((i) => i.kind === 'tokens');
  if (!inputs.some((i) => i.kind === 'segments') || tokens.length !== 1) throw new TrainingDataError(`${m.name}: packing needs a decoder-only spec with a segments input to mark the documents`);
  const name = tokens[0].name;
  const out: Row[] = [];
  let current: Row | undefined;
  let docs = 0;
  for (const r of rows) {
    const ids = r.tokens[name] ?? [];
    const segments = r.segments ?? ids.map(() => 0);
    if (!current || current.tokens[name].length + ids.length > limit) {
      current = { line: r.line, tokens: { [name]: [] }, segments: [] };
      out.push(current);
      docs = 0;
    }
    current.tokens[name].push(...ids);
    current.segments!.push(...segments.map((s) => s + docs));
    docs += Math.max(0, ...segments) + 1;
  }
  return out;
}
