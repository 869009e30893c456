// What `mdl run` feeds a model besides its weights — the tokenizer, the prompt and source ids, features from files,
// lengths and segment ids from `--set` — gathered and checked before anything heavy (the program, the weights) is
// built, so a run that cannot work says why at once.
//
// Defaults for the inputs a flag did not give (documented in the README under "Inputs other than text"):
//   - a lengths input along the generated axis is the number of positions the decoder reads before the first new
//     token (the prompt's tokens, plus the start token when the spec has a decoder input); it stays fixed while the
//     sequence grows, so `prefix(prompt_len)` is the prompt. Lengths along any other axis are that axis's length;
//   - segment ids are 0 (one document); ids given for the prompt continue with the last one as the sequence grows;
//   - features have no default: a spec that reads them needs `--features NAME=FILE`.

import type { CheckedModel, InputInfo } from '../check/model.ts';
import { sym } from '../check/sym.ts';
import { promptOfText, rolesOf, stepInputs, type StepData } from '../runtime/generate.ts';
import { SafetensorsError } from '../runtime/safetensors.ts';
import { readTensorFile, TensorFileError } from '../runtime/tensor-file.ts';
import { byteTokenizer, tokenizerOptionsOf, type Tokenizer } from '../runtime/tokenizer.ts';
import { checkFinite } from '../runtime/weights.ts';
import { tokenizerFor, type TokenizerFlags } from './tokenizer-flags.ts';
import { UserError } from './user-error.ts';

export interface RunInputFlags extends TokenizerFlags {
  input?: string;
  tokens?: string;
  /** The same as tokens (`--ids`). */
  ids?: string;
  source?: string;
  sourceTokens?: string;
  /** The same as sourceTokens (`--source-ids`). */
  sourceIds?: string;
  /** `NAME=VALUE` for lengths and segments inputs. */
  set?: string[];
  /** `NAME=FILE` for features inputs. */
  features?: string[];
  /** Features given inline (a JSONL row of --input-file): NAME → rows of numbers, [length, width]. */
  featureRows?: Record<string, unknown>;
}

export interface RunInputs {
  /** Turns ids back into text; without a usable tokenizer (a vocabulary too small for bytes), ids as `<id>`. */
  decode: (ids: number[]) => string;
  prompt: number[];
  source?: number[];
  data: StepData;
  /** The dims of the first step (prompt, source, features), within the spec's bounds. */
  firstDims: Record<string, number>;
}

export function gatherRunInputs(model: CheckedModel, flags: RunInputFlags): RunInputs {
  const roles = rolesOf(model);
  const vocab = model.output?.vocab ?? model.embed?.vocab ?? 0;
  const needsText = flags.input !== undefined || flags.source !== undefined || flags.vocab !== undefined || flags.tokenizer !== undefined;
  // The tokenizer is built whenever text is involved, so its problems (a vocabulary with no room for bytes) come first.
  let codec: Tokenizer | undefined;
  if (needsText) codec = tokenizerFor(model, flags);
  else codec = tryTokenizer(model);

  if (flags.ids !== undefined) {
    if (flags.tokens !== undefined) throw new UserError('--ids and --tokens are the same flag: give one');
    flags = { ...flags, tokens: flags.ids };
  }
  if (flags.sourceIds !== undefined) {
    if (flags.sourceTokens !== undefined) throw new UserError('--source-ids and --source-tokens are the same flag: give one');
    flags = { ...flags, sourceTokens: flags.sourceIds };
  }
  if (flags.tokens !== undefined && flags.input !== undefined) throw new UserError('give the prompt as --input text or as --tokens ids, not both');
  if (flags.sourceTokens !== undefined && flags.source !== undefined) throw new UserError('give the source as --source text or as --source-tokens ids, not both');
  const prompt = flags.tokens !== undefined ? ids(flags.tokens, '--tokens', vocab) : codec ? promptOfText(model, codec, flags.input ?? '') : [];
  let source: number[] | undefined;
  if (flags.sourceTokens !== undefined) source = ids(flags.sourceTokens, '--source-tokens', vocab);
  else if (flags.source !== undefined) source = codec!.encode(flags.source);

  if (roles.source && (!source || source.length === 0)) throw new UserError(`${model.name} is an encoder-decoder: give --source "text" or --source-tokens 1,2,3`);
  if (!roles.source && source) throw new UserError(`${model.name} has no tokens encoder: --source and --source-tokens do not apply`);
  // With a decoder input the start token is fed first, so generation can begin from nothing.
  if (!roles.decoderInput && prompt.length === 0) throw new UserError('give a prompt: --input "text" or --tokens 1,2,3');

  const data = inputData(model, flags, prompt.length + (roles.decoderInput ? 1 : 0), source?.length);
  const decode = codec ? (x: number[]) => codec.decode(x) : (x: number[]) => x.map((id) => `<${id}>`).join('');
  return { decode, prompt, source, data, firstDims: firstStepDims(model, prompt, source, data) };
}

