// Generation: greedy or sampled decoding of a compiled spec, on the GPU program or on the CPU interpreter.
//
// Every step hands the inputs of the whole sequence so far to either a KV cache (cached-decoder.ts: the source is
// encoded once, the prompt prefilled, then one new position per step) or a full forward pass (every position
// recomputed: the CPU reference, and the fallback when a mask makes the cache inexact). Both give the logits of the
// last position. For a decoder-only model the prompt is the start of the sequence. Masks apply at every step exactly
// as in training: the decoder input is built from the target by the spec's shift_right, and padding and lengths
// come from the inputs.

import type { CheckedModel, InputInfo } from '../check/model.ts';
import type { Lowered } from '../lower/passes.ts';
import { interpret, type RunInputs } from './cpu-interpreter.ts';
import { CacheInexactError, type CachedDecoder } from './cached-decoder.ts';
import type { GpuContext } from './device.ts';
import { runProgram } from './program.ts';
import type { Tokenizer } from './tokenizer.ts';
import { chooseToken, logSoftmax, processLogits, seededRandom, stopStringIn, type DecodingControls, type SamplingOptions } from './sampling.ts';

export interface GenerateOptions extends DecodingControls {
  /** Prompt ids (decoder-only) or the target prefix (encoder-decoder). */
  prompt: number[];
  /** Source ids for an encoder-decoder. */
  source?: number[];
  maxNew: number;
  onToken?: (id: number, step: number) => void;
  /** Each step's logits row (the model's, before any processing) and the chosen token's log-probability under it. */
  onStep?: (step: { id: number; step: number; logits: ArrayLike<number>; logprob: number }) => void;
  /** Checked before every step: true ends generation with what was generated so far (Ctrl-C). */
  interrupted?: () => boolean;
  /** Decode with this KV cache instead of recomputing every position at every step. */
  cache?: CachedDecoder;
  /** Called when the cache cannot reproduce a full pass and generation goes on by recomputing. */
  onCacheAbandoned?: (reason: string) => void;
  /** Inputs other than tokens (features, lengths, segments) and the dims they fix. */
  data?: StepData;
}

/**
 * Inputs other than tokens for every step. Lengths not given: along the generated axis, `promptPositions` (the
 * positions known before the first new token), fixed as the sequence grows; along another axis, its whole length.
 * Segment ids not given are 0; ids given for the generated axis cover the prompt's positions and continue with the
 * last one. Features must be given.
 */
export interface StepData {
  values?: Record<string, Int32Array | Float32Array>;
  dims?: Record<string, number>;
  /**
   * Positions before the first generated token. generate() defaults it to the prompt's (its tokens, plus the start
   * token with a decoder input); stepInputs() without it gives a lengths input along that axis the current length.
   */
  promptPositions?: number;
}

export interface Roles {
  /** The tokens input the decoder reads: the target of a decoder input, or the decoder-only model's tokens. */
  target: InputInfo;
  /** The decoder input built from the target, if any. */
  decoderInput?: InputInfo;
  /** The encoder's tokens input, if any. */
  source?: InputInfo;
  /** Features, lengths and segments inputs (see StepData for what they hold when generating). */
  others: InputInfo[];
}

export function rolesOf(m: CheckedModel): Roles {
  const out = m.output ? m.stacks.find((s) => s.name === m.output!.from) : m.stacks.at(-1);
  if (!out) throw new Error(`${m.name} has no output stack to generate from`);
  const fed = m.inputs.get(out.source)!;
  const target = fed.shiftedFrom ? m.inputs.get(fed.shiftedFrom)! : fed;
  const source = m.stacks.map((s) => m.inputs.get(s.source)!).find((i) => i.kind === 'tokens' && i !== fed && i !== target);
  const others = [...m.inputs.values()].filter((i) => i !== fed && i !== target && i !== source && !i.shiftedFrom);
  return { target, decoderInput: fed.shiftedFrom ? fed : undefined, source, others };
}

/**
 * The prompt of a text: for a decoder-only model whose tokens input declares `bos`, the start token comes first, as
 * in training; an encoder-decoder's target prefix gets none, because its decoder input's shift_right puts it there.
 */
export function promptOfText(m: CheckedModel, codec: Pick<Tokenizer, 'encode'>, text: string): number[] {
  const roles = rolesOf(m);
  const ids = codec.encode(text);
  return !roles.source && !roles.decoderInput && roles.target.bos !== undefined ? [roles.target.bos, ...ids] : ids;
}

export type Forward = (run: Omit<RunInputs, 'weights'>) => Promise<Float32Array | Float64Array>;

export function gpuForward(gpu: GpuContext, lowered: Lowered, m: CheckedModel, weights: RunInputs['weights']): Forward {
  return async (run) => (await runProgram(gpu, lowered, m, { ...run, weights })).get(lowered.program.outputs[0]) as Float32Array;
}

export function cpuForward(lowered: Lowered, m: CheckedModel, weights: RunInputs['weights']): Forward {
  return async (run) => interpret(lowered.ir, m, { ...run, weights }).get(lowered.ir.outputs[0]) as Float64Array;
}

