// The optimizer of `mdl train`: AdamW as PyTorch defines it (torch.optim.AdamW), gradient clipping by global norm
// and the learning-rate schedule (linear warmup, then cosine or linear decay to zero, or constant).
//
// One step for parameter p with gradient g at step t (1-based):
//   p ← p − lr·λ·p                       (decoupled weight decay, skipped for norm scales and biases)
//   m ← β1·m + (1 − β1)·g,   v ← β2·v + (1 − β2)·g²
//   p ← p − lr · (m / (1 − β1^t)) / (√(v / (1 − β2^t)) + ε)
// Arithmetic is f64; weights, m and v are stored as f32 between steps, so a step depends only on stored state and
// a resumed run repeats an uninterrupted one bit for bit.

import { isDecayed } from '../lower/optimizer-program.ts';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const DEFAULT_ADAMW: AdamWConfig = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

export interface OptimizerState {
  /** Optimizer steps taken so far. */
  step: number;
  m: Map<string, Float32Array>;
  v: Map<string, Float32Array>;
}

export function freshState(weights: ReadonlyMap<string, Float32Array>): OptimizerState {
  const zeros = () => new Map([...weights].map(([n, w]) => [n, new Float32Array(w.length)]));
  return { step: 0, m: zeros(), v: zeros() };
}

export { isDecayed };

/** Scales every gradient so that their joint L2 norm is at most `maxNorm` (0: no clipping); returns the norm before. */
export function clipByGlobalNorm(grads: ReadonlyMap<string, Float64Array>, maxNorm: number): number {
  let sq = 0;
  for (const g of grads.values()) for (const x of g) sq += x * x;
  const norm = Math.sqrt(sq);
  if (maxNorm > 0 && norm > maxNorm) {
    const scale = maxNorm / (norm + 1e-6);
    for (const g of grads.values()) for (let i = 0; i < g.length; i++) g[i] *= scale;
  }
  return norm;
}

/** One AdamW step in place at learning rate `lr`; parameters in `frozen` (and those without a gradient) stay. */
export function adamwStep(weights: Map<string, Float32Array>, grads: ReadonlyMap<string, Float64Array>, state: OptimizerState, lr: number, c: AdamWConfig, frozen: ReadonlySet<string> = new Set()): void {
  state.step++;
  const t = state.step;
  const c1 = 1 - c.beta1 ** t;
  const c2 = 1 - c.beta2 ** t;
  for (const [name, p] of weights) {
    const g = grads.get(name);
    if (!g || frozen.has(name)) continue;
    const m = state.m.get(name)!;
    const v = state.v.get(name)!;
    const decay = isDecayed(name) ? lr * c.weightDecay : 0;
    for (let i = 0; i < p.length; i++) {
      const mi = c.beta1 * m[i] + (1 - c.beta1) * g[i];
      const vi = c.beta2 * v[i] + (1 - c.beta2) * g[i] * g[i];
      m[i] = mi;
      v[i] = vi;
      const pi = p[i] - decay * p[i];
      p[i] = pi - (lr * (mi / c1)) / (Math.sqrt(vi / c2) + c.eps);
    }
  }
}

export type Schedule = 'cosine' | 'linear' | 'constant';

export interface LrSchedule {
  lr: number;
  warmup: number;
  total: number;
  schedule: Schedule;
}

/** The learning rate of optimizer step `step` (1-based): linear warmup over `warmup` steps, then the decay. */
export function learningRate(step: number, s: LrSchedule): number {
  if (s.warmup > 0 && step <= s.warmup) return (s.lr * step) / s.warmup;
  if (s.schedule === 'constant') return s.lr;
  const span = Math.max(1, s.total - s.warmup);
  const done = Math.min(1, (step - s.warmup) / span);
  return s.schedule === 'linear' ? s.lr * (1 - done) : 0.5 * s.lr * (1 + Math.cos(Math.PI * done));
}