/** The first step's dims, each within its bound: a prompt or source too long for the spec is refused here. */
function firstStepDims(model: CheckedModel, prompt: number[], source: number[] | undefined, data: StepData): Record<string, number> {
  const roles = rolesOf(model);
  const { dims } = stepInputs(model, prompt, source ?? [], roles, data).run;
  for (const [name, value] of Object.entries(dims)) {
    const d = model.dims.get(name);
    const what = name === roles.target.axis ? 'the prompt' : name === roles.source?.axis ? 'the source' : 'the inputs';
    if (d?.concrete !== undefined && value !== d.concrete) throw new UserError(`${name} = ${value} (from ${what}), but the spec fixes ${name} = ${d.concrete}`);
    if (d?.bound !== undefined && value > d.bound) throw new UserError(`${name} = ${value} (from ${what}) is above the spec's bound ${name} <= ${d.bound}`);
  }
  return dims;
}

/** The byte tokenizer when the vocabulary has room for it; a run from ids needs none. */
function tryTokenizer(model: CheckedModel): Tokenizer | undefined {
  try {
    return byteTokenizer(tokenizerOptionsOf(model));
  } catch {
    return undefined;
  }
}

function ids(text: string, flag: string, vocab: number): number[] {
  const out = text.split(',').filter((s) => s.trim() !== '').map((s) => Number(s.trim()));
  const bad = out.findIndex((n) => !Number.isInteger(n) || n < 0 || n >= vocab);
  if (bad >= 0) throw new UserError(`${flag}: '${text.split(',').filter((s) => s.trim() !== '')[bad].trim()}' is not a token id of the vocabulary (0..${vocab - 1})`);
  return out;
}

/** Features, lengths and segments, from the flags, checked against the spec's declarations. */
function inputData(model: CheckedModel, flags: RunInputFlags, promptPositions: number, sourceLength: number | undefined): StepData {
  const roles = rolesOf(model);
  const targetAxis = roles.target.axis;
  const values: StepData['values'] = {};
  const dims: Record<string, number> = {};
  if (roles.source?.axis && sourceLength !== undefined) dims[roles.source.axis] = sourceLength;
  const others = new Map(roles.others.map((o) => [o.name, o]));

  for (const [name, file] of pairs(flags.features ?? [], '--features', 'NAME=FILE')) {
    const input = others.get(name);
    if (input?.kind !== 'features') throw new UserError(`--features ${name}: ${notA(model, name, 'features')}`);
    const { data, length } = featuresFrom(model, input, file);
    values[name] = data;
    dims[input.axis!] = length;
  }
  for (const [name, rows] of Object.entries(flags.featureRows ?? {})) {
    const input = others.get(name);
    if (input?.kind !== 'features') throw new UserError(`${name}: ${notA(model, name, 'features')}`);
    const { data, length } = inlineFeatures(model, input, rows);
    values[name] = data;
    dims[input.axis!] = length;
  }
  for (const o of roles.others) {
    if (o.kind === 'features' && !values[o.name]) throw new UserError(`${model.name} reads features '${o.name}' ${shapeText(o)}: give them with --features ${o.name}=FILE (.npy or .safetensors)`);
  }
  for (const [name, text] of pairs(flags.set ?? [], '--set', 'NAME=VALUE')) {
    const input = others.get(name);
    if (input?.kind === 'lengths') values[name] = Int32Array.of(lengthValue(model, input, text, dims, targetAxis));
    else if (input?.kind === 'segments') values[name] = segmentValues(input, text, input.axis === targetAxis ? promptPositions : dims[input.axis!]);
    else throw new UserError(`--set ${name}: ${notA(model, name, 'lengths or segments')}`);
  }
  return { values, dims, promptPositions };
}

function pairs(items: string[], flag: string, form: string): [string, string][] {
  return items.map((item) => {
    const at = item.indexOf('=');
    if (at <= 0) throw new UserError(`${flag} takes ${form}, not '${item}'`);
    return [item.slice(0, at), item.slice(at + 1)];
  });
}

function notA(model: CheckedModel, name: string, kind: string): string {
  const input = model.inputs.get(name);
  if (!input) return `${model.name} has no input '${name}' (its inputs: ${[...model.inputs.keys()].join(', ')})`;
  const how = input.kind === 'features' ? 'give it with --features' : input.shiftedFrom ? 'it is built from its target' : input.kind === 'tokens' ? 'give tokens with --input/--tokens or --source/--source-tokens' : '';
  return `'${name}' is a ${input.shiftedFrom ? 'decoder' : input.kind} input, not ${kind}${how ? `; ${how}` : ''}`;
}