export async function generate(m: CheckedModel, forward: Forward, opts: GenerateOptions): Promise<number[]> {
  const roles = rolesOf(m);
  const vocab = m.output?.vocab ?? m.embed?.vocab ?? 0;
  const stops = stopIdsOf(m, opts.stopIds);
  const maxLen = boundOf(m, roles.target.axis);
  const out: number[] = [];
  let cache = opts.cache;
  const random = seededRandom(opts.seed ?? 0);
  const sampling: SamplingOptions = { greedy: opts.greedy, temperature: opts.temperature, topK: opts.topK, topP: opts.topP, repetitionPenalty: opts.repetitionPenalty, pad: roles.target.pad };
  // Lengths along the generated axis stay at the prompt's positions unless the caller says otherwise.
  const data: StepData = { ...opts.data, promptPositions: opts.data?.promptPositions ?? opts.prompt.length + (roles.decoderInput ? 1 : 0) };
  for (let step = 0; step < opts.maxNew; step++) {
    if (opts.interrupted?.()) break;
    const { run, length } = stepInputs(m, [...opts.prompt, ...out], opts.source ?? [], roles, data);
    if (length > maxLen) break;
    let row: ArrayLike<number> | undefined;
    if (cache) {
      try {
        row = await cache.next(run);
      } catch (error) {
        if (!(error instanceof CacheInexactError)) throw error;
        opts.onCacheAbandoned?.(error.message);
        cache.destroy();
        cache = undefined;
      }
    }
    if (!row) {
      const logits = await forward(run);
      row = logits.subarray((length - 1) * vocab, length * vocab);
    }
    const next = chooseToken(processLogits(row, [...opts.prompt, ...out], sampling), sampling, random);
    out.push(next);
    opts.onStep?.({ id: next, step, logits: row, logprob: logSoftmax(row)[next] });
    opts.onToken?.(next, step);
    if (stops.includes(next)) break;
    // The CPU reference computes without yielding: let a pending Ctrl-C be seen before the next step.
    if (opts.interrupted) await new Promise((done) => setTimeout(done, 0));
    if (opts.stopStrings?.length && opts.decode && stopStringIn(opts.decode(out), opts.stopStrings) !== undefined) break;
  }
  return out;
}

/** The ids generation stops after: those given, or the eos of the tokens the decoder reads. */
export function stopIdsOf(m: CheckedModel, given?: number[]): number[] {
  if (given) return given;
  const roles = rolesOf(m);
  const eos = roles.decoderInput?.eos ?? roles.target.eos;
  return eos === undefined ? [] : [eos];
}

function boundOf(m: CheckedModel, axis: string | undefined): number {
  const d = axis ? m.dims.get(axis) : undefined;
  return d?.concrete ?? d?.bound ?? 4096;
}

/**
 * The inputs of one generation step: the whole sequence so far, whose last position predicts the next token. With a
 * decoder input, position t is fed the target's token t-1: one more position than the tokens known so far.
 */
export function stepInputs(m: CheckedModel, tokens: number[], source: number[], roles = rolesOf(m), data: StepData = {}): { run: Omit<RunInputs, 'weights'>; length: number } {
  const length = roles.decoderInput ? tokens.length + 1 : tokens.length;
  return { run: inputsFor(m, roles, tokens, length, source, data), length };
}

function inputsFor(m: CheckedModel, roles: Roles, tokens: number[], length: number, source: number[], data: StepData): Omit<RunInputs, 'weights'> {
  const pad = roles.target.pad ?? 0;
  const dims: Record<string, number> = { ...data.dims, B: 1 };
  const inputs: RunInputs['inputs'] = {};
  const target = roles.target.axis!;
  dims[target] = length;
  inputs[roles.target.name] = Int32Array.from({ length }, (_, i) => tokens[i] ?? pad);
  if (roles.source) {
    if (source.length === 0) throw new Error(`${m.name} is an encoder-decoder: give a source`);
    dims[roles.source.axis!] = source.length;
    inputs[roles.source.name] = Int32Array.from(source);
  }
  for (const o of roles.others) {
    const given = data.values?.[o.name];
    const len = o.axis ? (dims[o.axis] ?? length) : length;
    if (o.kind === 'features') {
      if (!given) throw new Error(`${m.name} reads features '${o.name}', and none were given`);
      inputs[o.name] = given;
    } else if (o.kind === 'lengths') {
      inputs[o.name] = given ?? Int32Array.of(o.axis === target && data.promptPositions !== undefined ? data.promptPositions : len);
    } else if (o.kind === 'segments') {
      // Positions past the given ids (the generated ones) belong to the last document.
      inputs[o.name] = given ? Int32Array.from({ length: len }, (_, i) => given[Math.min(i, given.length - 1)]) : new Int32Array(len);
    }
  }
  return { dims, inputs };
}

/** Fixed inputs for comparing one forward pass across runtimes (Node, the browser): the prompt padded or cut to 5. */
export function probeInputs(model: CheckedModel, source: number[] | undefined, prompt: number[]): Omit<RunInputs, 'weights'> {
  const roles = rolesOf(model);
  const length = 5;
  const dims: Record<string, number> = { B: 1, [roles.target.axis!]: length };
  const inputs: Record<string, Int32Array> = { [roles.target.name]: Int32Array.from({ length }, (_, i) => prompt[i] ?? 3 + i) };
  if (roles.source && source) {
    dims[roles.source.axis!] = source.length;
    inputs[roles.source.name] = Int32Array.from(source);
  }
  for (const o of roles.others) {
    if (o.kind === 'lengths') inputs[o.name] = Int32Array.from([dims[o.axis!] ?? length]);
    if (o.kind === 'segments') inputs[o.name] = new Int32Array(dims[o.axis!] ?? length);
  }
  return { dims, inputs };
}
