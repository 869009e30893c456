// Generating for several sequences at once. Rows whose sequences have the same dims (same prompt length, same source
// length, same other dims) form a group and prefill together: one program run for the whole group, with the batch
// axis of the programs (B = the group's live rows) and a KV cache region per row. After the prefill, groups that
// differ only in their length along the decoder axis join into one cache (CachedDecoder.merge), and from then on
// decode in one run per step, every row at its own position (the decode step's per-row positions and windows). A row
// that stops is dropped from its group's cache on the device, so it costs nothing afterwards.
//
// Without a cache (the CPU reference, or a mask that makes the cache inexact) a group's step is one full pass over
// the group's rows, batch-major. Either way every row computes exactly what it would alone.
//
// This module runs in the browser too: it imports nothing from Node.

import type { CheckedModel } from '../check/model.ts';
import { toPredicate } from '../masks/policy.ts';
import { readsBatchIndex } from '../masks/tiles.ts';
import type { RunInputs } from './cpu-interpreter.ts';
import { CacheInexactError, CachedDecoder } from './cached-decoder.ts';
import { ProgramLimitError } from './program.ts';
import { rolesOf, stepInputs, stopIdsOf, type Forward, type StepData } from './generate.ts';
import { chooseToken, logSoftmax, processLogits, seededRandom, stopStringIn, type DecodingControls, type SamplingOptions } from './sampling.ts';

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

/** Row r samples from its own generator seeded with seed + r, so a row's tokens do not depend on the others. */
export interface BatchOptions extends DecodingControls {
  rows: BatchRow[];
  maxNew: number;
  onStep?: (e: BatchStep) => void;
  /** A row is finished (stop id, stop string, --max-new or the spec's bound). */
  onRowDone?: (row: number, tokens: number[]) => void;
  interrupted?: () => boolean;
  /** A fresh KV cache for one group; without it every step recomputes with `forward`. */
  newCache?: () => CachedDecoder;
  /** A group's cache cannot reproduce a full pass: that group goes on by recomputing. */
  onCacheAbandoned?: (reason: string) => void;
  /** Groups of different lengths, prefilled apart, decode on as one batch (their rows, by group). */
  onGroupsJoined?: (groups: number[][]) => void;
}

