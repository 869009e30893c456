// Position values on the device: sinusoidal tables and rotary rotations, with angles kept exactly in turns so every
// value is within about 1e-7 of f64 at any position (see POSITION_ANGLES). The embedding and the training kernels
// take the sinusoid from here; the forward rotation and its inverse (backward-kernels.ts) share the pair code.

import type { SinusoidalLayout } from '../check/model.ts';
import { declareKernel, type Kernel, type KernelBinding, type UniformField } from './kernel.ts';

const u32 = (...names: string[]): UniformField[] => names.map((name) => ({ name, type: 'u32' }));

/** Each sequence's first position (one u32 per T rows), for decoding sequences that sit at different positions. */
export const rowStartBinding: KernelBinding = { role: 'rowStart', name: 'row_start', access: 'read', element: 'u32', extent: ({ u }) => Math.ceil(u.rows / u.T) };

/**
 * Position angles `t · r^p` with r = 10000^(-2/width) (sinusoidal positions: p = d / 2 of the model width; rotary: the
 * pair index of the head width), as sin and cos accurate to a few 1e-7 at any position, on any device.
 *
 * f32 alone cannot do this: at t = 4096 an f32 angle is off by ~2e-4 rad, and WGSL's sin and cos only promise 2^-11
 * absolute error (SwiftShader uses that room). So the angle is kept exactly in turns as a 64-bit fixed-point fraction
 * (vec2<u32>: low, high words): the host gives r as such a fraction, computed in f64 (`positionRateWords`); the
 * kernel multiplies 1/(2π) by r^p (square and multiply, each product rounded down at 2^-64), then by the integer t
 * modulo 1 turn, which is exact. The nearest quarter turn is taken off in integers, and the rest, |x| <= π/4, goes
 * through Taylor polynomials in f32 (truncation below 2e-9 there).
 */
export const POSITION_ANGLES = `fn wide_mul(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2<u32>((p00 & 0xffffu) | (mid << 16u), a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}
fn fixed_mul(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  let ll = wide_mul(a.x, b.x); let lh = wide_mul(a.x, b.y); let hl = wide_mul(a.y, b.x); let hh = wide_mul(a.y, b.y);
  let m1 = ll.y + lh.x; let m2 = m1 + hl.x;
  let up = select(0u, 1u, m1 < lh.x) + select(0u, 1u, m2 < hl.x);
  let l1 = hh.x + lh.y; let l2 = l1 + hl.y; let l3 = l2 + up;
  let carry = select(0u, 1u, l1 < lh.y) + select(0u, 1u, l2 < hl.y) + select(0u, 1u, l3 < up);
  return vec2<u32>(l3, hh.y + carry);
}
fn position_sin_cos(t: u32, p: u32, rate: vec2<u32>) -> vec2<f32> {
  var f = vec2<u32>(0x9391054au, 0x28be60dbu);
  var base = rate;
  var e = p;
  loop {
    if (e == 0u) { break; }
    if ((e & 1u) == 1u) { f = fixed_mul(f, base); }
    e = e >> 1u;
    if (e != 0u) { base = fixed_mul(base, base); }
  }
  let low = wide_mul(t, f.x);
  let turns = vec2<u32>(low.x, t * f.y + low.y);
  let n = (turns.y + 0x20000000u) >> 30u;
  let rest = bitcast<i32>(turns.y - (n << 30u));
  let x = (f32(rest) + f32(turns.x) * 2.3283064365386963e-10) * 1.4629180792671596e-9;
  let x2 = x * x;
  let s = x * (1.0 + x2 * (-0.16666666666666666 + x2 * (0.008333333333333333 + x2 * (-0.0001984126984126984 + x2 * 2.755731922398589e-6))));
  let c = 1.0 + x2 * (-0.5 + x2 * (0.041666666666666664 + x2 * (-0.001388888888888889 + x2 * (2.48015873015873e-5 + x2 * -2.755731922398589e-7))));
  switch (n & 3u) {
    case 0u: { return vec2<f32>(s, c); }
    case 1u: { return vec2<f32>(c, -s); }
    case 2u: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}`;

