// `mdl run FILE …`: generate with a spec on WebGPU (or the CPU reference), from text or token ids, with seeded
// weights unless a weights file is given.

import type { Command } from 'commander';
import type { CheckedModel } from '../check/model.ts';
import { CachedDecoder, type CacheSiteStats } from '../runtime/cached-decoder.ts';
import { acquireGpu, type GpuContext } from '../runtime/device.ts';
import { cpuForward, generate, gpuForward, promptOfText, rolesOf, type Forward } from '../runtime/generate.ts';
import { DEFAULT_SEED } from '../runtime/init-weights.ts';
import { ProgramLimitError } from '../runtime/program.ts';
import { MaskSizeError } from '../masks/sizes.ts';
import { beamSearch } from '../runtime/beam-search.ts';
import { checkOutputFile } from './output-file.ts';
import { catchInterrupt, logitsFormat, PieceSplitter, writeLogits, type TokenEvent } from './run-output.ts';
import { gatherRunInputs, type RunInputFlags, type RunInputs } from './run-inputs.ts';
import { requireModel } from './load.ts';
import { readBatchFile } from './run-batch-file.ts';
import { rowLine, runBatch, type BatchResult } from './run-batch.ts';
import { prepareModel } from './run-setup.ts';
import { TOKENIZER_FLAG, VOCAB_FLAG } from './tokenizer-flags.ts';
import { UserError } from './user-error.ts';

export interface RunOptions extends RunInputFlags {
  weights?: string;
  maxNew: string;
  greedy?: boolean;
  temperature?: string;
  topK?: string;
  topP?: string;
  repetitionPenalty?: string;
  /** Stop strings (repeatable). */
  stop?: string[];
  /** Stop ids, comma-separated (default: eos). */
  stopId?: string;
  beams?: string;
  lengthPenalty?: string;
  earlyStopping?: boolean;
  /** A .npy or .safetensors file for the logits of every step. */
  logits?: string;
  force?: boolean;
  seed: string;
  backend: string;
  json?: boolean;
  /** commander's `--no-cache` sets this to false. */
  cache?: boolean;
  /** One row per line: a prompt (or source) or a JSON object with every input. */
  inputFile?: string;
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('generate tokens with a spec (seeded weights unless --weights is given)')
    .argument('<file>', '.mdl spec file')
    .option('--weights <file>', 'weights (.safetensors, names as in the README; default: seeded)')
    .option(...VOCAB_FLAG)
    .option(...TOKENIZER_FLAG)
    .option('--input <text>', 'prompt text (decoder-only) or target prefix (encoder-decoder)')
    .option('--tokens <ids>', 'prompt as token ids, e.g. 1,5,9')
    .option('--ids <ids>', 'the same as --tokens')
    .option('--source <text>', 'source text for an encoder-decoder')
    .option('--source-tokens <ids>', 'source as token ids, e.g. 4,8,15')
    .option('--source-ids <ids>', 'the same as --source-tokens')
    .option('--input-file <file>', 'generate for every line together: a prompt (source for an encoder-decoder) or a JSON object {"text"|"ids", "source"|"source_ids", INPUT: value}')
    .option('--set <name=value>', 'a lengths input (one number) or segment ids (one per prompt position, e.g. docs=0,0,1); repeatable', collect)
    .option('--features <name=file>', 'a features input from a .npy or .safetensors tensor of shape [length, width]; repeatable', collect)
    .option('--max-new <n>', 'tokens to generate at most', '16')
    .option('--greedy', 'always take the most likely token (default unless --temperature is given)')
    .option('--temperature <t>', 'sample with this temperature')
    .option('--top-k <k>', 'sample among the k most likely tokens')
    .option('--top-p <p>', 'sample among the most likely tokens whose probability reaches p (nucleus)')
    .option('--repetition-penalty <r>', 'divide positive (multiply negative) logits of tokens already present by r')
    .option('--stop <text>', 'stop once the generated text contains this; repeatable', collect)
    .option('--stop-id <ids>', "stop after one of these ids (default: the spec's eos)")
    .option('--beams <n>', 'beam search with n beams')
    .option('--length-penalty <x>', 'beam search: scores are summed log-probabilities over length^x', '1')
    .option('--early-stopping', 'beam search: stop as soon as n hypotheses have finished')
    .option('--logits <file>', "write every step's logits, [steps, vocab] float32, to a .npy or .safetensors file")
    .option('--force', 'replace an existing --logits file')
    .option('--seed <s>', 'seed for the weights and for sampling', String(DEFAULT_SEED))
    .option('--backend <name>', 'gpu or cpu', 'gpu')
    .option('--no-cache', 'recompute every position at every step instead of decoding with a KV cache')
    .option('--json', 'print a machine-readable result')
    .action(async (file: string, opts: RunOptions) => {
      const { model } = requireModel(file);
      // Tokens go to stdout as they come: text pieces, or one JSON line per token with --json.
      let printed = '';
      const stream = (e: TokenEvent) => {
        if (opts.json) process.stdout.write(`${JSON.stringify({ event: 'token', ...e })}\n`);
        else process.stdout.write(e.piece);
        printed += e.piece;
      };
      const interrupt = catchInterrupt();
      if (opts.inputFile !== undefined) {
        try {
          const out = (line: string) => process.stdout.write(`${line}\n`);
          const result = await runBatchModel(model, opts, (line) => process.stderr.write(line), {
            token: (e) => opts.json && out(JSON.stringify({ event: 'token', ...e })),
            rowDone: (r) => out(opts.json ? JSON.stringify({ event: 'row', ...r }) : rowLine(r.row, r.text)),
            interrupted: interrupt.interrupted,
            generating: interrupt.arm,
          });
          if (opts.json) out(JSON.stringify({ event: 'done', ...result, rows: undefined }));
          if (result.interrupted) {
            process.stderr.write('mdl: interrupted\n');
            process.exitCode = 130;
          }
        } finally {
          interrupt.release();
        }
        return;
      }
      try {
        const result = await runModel(model, opts, (line) => process.stderr.write(line), { stream, interrupted: interrupt.interrupted, generating: interrupt.arm });
        if (opts.json) process.stdout.write(`${JSON.stringify({ event: 'done', ...result })}\n`);
        else process.stdout.write(`${result.text.startsWith(printed) ? result.text.slice(printed.length) : ''}\n`);
        // Interrupted runs print what they generated and exit with 130, the status of a command ended by Ctrl-C.
        if (result.interrupted) {
          process.stderr.write(`mdl: interrupted after ${result.tokens.length} token(s)\n`);
          process.exitCode = 130;
        }
      } finally {
        interrupt.release();
      }
    });
}

