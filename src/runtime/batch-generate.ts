// Generating for several sequences at once. Rows whose sequences sit at the same position (same prompt positions,
// same source length, same other dims) form a group and decode together: one program run per step for the whole
// group, with the batch axis of the programs (B = the group's live rows) and a KV cache region per row. A row that
// stops is dropped from its group's cache on the device, so it costs nothing afterwards. Rows at different positions
// cannot share a call (their queries would need different offsets), so they decode in separate groups, one call per
// group per step, in lock step.
//
// Without a cache (the CPU reference, or a mask that makes the cache inexact) a group's step is one full pass over
// the group's rows, batch-major. Either way every row computes exactly what it would alone.
//
// This module runs in the browser too: it imports nothing from Node.

import type { CheckedModel } from '../check/model.ts';
import { toPredicate } from '../masks/policy.ts';
import { readsBatchIndex } from '../masks/tiles.ts';
import type { RunInputs } from './cpu-interpreter.ts';
import { CacheInexactError, type CachedDecoder } from './cached-decoder.ts';
import { rolesOf, stepInputs, stopIdsOf, type Forward, type StepData } from './generate.ts';
import { chooseToken, logSoftmax, processLogits, seededRandom, stopStringIn, type SamplingOptions } from './sampling.ts';

export interface BatchRow {
  /** Prompt ids (decoder-only) or the target prefix (encoder-decoder). */
  prompt: number[];
  source?: number[];
  /** Inputs other than tokens (see StepData); `promptPositions` defaults as in generate(). */
  data?: StepData;
}

export interface BatchStep {
  row: number;
  step: number;
  id: number;
  /** The model's logits row for this step (before any processing). */
  logits: ArrayLike<number>;
  logprob: number;
}

export interface BatchOptions {
  rows: BatchRow[];
  maxNew: number;
  greedy: boolean;
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  /** Row r samples from its own generator seeded with seed + r, so a row's tokens do not depend on the others. */
  seed?: number;
  stopIds?: number[];
  stopStrings?: string[];
  decode?: (ids: number[]) => string;
  onStep?: (e: BatchStep) => void;
  /** A row is finished (stop id, stop string, --max-new or the spec's bound). */
  onRowDone?: (row: number, tokens: number[]) => void;
  interrupted?: () => boolean;
  /** A fresh KV cache for one group; without it every step recomputes with `forward`. */
  newCache?: () => CachedDecoder;
  /** A group's cache cannot reproduce a full pass: that group goes on by recomputing. */
  onCacheAbandoned?: (reason: string) => void;
}

interface Group {
  rows: number[];
  cache?: CachedDecoder;
}