interface Group {
  rows: number[];
  cache?: CachedDecoder;
  /** Rows at different positions: the cache takes one run per row (nextEach). */
  mixed?: boolean;
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
  let groups = groupRows(m, rows);
  const done = (r: number) => opts.onRowDone?.(r, out[r]);
  try {
    for (let step = 0; step < opts.maxNew && groups.some((g) => g.rows.length > 0); step++) {
      if (opts.interrupted?.()) break;
      for (const g of groups) {
        if (g.rows.length === 0) continue;
        let inputs = g.rows.map((r) => stepInputs(m, [...rows[r].prompt, ...out[r]], rows[r].source ?? [], roles, rows[r].data));
        // A row past the spec's bound is finished; the others go on.
        const within = inputs.flatMap((x, b) => (x.length > maxLen ? [] : [b]));
        if (within.length < g.rows.length) {
          for (const [b, r] of g.rows.entries()) if (!within.includes(b)) done(r);
          if (within.length > 0) g.cache?.select(within);
          else (g.cache?.destroy(), (g.cache = undefined));
          g.rows = within.map((b) => g.rows[b]);
          inputs = within.map((b) => inputs[b]);
          if (g.rows.length === 0) continue;
        }
        if (!g.cache && opts.newCache && step === 0) g.cache = opts.newCache();
        let logits: ArrayLike<number>[] | undefined;
        if (g.cache) {
          try {
            logits = g.mixed ? await g.cache.nextEach(inputs.map((i) => i.run)) : await g.cache.nextRows(stackRuns(inputs.map((i) => i.run)));
          } catch (error) {
            if (!(error instanceof CacheInexactError)) throw error;
            opts.onCacheAbandoned?.(error.message);
            g.cache.destroy();
            g.cache = undefined;
          }
        }
        // Recomputing takes rows of one length per call.
        if (!logits) logits = await recompute(forward, inputs, vocab);
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
      // Prefilled groups whose rows differ only in length decode on together, one run per step.
      if (step === 0) groups = mergeGroups(m, groups, rows.map((r, i) => stepInputs(m, [...r.prompt, ...out[i]], r.source ?? [], roles, r.data).run.dims), opts.onGroupsJoined);
      // A group without a cache recomputes by length: rows at different positions go apart again.
      groups = groups.flatMap((g) => (g.mixed && !g.cache ? [...byDims(g.rows, (r) => stepInputs(m, [...rows[r].prompt, ...out[r]], rows[r].source ?? [], roles, rows[r].data).run.dims).values()].map((rs) => ({ rows: rs })) : [g]));
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
  const alone = batchIndexMask(m);
  rows.forEach((r, i) => {
    const { run } = stepInputs(m, r.prompt, r.source ?? [], roles, r.data);
    const key = alone ? String(i) : JSON.stringify(Object.entries(run.dims).sort());
    let g = byKey.get(key);
    if (!g) byKey.set(key, (g = { rows: [] }));
    g.rows.push(i);
  });
  return [...byKey.values()];
}

/** Each row's logits at its last position by full passes, one per length (stackRuns needs rows of one length). */
async function recompute(forward: Forward, inputs: { run: Omit<RunInputs, 'weights'>; length: number }[], vocab: number): Promise<ArrayLike<number>[]> {
  const logits: ArrayLike<number>[] = [];
  for (const part of byDims(inputs.map((_, b) => b), (b) => inputs[b].run.dims).values()) {
    const all = await forward(stackRuns(part.map((b) => inputs[b].run)));
    part.forEach((b, i) => {
      const length = inputs[b].length;
      logits[b] = all.subarray((i * length + length - 1) * vocab, (i * length + length) * vocab);
    });
  }
  return logits;
}

/** `items` by their dims, in first-seen order. */
function byDims<T>(items: T[], dimsOf: (x: T) => Record<string, number>): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const x of items) {
    const key = JSON.stringify(Object.entries(dimsOf(x)).sort());
    out.set(key, [...(out.get(key) ?? []), x]);
  }
  return out;
}

/**
 * Groups with a cache whose rows' dims differ only along the decoder axis, joined into one group with one cache
 * (after their prefills). Not with a mask that hashes the batch index: there every row stays alone. A set of caches
 * that cannot be joined stays as it was.
 */
function mergeGroups(m: CheckedModel, groups: Group[], dims: Record<string, number>[], joinedGroups?: (groups: number[][]) => void): Group[] {
  const roles = rolesOf(m);
  const axis = roles.target.axis ?? '';
  if (batchIndexMask(m)) return groups;
  const joinable = groups.filter((g) => g.cache && g.rows.length > 0);
  const rest = groups.filter((g) => !joinable.includes(g));
  const byOther = byDims(joinable, (g) => ({ ...dims[g.rows[0]], [axis]: 0, B: 0 }));
  const joined: Group[] = [];
  for (const set of byOther.values()) {
    if (set.length === 1) {
      joined.push(set[0]);
      continue;
    }
    let cache: CachedDecoder;
    try {
      cache = CachedDecoder.merge(set.map((g) => g.cache!));
    } catch (error) {
      if (!(error instanceof ProgramLimitError)) throw error;
      joined.push(...set);
      continue;
    }
    for (const g of set) g.cache!.destroy();
    joinedGroups?.(set.map((g) => [...g.rows]));
    joined.push({ rows: set.flatMap((g) => g.rows), cache, mixed: true });
  }
  return [...joined, ...rest];
}

const batchIndexMask = (m: CheckedModel) => [...m.masks.values()].some((mask) => mask.policy && readsBatchIndex(toPredicate(mask.policy)));

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