export interface RunResult {
  model: string;
  backend: string;
  adapter?: string;
  weights: string;
  prompt: number[];
  source?: number[];
  tokens: number[];
  text: string;
  /** Every generated token: id, text piece, log-probability, time (with --beams, the best hypothesis's tokens, all timed at the search's end). */
  steps: TokenEvent[];
  /** With --beams: every final hypothesis, best first. */
  beams?: { tokens: number[]; text: string; logprob: number; score: number }[];
  /** Ctrl-C ended generation early. */
  interrupted: boolean;
  /**
   * `tokensPerSecond` is generated tokens over the whole run; `prefillTokensPerSecond` is positions of the first step
   * (source, prompt) over its time; `decodeTokensPerSecond` is tokens after the first over their time (0 with fewer than 2).
   */
  timings: { compileMs: number; firstTokenMs: number; totalMs: number; tokensPerSecond: number; prefillTokensPerSecond: number; decodeTokensPerSecond: number };
  /** How the steps were computed: with a KV cache (and its state at the end), or by recomputing, and why. */
  decoding: { cache: boolean; reason?: string; sites?: CacheSiteStats[] };
  /** On the GPU: how many attention kernel signatures took tiles from the tuning cache (`mdl tune`). */
  attentionTiles?: { tuned: number; kernels: number };
}

/** How a caller follows a run: tokens as they come, and whether Ctrl-C was pressed. */
export interface RunHooks {
  stream?: (e: TokenEvent) => void;
  interrupted?: () => boolean;
  /** Called once the program and the weights are ready, as generation starts. */
  generating?: () => void;
}

