// Beam search, scored as Hugging Face scores it: a hypothesis's score is the sum of its tokens' log-probabilities
// divided by (number of generated tokens)^lengthPenalty, the stop token counted. Each step extends every live beam
// by every token, keeps the 2·beams best continuations, sets aside those that end with a stop id (while they rank
// among the first `beams`) as finished, and keeps the first `beams` others alive. Every beam runs as its own
// sequence through the forward pass (all positions recomputed), so the result does not depend on a KV cache.

import type { CheckedModel } from '../check/model.ts';
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
}

export interface Hypothesis {
  tokens: number[];
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
  let live: { tokens: number[]; logprob: number }[] = [{ tokens: [], logprob: 0 }];
  const finished: Hypothesis[] = [];
  const worstFinished = () => (finished.length < n ? -Infinity : Math.min(...finished.map((h) => h.score)));

  for (let step = 0; step < opts.maxNew && live.length > 0; step++) {
    if (opts.interrupted?.()) break;
    const candidates: { tokens: number[]; logprob: number; id: number }[] = [];
    for (const beam of live) {
      const { run, length } = stepInputs(m, [...opts.prompt, ...beam.tokens], opts.source ?? [], roles, data);
      const logits = await forward(run);
      const row = processLogits(logits.subarray((length - 1) * vocab, length * vocab), [...opts.prompt, ...beam.tokens], { repetitionPenalty: opts.repetitionPenalty, pad: roles.target.pad });
      const lp = logSoftmax(row);
      for (let id = 0; id < vocab; id++) if (lp[id] !== -Infinity) candidates.push({ tokens: beam.tokens, logprob: beam.logprob + lp[id], id });
      if (opts.interrupted) await new Promise((done) => setTimeout(done, 0));
    }
    // Ties keep the earlier beam and the lower id first, so the search is deterministic.
    candidates.sort((a, b) => b.logprob - a.logprob);
    const next: typeof live = [];
    for (const [rank, c] of candidates.slice(0, 2 * n).entries()) {
      const tokens = [...c.tokens, c.id];
      if (stops.includes(c.id)) {
        if (rank < n) addFinished(finished, { tokens, logprob: c.logprob, score: scoreOf(c.logprob, tokens.length) }, n);
      } else next.push({ tokens, logprob: c.logprob });
      if (next.length === n) break;
    }
    live = next;
    if (finished.length >= n) {
      if (opts.earlyStopping) break;
      // The best a live beam can still reach, as Hugging Face estimates it: its current sum over its current length.
      const best = Math.max(...live.map((b) => scoreOf(b.logprob, b.tokens.length)));
      if (best <= worstFinished()) break;
    }
  }
  // Beams still alive at the end compete with the finished ones.
  for (const b of live) addFinished(finished, { ...b, score: scoreOf(b.logprob, b.tokens.length) }, n);
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
