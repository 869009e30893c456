// `mdl run FILE …`: generate with a spec on WebGPU (or the CPU reference), from text or token ids, with seeded
// weights unless a weights file is given.

import type { Command } from 'commander';
import type { CheckedModel } from '../check/model.ts';
import { lower } from '../lower/passes.ts';
import { CachedDecoder, type CacheSiteStats } from '../runtime/cached-decoder.ts';
import { acquireGpu, type GpuContext } from '../runtime/device.ts';
import { cpuForward, generate, gpuForward, rolesOf, type Forward } from '../runtime/generate.ts';
import { seededWeights } from '../runtime/init-weights.ts';
import { loadWeightsFile } from '../runtime/safetensors-file.ts';
import { tunedScheduleOptions } from '../tune/tuned-tiles.ts';
import { byteTokenizer, parseVocabulary, tokenizerOptionsOf, vocabularyTokenizer, type Tokenizer } from '../runtime/tokenizer.ts';
import { readFileSync } from 'node:fs';
import { requireModel } from './load.ts';
import { UserError } from './user-error.ts';

export interface RunOptions {
  weights?: string;
  vocab?: string;
  input?: string;
  tokens?: string;
  source?: string;
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
    .option('--vocab <file>', 'a JSON vocabulary {"token": id, …} (default: UTF-8 bytes after the special ids)')
    .option('--input <text>', 'prompt text (decoder-only) or target prefix (encoder-decoder)')
    .option('--tokens <ids>', 'prompt as token ids, e.g. 1,5,9')
    .option('--source <text>', 'source text for an encoder-decoder')
    .option('--max-new <n>', 'tokens to generate at most', '16')
    .option('--greedy', 'always take the most likely token (default unless --temperature is given)')
    .option('--temperature <t>', 'sample with this temperature')
    .option('--top-k <k>', 'sample among the k most likely tokens')
    .option('--seed <s>', 'seed for the weights and for sampling', '1')
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
  timings: { compileMs: number; firstTokenMs: number; totalMs: number; tokensPerSecond: number };
  /** How the steps were computed: with a KV cache (and its state at the end), or by recomputing, and why. */
  decoding: { cache: boolean; reason?: string; sites?: CacheSiteStats[] };
  /** On the GPU: how many attention kernel signatures took tiles from the tuning cache (`mdl tune`). */
  attentionTiles?: { tuned: number; kernels: number };
}

export async function runModel(model: CheckedModel, opts: RunOptions, progress: (line: string) => void): Promise<RunResult> {
  if (opts.backend !== 'gpu' && opts.backend !== 'cpu') throw new UserError(`--backend is gpu or cpu, not '${opts.backend}'`);
  const gpu = opts.backend === 'gpu' ? await acquireGpu({ skipWorkgroupZeroInit: true }) : undefined;
  if (gpu) progress(`mdl: WebGPU adapter: ${gpu.describe()}\n`);
  try {
    return await runOn(gpu, model, opts, progress);
  } finally {
    gpu?.release();
  }
}

async function runOn(gpu: GpuContext | undefined, model: CheckedModel, opts: RunOptions, progress: (line: string) => void): Promise<RunResult> {
  // On the GPU, attention kernels take the tiles `mdl tune` chose for this adapter, where it has run.
  const tuning = gpu && tunedScheduleOptions(gpu.adapter);
  const t0 = performance.now();
  const lowered = lower(model, tuning?.options);
  const compileMs = performance.now() - t0;
  const tuned = tuning?.report();
  if (tuned?.tuned) progress(`mdl: ${tuned.tuned} of ${tuned.total} attention kernel(s) use tiles tuned for this adapter\n`);
  const seed = int(opts.seed, '--seed');
  const weights = opts.weights ? loadWeightsFile(opts.weights, lowered.ir) : seededWeights(lowered.ir, seed);
  if (!opts.weights) progress(`mdl: ${model.name}: no --weights given, running on seeded weights (seed ${seed})\n`);
  const codec = tokenizerFor(model, opts.vocab);
  const roles = rolesOf(model);
  const prompt = opts.tokens !== undefined ? ids(opts.tokens) : codec.encode(opts.input ?? '');
  const source = opts.source !== undefined ? codec.encode(opts.source) : undefined;
  if (roles.source && !source) throw new UserError(`${model.name} is an encoder-decoder: give --source "text"`);
  if (!roles.source && prompt.length === 0) throw new UserError('give a prompt: --input "text" or --tokens 1,2,3');
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
      temperature: opts.temperature === undefined ? undefined : Number(opts.temperature),
      topK: opts.topK === undefined ? undefined : int(opts.topK, '--top-k'),
      seed,
      cache,
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
        if (process.stderr.isTTY) progress(`\rmdl: decoding ${step + 1}/${maxNew} tokens (${rate} tokens/s)`);
        else if ((step + 1) % 8 === 0) progress(`mdl: decoded ${step + 1} tokens (${rate} tokens/s)\n`);
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
      text: codec.decode(tokens),
      timings: { compileMs: round(compileMs), firstTokenMs: round(first), totalMs: round(totalMs), tokensPerSecond: round(tokens.length / (totalMs / 1000)) },
      decoding: decoding.cache && cache ? { ...decoding, sites: cache.stats() } : decoding,
      attentionTiles: tuned ? { tuned: tuned.tuned, kernels: tuned.total } : undefined,
    };
  } finally {
    cache?.destroy();
  }
}

/** The spec's byte-level tokenizer, or a vocabulary file's. */
function tokenizerFor(model: CheckedModel, vocabPath?: string): Tokenizer {
  const options = tokenizerOptionsOf(model);
  if (!vocabPath) return byteTokenizer(options);
  let text: string;
  try {
    text = readFileSync(vocabPath, 'utf8');
  } catch {
    throw new UserError(`${vocabPath}: cannot read the vocabulary file`);
  }
  return vocabularyTokenizer(parseVocabulary(text, vocabPath), options, vocabPath);
}

function ids(text: string): number[] {
  return text.split(',').filter((s) => s.trim() !== '').map((s) => int(s, '--tokens'));
}

function int(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0) throw new UserError(`${flag} takes a whole number, not '${text}'`);
  return n;
}

const round = (x: number) => Math.round(x * 10) / 10;