export async function runModel(model: CheckedModel, opts: RunOptions, progress: (line: string) => void, hooks: RunHooks = {}): Promise<RunResult> {
  if (opts.backend !== 'gpu' && opts.backend !== 'cpu') throw new UserError(`--backend is gpu or cpu, not '${opts.backend}'`);
  if (opts.temperature !== undefined) temperature(opts.temperature);
  const choice = decodingChoice(opts);
  if (opts.logits !== undefined) {
    if (choice.beams) throw new UserError('--logits records the steps of one sequence: it does not apply with --beams');
    logitsFormat(opts.logits);
    checkOutputFile(opts.logits, !!opts.force);
  }
  // Everything that can be wrong with the inputs is found before a device, a program or weights exist.
  const inputs = gatherRunInputs(model, opts);
  const gpu = opts.backend === 'gpu' ? await acquireGpu({ skipWorkgroupZeroInit: true }) : undefined;
  if (gpu) progress(`mdl: WebGPU adapter: ${gpu.describe()}\n`);
  try {
    return await runOn(gpu, model, opts, inputs, progress, choice, hooks);
  } catch (e) {
    throw asUserError(e);
  } finally {
    gpu?.release();
  }
}

/** `mdl run --input-file`: the rows read and checked before a device, a program or weights exist. */
export async function runBatchModel(model: CheckedModel, opts: RunOptions, progress: (line: string) => void, hooks: Parameters<typeof runBatch>[5] = {}): Promise<BatchResult> {
  if (opts.backend !== 'gpu' && opts.backend !== 'cpu') throw new UserError(`--backend is gpu or cpu, not '${opts.backend}'`);
  const single = (['input', 'tokens', 'ids', 'source', 'sourceTokens', 'sourceIds', 'set', 'features'] as const).filter((k) => opts[k] !== undefined);
  if (single.length) throw new UserError(`--input-file gives every row's inputs: --${single.map(kebab).join(', --')} do${single.length === 1 ? 'es' : ''} not apply with it`);
  const choice = decodingChoice(opts);
  if (choice.beams) throw new UserError('--beams searches one sequence at a time (its beams are the batch): it does not apply with --input-file');
  const temp = opts.temperature === undefined ? undefined : temperature(opts.temperature);
  if (opts.logits !== undefined) {
    logitsFormat(opts.logits);
    checkOutputFile(opts.logits, !!opts.force);
  }
  const rows = readBatchFile(model, opts.inputFile!, { vocab: opts.vocab, tokenizer: opts.tokenizer });
  const gpu = opts.backend === 'gpu' ? await acquireGpu({ skipWorkgroupZeroInit: true }) : undefined;
  if (gpu) progress(`mdl: WebGPU adapter: ${gpu.describe()}\n`);
  try {
    return await runBatch(gpu, model, rows, {
      backend: opts.backend,
      weights: opts.weights,
      seed: int(opts.seed, '--seed'),
      maxNew: int(opts.maxNew, '--max-new'),
      greedy: temp === undefined || !!opts.greedy,
      temperature: temp,
      topK: opts.topK === undefined ? undefined : int(opts.topK, '--top-k'),
      topP: choice.topP,
      repetitionPenalty: choice.repetitionPenalty,
      stopIds: choice.stopIds,
      stopStrings: opts.stop,
      cache: opts.cache !== false,
      logits: opts.logits,
      force: !!opts.force,
    }, progress, hooks);
  } catch (e) {
    throw asUserError(e);
  } finally {
    gpu?.release();
  }
}

const kebab = (k: string) => k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Problems a run meets at the dims it runs with (a mask size, a dim over its bound) are the user's to fix. */
function asUserError(e: unknown): unknown {
  if (e instanceof MaskSizeError || e instanceof ProgramLimitError) return new UserError(e.message);
  return e;
}