/**
 * The two uniform words (low, high) of r = base^(-2/width) as a 64-bit fixed-point fraction, for `position_sin_cos`
 * (base 10000 unless a rotary θ says otherwise). Scaling an f64 by 2^32 is exact, so the two words hold every bit of
 * the f64 value.
 */
export function positionRateWords(width: number, base = 10000): [number, number] {
  const scaled = Math.pow(base, -2 / width) * 2 ** 32;
  const high = Math.floor(scaled);
  return [Math.floor((scaled - high) * 2 ** 32), high];
}

/**
 * WGSL: the sinusoidal position value `pos` of position `t`, dim `d` of `D`, frequencies 10000^(-2i/D) from the
 * uniforms `rate_lo`, `rate_hi` (`positionRateWords(D)`). Interleaved: sin at 2i, cos at 2i+1; concatenated (as
 * Marian): sin of frequency i at i, its cos at D/2 + i.
 */
export function sinusoidWgsl(layout: SinusoidalLayout): string {
  return layout === 'interleaved'
    ? `let sc = position_sin_cos(t, d / 2u, vec2<u32>(u.rate_lo, u.rate_hi));
  let pos = select(sc.y, sc.x, d % 2u == 0u);`
    : `let sc = position_sin_cos(t, d % (D / 2u), vec2<u32>(u.rate_lo, u.rate_hi));
  let pos = select(sc.y, sc.x, d < D / 2u);`;
}

/** Which dims of a head pair up under rotary positions: (2p, 2p+1) as GPT-J, or (p, p + rd/2) as GPT-NeoX and Llama. */
export type RopeStyle = 'pairs' | 'halves';

/** Uniforms of the rotary kernels: `hd` is the head width, `rd` the rotated dims (the first rd of each head). */
export const ROPE_UNIFORMS: readonly UniformField[] = u32('rows', 'heads', 'hd', 'rd', 'T', 'start', 'rate_lo', 'rate_hi');

/**
 * WGSL shared by the rotation and its inverse, for invocation `i` over `rows · heads · rd/2` pairs: `i0`, `i1` (the
 * pair's two elements) and `sc` (sin and cos of t · θ^(-2p/rd), t = r % T + start, with `rate_lo`, `rate_hi` the
 * words of `positionRateWords(rd, θ)`).
 */
export function ropePairWgsl(style: RopeStyle, rowStarts = false): string {
  return `  let half = u.rd / 2u;
  let p = i % half;
  let h = (i / half) % u.heads;
  let r = i / (half * u.heads);
  let sc = position_sin_cos(r % u.T + ${rowStarts ? 'row_start[r / u.T]' : 'u.start'}, p, vec2<u32>(u.rate_lo, u.rate_hi));
  let at = r * u.heads * u.hd + h * u.hd;
  ${style === 'pairs' ? 'let i0 = at + 2u * p; let i1 = i0 + 1u;' : 'let i0 = at + p; let i1 = at + p + half;'}`;
}

/**
 * Rotary positions, in place on `[rows, heads * hd]`: pair p of each head turns by t · θ^(-2p/rd). With `rowStarts`,
 * each sequence of T rows starts at its own position (`row_start`), as decoding rows of a batch do.
 */
export function ropeKernel(style: RopeStyle, rowStarts = false): Kernel {
  const bindings: KernelBinding[] = [{ role: 'x', access: 'read_write', element: 'f32', extent: ({ u }) => u.rows * u.heads * u.hd }, ...(rowStarts ? [rowStartBinding] : [])];
  const body = `
${POSITION_ANGLES}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= u.rows * u.heads * (u.rd / 2u)) { return; }
${ropePairWgsl(style, rowStarts)}
  let x0 = x[i0]; let x1 = x[i1];
  x[i0] = x0 * sc.y - x1 * sc.x;
  x[i1] = x0 * sc.x + x1 * sc.y;
}`;
  return declareKernel({ family: `${style === 'pairs' ? 'rope' : 'rope_halves'}${rowStarts ? '_rows' : ''}`, entryPoint: 'main', struct: { type: 'Params', name: 'u' }, uniforms: [...ROPE_UNIFORMS], bindings, workgroupSize: 64, workgroupStorageBytes: 0, body });
}
