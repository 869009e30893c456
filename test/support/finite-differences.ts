// Finite-difference checks of the CPU reference's gradients, in f64: central differences
// (f(x + h) − f(x − h)) / 2h on sampled entries, compared with the analytic gradient by the relative error of the
// sampled vectors, ‖analytic − numeric‖ / max(‖analytic‖, ‖numeric‖).

import { checkSource } from '../../src/check/check.ts';
import type { CheckedModel } from '../../src/check/model.ts';
import { buildTrainingIr } from '../../src/ir/training.ts';
import { buildGradGraph, type GradGraph } from '../../src/lower/grad.ts';
import { paramsOf } from '../../src/runtime/init-weights.ts';
import { runBackward } from '../../src/runtime/cpu-training.ts';

/** A small deterministic generator (mulberry32), so failures reproduce. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomTensor(n: number, r: () => number, scale = 1): Float64Array {
  return Float64Array.from({ length: n }, () => (r() * 2 - 1) * scale);
}

/**
 * Relative error of two sampled vectors. The denominator has a floor (1e-4, far above the differences' rounding
 * noise of about 1e-11) so that a gradient that is zero by symmetry — a key bias adds the same amount to every
 * score of a row, which the softmax ignores — is compared absolutely rather than noise against noise.
 */
export function relativeError(a: number[], b: number[], floor = 1e-4): number {
  let diff = 0;
  let na = 0;
  let nb = 0;
  a.forEach((x, i) => {
    diff += (x - b[i]) ** 2;
    na += x * x;
    nb += b[i] * b[i];
  });
  return Math.sqrt(diff) / Math.max(Math.sqrt(Math.max(na, nb)), floor);
}

/** Central differences of `f` at sampled indices of `x` (changed in place and restored). */
export function numericGradient(f: () => number, x: Float64Array, indices: number[], h = 1e-5): number[] {
  return indices.map((i) => {
    const keep = x[i];
    x[i] = keep + h;
    const up = f();
    x[i] = keep - h;
    const down = f();
    x[i] = keep;
    return (up - down) / (2 * h);
  });
}

export function sampleIndices(n: number, count: number, r: () => number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  const out = new Set<number>();
  while (out.size < count) out.add(Math.floor(r() * n));
  return [...out].sort((a, b) => a - b);
}

export interface ModelCase {
  model: CheckedModel;
  graph: GradGraph;
  dims: Record<string, number>;
  inputs: Record<string, Int32Array | Float32Array>;
  weights: Map<string, Float64Array>;
}

/** Checks a spec and fills its weights with N-ish values large enough that every op is well away from linear. */
export function modelCase(text: string, dims: Record<string, number>, inputs: Record<string, Int32Array | Float32Array>, seed = 1, scale = 0.5): ModelCase {
  const r = checkSource(text, 'test.mdl');
  if (!r.model) throw new Error(r.diagnostics.map((d) => `${d.code} ${d.span.line}:${d.span.col} ${d.message}`).join('\n'));
  const graph = buildGradGraph(buildTrainingIr(r.model));
  const g = rng(seed);
  const weights = new Map(paramsOf(graph).map((p) => {
    const size = p.shape.reduce((a, b) => a * b, 1);
    const base = p.name.endsWith('norm.weight') || /_norm\.weight$/.test(p.name) ? 1 : 0;
    return [p.name, Float64Array.from(randomTensor(size, g, scale), (x) => base + x)];
  }));
  return { model: r.model, graph, dims, inputs, weights };
}

/** The worst relative error over every parameter, with the parameter it occurs at. */
export function checkModelGradients(c: ModelCase, samples = 4, seed = 2): { worst: number; at: string; loss: number; counted: number } {
  const run = { dims: c.dims, inputs: c.inputs, weights: c.weights };
  const result = runBackward(c.graph, c.model, run);
  const lossAt = () => runBackward(c.graph, c.model, run, { lossOnly: true }).loss;
  const r = rng(seed);
  let worst = 0;
  let at = '';
  for (const [name, w] of c.weights) {
    const grad = result.grads.get(name);
    if (!grad) throw new Error(`no gradient for ${name}`);
    const idx = sampleIndices(w.length, samples, r);
    const numeric = numericGradient(lossAt, w, idx);
    const err = relativeError(idx.map((i) => grad[i]), numeric);
    if (err > worst) {
      worst = err;
      at = name;
    }
  }
  return { worst, at, loss: result.loss, counted: result.counted };
}