async function runOn(gpu: GpuContext | undefined, model: CheckedModel, opts: RunOptions, inputs: RunInputs, progress: (line: string) => void, choice: DecodingChoice, hooks: RunHooks): Promise<RunResult> {
  const seed = int(opts.seed, '--seed');
  const { lowered, weights, compileMs, tuned } = prepareModel(gpu, model, [inputs.firstDims], opts.weights, seed, progress);
  // From here on Ctrl-C stops generation cleanly (armed before the line below, which a caller may wait for).
  hooks.generating?.();
  if (!opts.weights) progress(`mdl: ${model.name}: no --weights given, running on seeded weights (seed ${seed})\n`);
  const roles = rolesOf(model);
  const { prompt, source, data } = inputs;
  const maxNew = int(opts.maxNew, '--max-new');
  let forward: Forward;
  let cache: CachedDecoder | undefined;
  const decoding: RunResult['decoding'] = { cache: false };
  if (gpu) {
    forward = gpuForward(gpu, lowered, model, weights);
    if (opts.cache === false) decoding.reason = 'turned off with --no-cache';
    else if (lowered.cache.unsupported) decoding.reason = lowered.cache.unsupported;
    else cache = new CachedDecoder(gpu, lowered, model, weights);
    decoding.cache = !!cache;
    progress(cache ? 'mdl: decoding with a KV cache\n' : `mdl: recomputing every position at every step: ${decoding.reason}\n`);
  } else {
    forward = cpuForward(lowered, model, weights);
    decoding.reason = 'the CPU reference recomputes every position at every step';
  }
  const start = performance.now();
  let first = 0;
  const steps: TokenEvent[] = [];
  const rows: Float32Array[] = [];
  const pieces = new PieceSplitter(inputs.decode);
  const vocab = model.output?.vocab ?? model.embed?.vocab ?? 0;
  let beams: RunResult['beams'];
  const abandoned = (reason: string) => {
    progress(`mdl: leaving the KV cache, recomputing from here on: ${reason}\n`);
    Object.assign(decoding, { cache: false, reason, sites: cache?.stats() });
  };
  try {
    let tokens: number[];
    if (choice.beams) {
      const found = await beamSearch(model, forward, { prompt, source, maxNew, data, beams: choice.beams, lengthPenalty: choice.lengthPenalty, earlyStopping: !!opts.earlyStopping, repetitionPenalty: choice.repetitionPenalty, stopIds: choice.stopIds, interrupted: hooks.interrupted, cache, onCacheAbandoned: abandoned });
      // The beams' caches were freed by the search.
      cache = undefined;
      beams = found.map((h) => ({ tokens: h.tokens, text: inputs.decode(h.tokens), logprob: h.logprob, score: h.score }));
      tokens = found[0]?.tokens ?? [];
      const logprobs = found[0]?.logprobs ?? [];
      first = performance.now() - start;
      const split = new PieceSplitter(inputs.decode);
      for (const [step, id] of tokens.entries()) steps.push({ step, id, piece: split.next(tokens.slice(0, step + 1), step === tokens.length - 1), logprob: logprobs[step], ms: round(first) });
      for (const e of steps) hooks.stream?.(e);
    } else tokens = await generate(model, forward, {
      prompt,
      source,
      maxNew,
      greedy: opts.temperature === undefined || !!opts.greedy,
      temperature: opts.temperature === undefined ? undefined : temperature(opts.temperature),
      topK: opts.topK === undefined ? undefined : int(opts.topK, '--top-k'),
      topP: choice.topP,
      repetitionPenalty: choice.repetitionPenalty,
      stopIds: choice.stopIds,
      stopStrings: opts.stop,
      decode: inputs.decode,
      interrupted: hooks.interrupted,
      onStep: ({ id, step, logits, logprob }) => {
        if (opts.logits !== undefined) rows.push(Float32Array.from(logits));
        const sofar = [...steps.map((e) => e.id), id];
        const event = { step, id, piece: pieces.next(sofar), logprob, ms: round(performance.now() - start) };
        steps.push(event);
        hooks.stream?.(event);
      },
      seed,
      cache,
      data,
      onCacheAbandoned: abandoned,
      onToken: (_id, step) => {
        if (step === 0) {
          first = performance.now() - start;
          const n = (k: number, what: string) => `${k} ${what}${k === 1 ? '' : 's'}`;
          const what = roles.source ? `encoding ${n(source!.length, 'source token')} and prefilling ${n(prompt.length + 1, 'position')}` : `prefilling ${n(prompt.length, 'prompt token')}`;
          progress(`mdl: ${what}: first token after ${first.toFixed(0)} ms\n`);
          return;
        }
        // Decoding speed after the first token, which includes the prefill.
        const rate = (step / ((performance.now() - start - first) / 1000)).toFixed(1);
        // A live counter on a terminal; one line every 8 tokens in a log.
        if (process.stderr.isTTY) progress(`\rmdl: decoding ${step + 1}/${maxNew} tokens (decode ${rate} tok/s)`);
        else if ((step + 1) % 8 === 0) progress(`mdl: decoded ${step + 1} tokens (decode ${rate} tok/s)\n`);
      },
    });
    if (process.stderr.isTTY) progress('\n');
    const totalMs = performance.now() - start;
    if (opts.logits !== undefined) {
      writeLogits(opts.logits, rows, vocab, !!opts.force);
      progress(`mdl: wrote the logits of ${rows.length} step(s) to ${opts.logits}\n`);
    }
    return {
      model: model.name,
      backend: opts.backend,
      adapter: gpu?.describe(),
      weights: opts.weights ?? `seeded (seed ${seed})`,
      prompt,
      source,
      tokens,
      text: inputs.decode(tokens),
      steps,
      beams,
      interrupted: !!hooks.interrupted?.(),
      timings: {
        compileMs: round(compileMs),
        firstTokenMs: round(first),
        totalMs: round(totalMs),
        tokensPerSecond: round(tokens.length / (totalMs / 1000)),
        prefillTokensPerSecond: round((roles.source ? source!.length + prompt.length + 1 : prompt.length) / (first / 1000)),
        decodeTokensPerSecond: tokens.length > 1 ? round((tokens.length - 1) / ((totalMs - first) / 1000)) : 0,
      },
      decoding: decoding.cache && cache ? { ...decoding, sites: cache.stats() } : decoding,
      attentionTiles: tuned ? { tuned: tuned.tuned, kernels: tuned.total } : undefined,
    };
  } finally {
    cache?.destroy();
  }
}

