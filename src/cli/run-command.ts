// `mdl run FILE …`: generate with a spec on WebGPU (or the CPU reference), from text or token ids, with seeded
// weights unless a weights file is given.

import type { Command } from 'commander';
import type { CheckedModel } from '../check/model.ts';
import { lower } from '../lower/passes.ts';
import { CachedDecoder, type CacheSiteStats } from '../runtime/cached-decoder.ts';
import { acquireGpu, type GpuContext } from '../runtime/device.ts';
import { cpuForward, generate, gpuForward, promptOfText, rolesOf, type Forward } from '../runtime/generate.ts';
import { DEFAULT_SEED, seededWeights } from '../runtime/init-weights.ts';
import { loadWeightsFile } from '../runtime/safetensors-file.ts';
import { tunedScheduleOptions } from '../tune/tuned-tiles.ts';
import { prepareRun, ProgramLimitError } from '../runtime/program.ts';
import { checkProgramMaskSizes } from '../runtime/mask-size-check.ts';
import { MaskSizeError } from '../masks/sizes.ts';
import { gatherRunInputs, type RunInputFlags, type RunInputs } from './run-inputs.ts';
import { requireModel } from './load.ts';
import { UserError } from './user-error.ts';

export interface RunOptions extends RunInputFlags {
  weights?: string;
  maxNew: string;
  greedy?: boolean;
  temperature?: string;
  topK?: string;
  seed: string;
  backend: string;
  json?: boolean;
  /** commander's `--no-cache` sets this to false. */
  cache?: boolean;
}

export function registerRunCommand(program: Command): void {
  program
    .command('run')
    .description('generate tokens with a spec (seeded weights unless --weights is given)')
    .argument('<file>', '.mdl spec file')
    .option('--weights <file>', 'weights (.safetensors, names as in the README; default: seeded)')
    .option('--vocab <file>', 'a JSON vocabulary {"token": id, …} (default: the 256 UTF-8 bytes beside the special ids)')
    .option('--input <text>', 'prompt text (decoder-only) or target prefix (encoder-decoder)')
    .option('--tokens <ids>', 'prompt as token ids, e.g. 1,5,9')
    .option('--source <text>', 'source text for an encoder-decoder')
    .option('--source-tokens <ids>', 'source as token ids, e.g. 4,8,15')
    .option('--set <name=value>', 'a lengths input (one number) or segment ids (one per prompt position, e.g. docs=0,0,1); repeatable', collect)
    .option('--features <name=file>', 'a features input from a .npy or .safetensors tensor of shape [length, width]; repeatable', collect)
    .option('--max-new <n>', 'tokens to generate at most', '16')
    .option('--greedy', 'always take the most likely token (default unless --temperature is given)')
    .option('--temperature <t>', 'sample with this temperature')
    .option('--top-k <k>', 'sample among the k most likely tokens')
    .option('--seed <s>', 'seed for the weights and for sampling', String(DEFAULT_SEED))
    .option('--backend <name>', 'gpu or cpu', 'gpu')
    .option('--no-cache', 'recompute every position at every step instead of decoding with a KV cache')
    .option('--json', 'print a machine-readable result')
    .action(async (file: string, opts: RunOptions) => {
      const { model } = requireModel(file);
      const result = await runModel(model, opts, (line) => process.stderr.write(line));
      process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : `${result.text}\n`);
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

export async function runModel(model: CheckedModel, opts: RunOptions, progress: (line: string) => void): Promise<RunResult> {
  if (opts.backend !== 'gpu' && opts.backend !== 'cpu') throw new UserError(`--backend is gpu or cpu, not '${opts.backend}'`);
  if (opts.temperature !== undefined) temperature(opts.temperature);
  // Everything that can be wrong with the inputs is found before a device, a program or weights exist.
  const inputs = gatherRunInputs(model, opts);
  const gpu = opts.backend === 'gpu' ? await acquireGpu({ skipWorkgroupZeroInit: true }) : undefined;
  if (gpu) progress(`mdl: WebGPU adapter: ${gpu.describe()}\n`);
  try {
    return await runOn(gpu, model, opts, inputs, progress);
  } catch (e) {
    throw asUserError(e);
  } finally {
    gpu?.release();
  }
}

/** Problems a run meets at the dims it runs with (a mask size, a dim over its bound) are the user's to fix. */
function asUserError(e: unknown): unknown {
  if (e instanceof MaskSizeError || e instanceof ProgramLimitError) return new UserError(e.message);
  return e;
}

async function runOn(gpu: GpuContext | undefined, model: CheckedModel, opts: RunOptions, inputs: RunInputs, progress: (line: string) => void): Promise<RunResult> {
  // On the GPU, attention kernels take the tiles `mdl tune` chose for this adapter, where it has run.
  const tuning = gpu && tunedScheduleOptions(gpu.adapter);
  const t0 = performance.now();
  const lowered = lower(model, tuning?.options);
  // Mask sizes at the first step's dims, before any weights; later steps are checked as they run.
  checkProgramMaskSizes(model, lowered.program, inputs.firstDims);
  // And the adapter's limits (buffer sizes, weights included), which a large spec can exceed.
  if (gpu) prepareRun(gpu, lowered.program, lowered.rendered, inputs.firstDims);
  const compileMs = performance.now() - t0;
  const tuned = tuning?.report();
  if (tuned?.tuned) progress(`mdl: ${tuned.tuned} of ${tuned.total} attention kernel(s) use tiles tuned for this adapter\n`);
  const seed = int(opts.seed, '--seed');
  const weights = opts.weights ? loadWeightsFile(opts.weights, lowered.ir) : seededWeights(lowered.ir, seed);
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
  try {
    const tokens = await generate(model, forward, {
      prompt,
      source,
      maxNew,
      greedy: opts.temperature === undefined || !!opts.greedy,
      temperature: opts.temperature === undefined ? undefined : temperature(opts.temperature),
      topK: opts.topK === undefined ? undefined : int(opts.topK, '--top-k'),
      seed,
      cache,
      data,
      onCacheAbandoned: (reason) => {
        progress(`mdl: leaving the KV cache, recomputing from here on: ${reason}\n`);
        Object.assign(decoding, { cache: false, reason, sites: cache?.stats() });
      },
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
    return {
      model: model.name,
      backend: opts.backend,
      adapter: gpu?.describe(),
      weights: opts.weights ?? `seeded (seed ${seed})`,
      prompt,
      source,
      tokens,
      text: inputs.decode(tokens),
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