const shapeText = (i: InputInfo) => `[${i.shape.map((d) => sym.print(d)).join(', ')}]`;

/** A features tensor of shape [F, width] or [1, F, width]; F sets the input's axis. */
function featuresFrom(model: CheckedModel, input: InputInfo, file: string): { data: Float32Array; length: number } {
  let t;
  try {
    t = readTensorFile(file, input.name);
  } catch (e) {
    if (e instanceof TensorFileError || e instanceof SafetensorsError) throw new UserError(`--features ${input.name}: ${e.message}`);
    throw e;
  }
  const shape = t.shape[0] === 1 && t.shape.length === 3 ? t.shape.slice(1) : t.shape;
  return checkedFeatures(model, input, shape, t.shape, t.data, file);
}

/** Features written as JSON rows of numbers, [length, width]. */
function inlineFeatures(model: CheckedModel, input: InputInfo, rows: unknown): { data: Float32Array; length: number } {
  const isRow = (r: unknown): r is unknown[] => Array.isArray(r);
  if (!isRow(rows) || !rows.every(isRow) || !rows.every((r) => r.every((x) => typeof x === 'number'))) {
    throw new UserError(`features '${input.name}' are rows of numbers, [${input.axis}, width]`);
  }
  const width = rows[0]?.length ?? 0;
  const shape = rows.every((r) => r.length === width) ? [rows.length, width] : [rows.length, -1];
  return checkedFeatures(model, input, shape, shape, Float32Array.from((rows as number[][]).flat()), undefined);
}

/** `file`: where the features came from, named in errors (none for features given inline). */
function checkedFeatures(model: CheckedModel, input: InputInfo, shape: number[], given: number[], data: Float32Array, file: string | undefined): { data: Float32Array; length: number } {
  const at = file === undefined ? '' : `${file}: `;
  const width = input.width ? sym.evaluate(input.width, {}) : undefined;
  const axis = model.dims.get(input.axis!);
  const want = `[${input.axis}, ${width}] or [1, ${input.axis}, ${width}]`;
  const found = `[${given.map((d) => (d < 0 ? 'ragged' : d)).join(', ')}]`;
  if (shape.length !== 2 || shape[1] !== width) throw new UserError(`${at}features '${input.name}' need shape ${want} (declared ${shapeText(input)}), found ${found}`);
  const length = shape[0];
  const max = axis?.concrete ?? axis?.bound;
  if (length < 1 || (axis?.concrete !== undefined && length !== axis.concrete) || (max !== undefined && length > max)) {
    const allowed = axis?.concrete !== undefined ? `exactly ${axis.concrete}` : `1 to ${max ?? 'any'}`;
    throw new UserError(`${at}features '${input.name}' have ${length} rows along ${input.axis}; the spec allows ${allowed}`);
  }
  try {
    checkFinite(data, shape, `features '${input.name}'`, file ?? 'the input file');
  } catch (e) {
    throw e instanceof SafetensorsError ? new UserError(e.message) : e;
  }
  return { data, length };
}

function lengthValue(model: CheckedModel, input: InputInfo, text: string, dims: Record<string, number>, targetAxis: string | undefined): number {
  const n = Number(text);
  const axis = input.axis!;
  const current = axis === targetAxis ? undefined : dims[axis];
  const d = model.dims.get(axis);
  const max = current ?? d?.concrete ?? d?.bound;
  if (!Number.isInteger(n) || n < 0 || (max !== undefined && n > max)) {
    const range = max !== undefined ? `0 to ${max}${current !== undefined ? ` (the length of ${axis} in this run)` : ''}` : '0 or more';
    throw new UserError(`--set ${input.name}: lengths of ${axis} take one whole number from ${range}, not '${text}'`);
  }
  return n;
}

function segmentValues(input: InputInfo, text: string, length: number | undefined): Int32Array {
  const parts = text.split(',').map((s) => s.trim());
  const values = parts.map(Number);
  if (parts.some((s) => s === '') || values.some((v) => !Number.isInteger(v) || v < 0 || v > 2 ** 31 - 1)) {
    throw new UserError(`--set ${input.name}: segment ids are whole numbers separated by commas, not '${text}'`);
  }
  if (length !== undefined && values.length !== length) {
    throw new UserError(`--set ${input.name}: give one segment id per position of ${input.axis} known before generating (${length}), not ${values.length}`);
  }
  return Int32Array.from(values);
}
