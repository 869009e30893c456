// `mdl run SPEC --input-file FILE`: every row of the file generated together (src/runtime/batch-generate.ts), with
// a KV cache on the GPU (prefilled per group of rows of one length, then one batch of rows at their own positions),
// or batched full passes on the CPU reference.
//
// What the user sees: stderr says how the rows were grouped; stdout gets one line per row, `ROW<TAB>TEXT`, as soon
// as that row finishes (tabs, newlines and backslashes in the text escaped), so rows that finish at different
// times never interleave inside a line. With --json, every token is a JSON line with its row as it comes, then a
// `row` line when a row finishes and a `done` line at the end. --logits writes [rows, steps, vocab], the steps a
// row did not take filled with NaN.

import type { CheckedModel } from '../check/model.ts';
import { generateBatch, groupRows } from '../runtime/batch-generate.ts';
import { CachedDecoder } from '../runtime/cached-decoder.ts';
import type { GpuContext } from '../runtime/device.ts';
import { cpuForward, gpuForward } from '../runtime/generate.ts';
import type { DecodingControls } from '../runtime/sampling.ts';
import type { BatchFileRow } from './run-batch-file.ts';
import { prepareModel } from './run-setup.ts';
import { PieceSplitter, writeLogits, type TokenEvent } from './run-output.ts';

export interface BatchRunOptions extends DecodingControls {
  backend: string;
  weights?: string;
  seed: number;
  maxNew: number;
  /** false: recompute every position (--no-cache). */
  cache: boolean;
  logits?: string;
  force: boolean;
}

export interface BatchHooks {
  token?: (e: TokenEvent & { row: number }) => void;
  rowDone?: (row: BatchRowResult) => void;
  interrupted?: () => boolean;
  generating?: () => void;
}

export interface BatchRowResult {
  row: number;
  /** The line of the input file. */
  line: number;
  tokens: number[];
  text: string;
}

export interface BatchResult {
  model: string;
  backend: string;
  adapter?: string;
  weights: string;
  rows: BatchRowResult[];
  /** Rows decoded together: each group is one program run per step. */
  groups: number[][];
  interrupted: boolean;
  timings: { compileMs: number; totalMs: number; tokens: number; tokensPerSecond: number };
  decoding: { cache: boolean; reason?: string };
}

/** `ROW<TAB>TEXT` with the text on one line. */
export function rowLine(row: number, text: string): string {
  return `${row}\t${text.replace(/\\/g, '\\\\').replace(/\t/g, '\\t').replace(/\r/g, '\\r').replace(/\n/g, '\\n')}`;
}

export async function runBatch(gpu: GpuContext | undefined, model: CheckedModel, rows: BatchFileRow[], opts: BatchRunOptions, progress: (line: string) => void, hooks: BatchHooks = {}): Promise<BatchResult> {
  const { lowered, weights, compileMs } = prepareModel(gpu, model, rows.map((r) => r.firstDims), opts.weights, opts.seed, progress);
  hooks.generating?.();
  if (!opts.weights) progress(`mdl: ${model.name}: no --weights given, running on seeded weights (seed ${opts.seed})\n`);
  const decode = rows[0].decode;
  const batchRows = rows.map((r) => ({ prompt: r.prompt, source: r.source, data: r.data }));
  const groups = groupRows(model, batchRows).map((g) => g.rows);
  const decoding: BatchResult['decoding'] = { cache: false };
  if (!gpu) decoding.reason = 'the CPU reference recomputes every position at every step';
  else if (!opts.cache) decoding.reason = 'turned off with --no-cache';
  else if (lowered.cache.unsupported) decoding.reason = lowered.cache.unsupported;
  else decoding.cache = true;
  const how = decoding.cache ? 'with a KV cache per group' : `recomputing every position (${decoding.reason})`;
  const verb = decoding.cache ? 'prefilled' : 'decoded';
  progress(`mdl: ${rows.length} row(s) in ${groups.length} group(s) of equal length (${groups.map((g) => g.length).join(', ')} rows), ${verb} together ${how}\n`);
  const forward = gpu ? gpuForward(gpu, lowered, model, weights) : cpuForward(lowered, model, weights);
  const vocab = model.output?.vocab ?? model.embed?.vocab ?? 0;
  const logits: Float32Array[][] = rows.map(() => []);
  const pieces = rows.map(() => new PieceSplitter(decode));
  const sofar: number[][] = rows.map(() => []);
  const results: BatchRowResult[] = [];
  const start = performance.now();
  const tokens = await generateBatch(model, forward, {
    rows: batchRows,
    maxNew: opts.maxNew,
    greedy: opts.greedy,
    temperature: opts.temperature,
    topK: opts.topK,
    topP: opts.topP,
    repetitionPenalty: opts.repetitionPenalty,
    seed: opts.seed,
    stopIds: opts.stopIds,
    stopStrings: opts.stopStrings,
    decode,
    interrupted: hooks.interrupted,
    newCache: decoding.cache ? () => new CachedDecoder(gpu!, lowered, model, weights) : undefined,
    onCacheAbandoned: (reason) => progress(`mdl: a group leaves the KV cache, recomputing from here on: ${reason}\n`),
    onGroupsJoined: (joined) => progress(`mdl: after the prefill, ${joined.length} groups (${joined.map((g) => g.length).join(', ')} rows) decode on as one batch, one run per step, each row at its own position\n`),
    onStep: ({ row, step, id, logits: l, logprob }) => {
      if (opts.logits !== undefined) logits[row].push(Float32Array.from(l));
      sofar[row].push(id);
      hooks.token?.({ row, step, id, piece: pieces[row].next(sofar[row]), logprob, ms: round(performance.now() - start) });
    },
    onRowDone: (row, ids) => {
      const r = { row, line: rows[row].line, tokens: [...ids], text: decode(ids) };
      results.push(r);
      hooks.rowDone?.(r);
    },
  });
  // Rows an interruption cut short are reported too, after those that finished.
  for (const [row, ids] of tokens.entries()) {
    if (results.some((r) => r.row === row)) continue;
    const r = { row, line: rows[row].line, tokens: [...ids], text: decode(ids) };
    results.push(r);
    hooks.rowDone?.(r);
  }
  const totalMs = performance.now() - start;
  if (opts.logits !== undefined) {
    const steps = Math.max(0, ...logits.map((l) => l.length));
    const padded = logits.flatMap((l) => Array.from({ length: steps }, (_, i) => l[i] ?? new Float32Array(vocab).fill(NaN)));
    writeLogits(opts.logits, padded, vocab, opts.force, [rows.length, steps, vocab]);
    progress(`mdl: wrote the logits of ${rows.length} row(s), up to ${steps} step(s) each, to ${opts.logits}\n`);
  }
  const count = tokens.reduce((n, t) => n + t.length, 0);
  return {
    model: model.name,
    backend: opts.backend,
    adapter: gpu?.describe(),
    weights: opts.weights ?? `seeded (seed ${opts.seed})`,
    rows: results.sort((a, b) => a.row - b.row),
    groups,
    interrupted: !!hooks.interrupted?.(),
    timings: { compileMs: round(compileMs), totalMs: round(totalMs), tokens: count, tokensPerSecond: round(count / (totalMs / 1000)) },
    decoding,
  };
}

const round = (x: number) => Math.round(x * 10) / 10;
