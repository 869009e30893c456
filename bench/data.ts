// Deterministic inputs and comparison measures for the benchmarks.

/** Values in [-amplitude, amplitude) from a 32-bit LCG: every run and every comparator sees the same numbers. */
export function seededFloats(length: number, seed: number, amplitude = 1): Float32Array {
  const out = new Float32Array(length);
  let state = (Math.imul(seed + 1, 0x9e3779b1) >>> 0) || 1;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = amplitude * (state / 2 ** 31 - 1);
  }
  return out;
}

/** Largest |a[i] - b[i]| (NaN when either side has a NaN). */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return NaN;
    if (d > worst) worst = d;
  }
  return worst;
}

/** FLOPs of dense attention: 2·D per score (Q·Kᵀ) and 2·D per weighted V row, per head. */
export function attentionFlops(batch: number, heads: number, lq: number, lk: number, headDim: number): number {
  return 4 * batch * heads * lq * lk * headDim;
}