/** The tokens generated for each row, by row. */
export async function generateBatch(m: CheckedModel, forward: Forward, opts: BatchOptions): Promise<number[][]> {
  const roles = rolesOf(m);
  const vocab = m.output?.vocab ?? m.embed?.vocab ?? 0;
  const stops = stopIdsOf(m, opts.stopIds);
  const axis = m.dims.get(roles.target.axis ?? '');
  const maxLen = axis?.concrete ?? axis?.bound ?? 4096;
  const sampling: SamplingOptions = { greedy: opts.greedy, temperature: opts.temperature, topK: opts.topK, topP: opts.topP, repetitionPenalty: opts.repetitionPenalty, pad: roles.target.pad };
  const rows = opts.rows.map((r) => ({ ...r, data: { ...r.data, promptPositions: r.data?.promptPositions ?? r.prompt.length + (roles.decoderInput ? 1 : 0) } }));
  const out: number[][] = rows.map(() => []);
  const random = rows.map((_, r) => seededRandom((opts.seed ?? 0) + r));
  const groups = groupRows(m, rows);
  const done = (r: number) => opts.onRowDone?.(r, out[r]);
  try {
    for (let step = 0; step < opts.maxNew && groups.some((g) => g.rows.length > 0); step++) {
      if (opts.interrupted?.()) break;
      for (const g of groups) {
        if (g.rows.length === 0) continue;
        const inputs = g.rows.map((r) => stepInputs(m, [...rows[r].prompt, ...out[r]], rows[r].source ?? [], roles, rows[r].data));
        const length = inputs[0].length;
        if (length > maxLen) {
          for (const r of g.rows) done(r);
          g.rows = [];
          continue;
        }
        const run = stackRuns(inputs.map((i) => i.run));
        if (!g.cache && opts.newCache && step === 0) g.cache = opts.newCache();
        let logits: ArrayLike<number>[] | undefined;
        if (g.cache) {
          try {
            logits = await g.cache.nextRows(run);
          } catch (error) {
            if (!(error instanceof CacheInexactError)) throw error;
            opts.onCacheAbandoned?.(error.message);
            g.cache.destroy();
            g.cache = undefined;
          }
        }
        if (!logits) {
          const all = await forward(run);
          logits = g.rows.map((_, b) => all.subarray((b * length + length - 1) * vocab, (b * length + length) * vocab));
        }
        const keep: number[] = [];
        g.rows.forEach((r, b) => {
          const row = logits![b];
          const seen = [...rows[r].prompt, ...out[r]];
          const id = chooseToken(processLogits(row, seen, sampling), sampling, random[r]);
          out[r].push(id);
          opts.onStep?.({ row: r, step, id, logits: row, logprob: logSoftmax(row)[id] });
          const stopped = stops.includes(id) || step + 1 >= opts.maxNew || (!!opts.stopStrings?.length && !!opts.decode && stopStringIn(opts.decode(out[r]), opts.stopStrings) !== undefined);
          if (stopped) done(r);
          else keep.push(b);
        });
        // Finished rows leave the group's cache: later steps compute only the rows still going.
        if (keep.length < g.rows.length && keep.length > 0) g.cache?.select(keep);
        g.rows = keep.map((b) => g.rows[b]);
        if (g.rows.length === 0) (g.cache?.destroy(), (g.cache = undefined));
      }
      // The CPU reference computes without yielding: let a pending Ctrl-C be seen before the next step.
      if (opts.interrupted) await new Promise((resolve) => setTimeout(resolve, 0));
    }
  } finally {
    for (const g of groups) g.cache?.destroy();
  }
  return out;
}

/**
 * Rows that can share one call: their inputs have the same dims at every step (same prompt and source lengths). A
 * mask that depends on the batch index (random bits) would give a row other keys at another place in a batch, so
 * with one every row decodes alone, as it would by itself.
 */
export function groupRows(m: CheckedModel, rows: BatchRow[]): Group[] {
  const roles = rolesOf(m);
  const byKey = new Map<string, Group>();
  const alone = [...m.masks.values()].some((mask) => mask.policy && readsBatchIndex(toPredicate(mask.policy)));
  rows.forEach((r, i) => {
    const { run } = stepInputs(m, r.prompt, r.source ?? [], roles, r.data);
    const key = alone ? String(i) : JSON.stringify(Object.entries(run.dims).sort());
    let g = byKey.get(key);
    if (!g) byKey.set(key, (g = { rows: [] }));
    g.rows.push(i);
  });
  return [...byKey.values()];
}

/** One run of B sequences from B runs of one: the same dims, every input laid out batch-major. */
export function stackRuns(runs: Omit<RunInputs, 'weights'>[]): Omit<RunInputs, 'weights'> {
  const first = runs[0];
  const dims = { ...first.dims, B: runs.length };
  const inputs: RunInputs['inputs'] = {};
  for (const [name, value] of Object.entries(first.inputs)) {
    const parts = runs.map((r) => r.inputs[name]);
    const total = parts.reduce((n, p) => n + p.length, 0);
    const joined = value instanceof Int32Array ? new Int32Array(total) : new Float32Array(total);
    let at = 0;
    for (const p of parts) {
      if (p.length !== value.length) throw new Error(`input ${name}: rows of one call must have the same length (${value.length}, ${p.length})`);
      joined.set(p, at);
      at += p.length;
    }
    inputs[name] = joined;
  }
  return { dims, inputs };
}
