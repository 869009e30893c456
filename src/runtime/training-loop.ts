// The training loop's pieces on the CPU reference: examples grouped into padded batches by length, a data order that
// is a pure function of (seed, micro-batch number), one optimizer step (gradient accumulation weighted by counted
// tokens, clipping, AdamW) and teacher-forced evaluation. Nothing here keeps hidden state: a step depends on the
// weights, the optimizer state and the step number only, which is what makes `--resume` exact.

import type { CheckedModel } from '../check/model.ts';
import type { GradGraph } from '../lower/grad.ts';
import { pairHash } from '../masks/hash.ts';
import { adamwStep, clipByGlobalNorm, learningRate, type AdamWConfig, type LrSchedule, type OptimizerState } from './adamw.ts';
import { runBackward } from './cpu-training.ts';
import { packRows, type Row, type TrainingBatch } from './training-data.ts';

const rowLength = (r: Row) => Math.max(0, ...Object.values(r.tokens).map((t) => t.length));

/**
 * Rows sorted by length (ties by line) and cut into batches of at most `batchTokens` padded tokens (at least one
 * row each), so that rows of like length share a batch and little is padding.
 */
export function batchByLength(rows: Row[], batchTokens: number, m: CheckedModel, path: string): TrainingBatch[] {
  const sorted = [...rows].sort((a, b) => rowLength(a) - rowLength(b) || a.line - b.line);
  const out: TrainingBatch[] = [];
  let current: Row[] = [];
  for (const r of sorted) {
    const longest = Math.max(rowLength(r), ...current.map(rowLength));
    if (current.length > 0 && (current.length + 1) * longest > batchTokens) {
      out.push(packRows(current, m, path));
      current = [];
    }
    current.push(r);
  }
  if (current.length) out.push(packRows(current, m, path));
  return out;
}

/** A permutation of 0…n−1 for one epoch (Fisher–Yates driven by the seeded hash). */
export function epochOrder(n: number, seed: number, epoch: number): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = pairHash(seed, epoch, i, 0x7261696e, 0) % (i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** The batch of micro-batch number `k` (0-based, counted over the whole run). */
export function batchAt(batches: TrainingBatch[], seed: number, k: number): TrainingBatch {
  const epoch = Math.floor(k / batches.length);
  return batches[epochOrder(batches.length, seed, epoch)[k % batches.length]];
}

/** FNV-1a over every input of every batch, in order: equal for the same data batched the same way. */
export function dataFingerprint(batches: TrainingBatch[]): string {
  let h = 0x811c9dc5;
  const mix = (v: number) => {
    h = Math.imul(h ^ (v & 0xff), 0x01000193) >>> 0;
    h = Math.imul(h ^ ((v >>> 8) & 0xffffff), 0x01000193) >>> 0;
  };
  for (const b of batches) {
    for (const [name, data] of Object.entries(b.inputs).sort(([x], [y]) => (x < y ? -1 : 1))) {
      for (const c of name) mix(c.charCodeAt(0));
      mix(data.length);
      for (const v of data) mix(v);
    }
  }
  return h.toString(16).padStart(8, '0');
}

export interface StepConfig {
  graph: GradGraph;
  model: CheckedModel;
  batches: TrainingBatch[];
  seed: number;
  /** Micro-batches per optimizer step. */
  accumulate: number;
  /** Global-norm clipping threshold (0: none). */
  clip: number;
  adamw: AdamWConfig;
  schedule: LrSchedule;
  frozen: ReadonlySet<string>;
}

export interface StepResult {
  loss: number;
  counted: number;
  gradNorm: number;
  lr: number;
}

/** One optimizer step in place: the weights and the state advance by one. */
export function trainStep(c: StepConfig, weights: Map<string, Float32Array>, state: OptimizerState): StepResult {
  const sums = new Map<string, Float64Array>();
  let lossSum = 0;
  let counted = 0;
  for (let j = 0; j < c.accumulate; j++) {
    const batch = batchAt(c.batches, c.seed, state.step * c.accumulate + j);
    const r = runBackward(c.graph, c.model, { dims: batch.dims, inputs: batch.inputs, weights });
    if (r.counted === 0) continue;
    // Each micro-batch's mean is weighted by its counted tokens: the step sees the mean over all of them.
    for (const [name, g] of r.grads) {
      const s = sums.get(name) ?? sums.set(name, new Float64Array(g.length)).get(name)!;
      for (let i = 0; i < g.length; i++) s[i] += g[i] * r.counted;
    }
    lossSum += r.loss * r.counted;
    counted += r.counted;
  }
  for (const s of sums.values()) for (let i = 0; i < s.length; i++) s[i] /= Math.max(1, counted);
  // A frozen parameter has no gradient (as in PyTorch): it takes no part in the norm that clipping measures.
  for (const name of c.frozen) sums.delete(name);
  const gradNorm = clipByGlobalNorm(sums, c.clip);
  const lr = learningRate(state.step + 1, c.schedule);
  adamwStep(weights, sums, state, lr, c.adamw, c.frozen);
  return { loss: counted ? lossSum / counted : 0, counted, gradNorm, lr };
}

export interface EvalResult {
  /** Mean cross-entropy over counted tokens. */
  loss: number;
  counted: number;
  /** Counted tokens whose label is the logits' argmax. */
  correct: number;
}

/** Teacher-forced evaluation over every batch: the loss as the spec declares it, summed over counted tokens. */
export function evaluate(graph: GradGraph, m: CheckedModel, batches: TrainingBatch[], weights: Map<string, Float32Array>): EvalResult {
  const lossNode = graph.nodes.find((n) => n.id === graph.loss)!;
  let sum = 0;
  let counted = 0;
  let correct = 0;
  for (const batch of batches) {
    const r = runBackward(graph, m, { dims: batch.dims, inputs: batch.inputs, weights }, { lossOnly: true });
    if (r.counted === 0) continue;
    sum += r.loss * r.counted;
    counted += r.counted;
    const logits = r.values.get(lossNode.args[0]) as Float64Array;
    const labels = r.values.get(lossNode.args[1]) as Int32Array;
    const vocab = logits.length / labels.length;
    labels.forEach((label, row) => {
      if (label < 0) return;
      let best = 0;
      for (let j = 1; j < vocab; j++) if (logits[row * vocab + j] > logits[row * vocab + best]) best = j;
      if (best === label) correct++;
    });
  }
  return { loss: counted ? sum / counted : NaN, counted, correct };
}