interface DecodingChoice {
  topP?: number;
  repetitionPenalty?: number;
  stopIds?: number[];
  beams?: number;
  lengthPenalty: number;
}

/** The search and sampling flags, checked before anything is built. */
function decodingChoice(opts: RunOptions): DecodingChoice {
  const num = (text: string | undefined, flag: string, ok: (x: number) => boolean, what: string) => {
    if (text === undefined) return undefined;
    const x = text.trim() === '' ? NaN : Number(text);
    if (!Number.isFinite(x) || !ok(x)) throw new UserError(`${flag} takes ${what}, not '${text}'`);
    return x;
  };
  const beams = num(opts.beams, '--beams', (x) => Number.isInteger(x) && x >= 1, 'a whole number of beams, 1 or more');
  if (beams !== undefined && (opts.temperature !== undefined || opts.topK !== undefined || opts.topP !== undefined)) throw new UserError('--beams searches: --temperature, --top-k and --top-p (sampling) do not apply with it');
  if (beams !== undefined && opts.stop?.length) throw new UserError('--stop (strings) does not apply with --beams; use --stop-id');
  const stopIds = opts.stopId === undefined ? undefined : opts.stopId.split(',').filter((s) => s.trim() !== '').map((s) => num(s, '--stop-id', (x) => Number.isInteger(x) && x >= 0, 'token ids separated by commas')!);
  return {
    topP: num(opts.topP, '--top-p', (x) => x > 0 && x <= 1, 'a probability above 0 and at most 1'),
    repetitionPenalty: num(opts.repetitionPenalty, '--repetition-penalty', (x) => x > 0, 'a number above 0 (1: no penalty)'),
    stopIds,
    beams,
    lengthPenalty: num(opts.lengthPenalty ?? '1', '--length-penalty', () => true, 'a number')!,
  };
}

/** A sampling temperature: a finite number above 0 (0 would be greedy decoding, which --greedy asks for). */
function temperature(text: string): number {
  const t = text.trim() === '' ? NaN : Number(text);
  if (!Number.isFinite(t) || t <= 0) throw new UserError(`--temperature takes a number greater than 0, e.g. 0.8 (--greedy takes the most likely token), not '${text}'`);
  return t;
}

function int(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new UserError(`${flag} takes a whole number, not '${text}'`);
  return n;
}

const round = (x: number) => Math.round(x * 10) / 10;

/** commander's way to take a flag more than once. */
function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}
