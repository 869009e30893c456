// Beam search, scored as Hugging Face scores it: a hypothesis's score is the sum of its tokens' log-probabilities
// divided by (number of generated tokens)^lengthPenalty, the stop token counted. Each step extends every live beam
// by every token, keeps the 2·beams best continuations, sets aside those that end with a stop id (while they rank
// among the first `beams`) as finished, and keeps the first `beams` others alive. The live beams always have the
// same length, so they run as one batch: one forward pass over all of them (all positions recomputed), or one call
// of a KV cache that holds a row per beam. When the beams are re-ranked, the cache's rows are gathered on the device
// (`select`): a beam that several survivors continue is copied for each, and beams no survivor continues are dropped.

import type { CheckedModel } from '../check/model.ts';
import { CacheInexactError, type CachedDecoder } from './cached-decoder.ts';
import { stackRuns } from './batch-generate.ts';
import { rolesOf, stepInputs, stopIdsOf, type Forward, type StepData } from './generate.ts';
import { logSoftmax, processLogits } from './sampling.ts';

export interface BeamOptions {
  prompt: number[];
  source?: number[];
  maxNew: number;
  beams: number;
  /** Exponent of the length the summed log-probability is divided by (1: the mean; above 1 favours longer). */
  lengthPenalty?: number;
  /** Stop once `beams` hypotheses have finished; otherwise stop only when no live beam can beat the worst of them. */
  earlyStopping?: boolean;
  repetitionPenalty?: number;
  stopIds?: number[];
  data?: StepData;
  interrupted?: () => boolean;
  /** A fresh KV cache: it holds one row per live beam. */
  cache?: CachedDecoder;
  /** Called when a cache cannot reproduce a full pass and every beam goes on by recomputing. */
  onCacheAbandoned?: (reason: string) => void;
}

export interface Hypothesis {
  tokens: number[];
  /** Each token's log-probability at its step. */
  logprobs: number[];
  /** Sum of the tokens' log-probabilities. */
  logprob: number;
  score: number;
}

/** The best hypotheses, best first (as many as `beams`). */
export async function beamSearch(m: CheckedModel, forward: Forward, opts: BeamOptions): Promise<Hypothesis[]> {
  const roles = rolesOf(m);
  const vocab = m.output?.vocab ?? m.embed?.vocab ?? 0;
  const stops = stopIdsOf(m, opts.stopIds);
  const penalty = opts.lengthPenalty ?? 1;
  const n = opts.beams;
  const data: StepData = { ...opts.data, promptPositions: opts.data?.promptPositions ?? opts.prompt.length + (roles.decoderInput ? 1 : 0) };
  const scoreOf = (logprob: number, length: number) => logprob / Math.pow(length, penalty);
  type Beam = { tokens: number[]; logprobs: number[]; logprob: number };
  let live: Beam[] = [{ tokens: [], logprobs: [], logprob: 0 }];
  let cache = opts.cache;
  const abandon = (reason: string) => {
    cache?.destroy();
    cache = undefined;
    opts.onCacheAbandoned?.(reason);
  };
  const finished: Hypothesis[] = [];
  const worstFinished = () => (finished.length < n ? -Infinity : Math.min(...finished.map((h) => h.score)));

  try {
    for (let step = 0; step < opts.maxNew && live.length > 0; step++) {
      if (opts.interrupted?.()) break;
      const candidates: { tokens: number[]; logprobs: number[]; logprob: number; id: number; parent: number; lp: number }[] = [];
      // Every live beam in one call: the same length, one batch row each.
      const inputs = live.map((beam) => stepInputs(m, [...opts.prompt, ...beam.tokens], opts.source ?? [], roles, data));
      const length = inputs[0].length;
      const run = stackRuns(inputs.map((x) => x.run));
      let rows: ArrayLike<number>[] | undefined;
      if (cache) {
        try {
          rows = await cache.nextRows(run);
        } catch (error) {
          if (!(error instanceof CacheInexactError)) throw error;
          abandon(error.message);
        }
      }
      if (!rows) {
        const all = await forward(run);
        rows = live.map((_, b) => all.subarray((b * length + length - 1) * vocab, (b * length + length) * vocab));
      }
      for (const [parent, beam] of live.entries()) {
        const row = processLogits(rows[parent], [...opts.prompt, ...beam.tokens], { repetitionPenalty: opts.repetitionPenalty, pad: roles.target.pad });
        const lp = logSoftmax(row);
        for (let id = 0; id < vocab; id++) if (lp[id] !== -Infinity) candidates.push({ tokens: beam.tokens, logprobs: beam.logprobs, logprob: beam.logprob + lp[id], id, parent, lp: lp[id] });
      }
      if (opts.interrupted) await new Promise((done) => setTimeout(done, 0));
      // Ties keep the earlier beam and the lower id first, so the search is deterministic.
      candidates.sort((a, b) => b.logprob - a.logprob);
      const next: Beam[] = [];
      const parents: number[] = [];
      for (const [rank, c] of candidates.slice(0, 2 * n).entries()) {
        const tokens = [...c.tokens, c.id];
        const logprobs = [...c.logprobs, c.lp];
        if (stops.includes(c.id)) {
          if (rank < n) addFinished(finished, { tokens, logprobs, logprob: c.logprob, score: scoreOf(c.logprob, tokens.length) }, n);
          continue;
        }
        next.push({ tokens, logprobs, logprob: c.logprob });
        parents.push(c.parent);
        if (next.length === n) break;
      }
      // The cache follows the survivors: row i becomes a copy of the row of beam parents[i], on the device.
      if (cache && next.length > 0) cache.select(parents);
      live = next;
      if (finished.length >= n) {
        if (opts.earlyStopping) break;
        // The best a live beam can still reach, as Hugging Face estimates it: its current sum over its current length.
        const best = Math.max(...live.map((b) => scoreOf(b.logprob, b.tokens.length)));
        if (best <= worstFinished()) break;
      }
    }
  } finally {
    cache?.destroy();
  }
  // Beams still alive at the end compete with the finished ones.
  for (const b of live) addFinished(finished, { tokens: b.tokens, logprobs: b.logprobs, logprob: b.logprob, score: scoreOf(b.logprob, b.tokens.length) }, n);
  return finished.sort((a, b) => b.score - a.score).slice(0, n);
}

/** Keeps the `n` best hypotheses. */
function addFinished(finished: Hypothesis[], h: Hypothesis, n: number): void {
  finished.push(h);
  if (finished.length > n) {
    finished.sort((a, b) => b.score - a.score);
    finished.length = n;
  }
}
