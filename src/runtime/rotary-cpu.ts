// Rotary positions in f64, for the reference interpreter and the reference backward.
//
// Pair p (0 <= p < dims/2) of each head turns by t · θ^(-2p/dims), where t is the row's position. `pairs` rotates
// dims (2p, 2p+1) as GPT-J does; `halves` rotates (p, p + dims/2) as GPT-NeoX and Llama do. Dims past `dims` pass
// through. The inverse (direction -1) is the transpose, which is what the gradient needs.

import type { Rotary } from '../ir/ir.ts';

/** The rotation of a model that names no rotary options: GPT-J pairs, θ = 10000, every dim. */
export function defaultRotary(headDim: number): Rotary {
  return { style: 'pairs', theta: 10000, dims: headDim };
}

/** Dim indices of pair p. */
export function rotaryPair(r: Rotary, p: number): [number, number] {
  return r.style === 'pairs' ? [2 * p, 2 * p + 1] : [p, p + r.dims / 2];
}

/** Angle of pair p at position t, in f64. */
export function rotaryAngle(r: Rotary, t: number, p: number): number {
  return t * Math.exp((-Math.log(r.theta) * 2 * p) / r.dims);
}

/** Rotates `[rows, heads, hd]`; row r is position r % length + start. */
export function rope(x: Float64Array, rows: number, heads: number, hd: number, length: number, r: Rotary, start = 0, direction: 1 | -1 = 1): Float64Array {
  const o = Float64Array.from(x);
  for (let row = 0; row < rows; row++) {
    const t = (row % length) + start;
    for (let h = 0; h < heads; h++) {
      const base = (row * heads + h) * hd;
      for (let p = 0; p < r.dims / 2; p++) {
        const angle = direction * rotaryAngle(r, t, p);
        const [i, j] = rotaryPair(r, p);
        const c = Math.cos(angle);
        const s = Math.sin(angle);
        o[base + i] = x[base + i] * c - x[base + j] * s;
        o[base + j] = x[base + i] * s + x[base + j] * c;
      }
    }
  }
  return o;
}
