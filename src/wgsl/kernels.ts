// WGSL for every kernel of the decoder stack other than attention: embedding, matmul with fused epilogue, norms,
// elementwise ops, rotary positions, the decoder input and argmax.
//
// Sizes that vary per run (rows = B × T) come from a uniform block; sizes fixed by the spec (widths, vocabulary) do
// too, so one pipeline serves every layer of the same shape. Identifiers are fixed names of this file: nothing of the
// spec reaches the source. Each generator describes its uniforms and bindings (kernel.ts), which declares them.

import type { ElementwiseActivation, NormType, SinusoidalLayout } from '../check/model.ts';
import type { PositionKind } from '../ir/ir.ts';
import { declareKernel, type Kernel, type KernelBinding, type UniformField } from './kernel.ts';

export type EmbedPositions = 'none' | PositionKind;
export type { NormType };
export type ElementwiseOp = 'add' | 'swiglu' | 'geglu' | Epilogue;

/** The activations a matmul epilogue or an elementwise step applies (SwiGLU, which takes two inputs, is an op). */
export type Epilogue = 'none' | ElementwiseActivation;

const PARAMS = { type: 'Params', name: 'u' };
const u32 = (...names: string[]): UniformField[] => names.map((name) => ({ name, type: 'u32' }));
const f32 = (name: string): UniformField => ({ name, type: 'f32' });
const read = (role: string, extent: KernelBinding['extent'], element: KernelBinding['element'] = 'f32'): KernelBinding => ({ role, access: 'read', element, extent });
const write = (role: string, extent: KernelBinding['extent'], element: KernelBinding['element'] = 'f32'): KernelBinding => ({ role, access: 'read_write', element, extent });
/** Each sequence's first position (one u32 per T rows), for decoding sequences that sit at different positions. */
const rowStartBinding: KernelBinding = { role: 'rowStart', name: 'row_start', access: 'read', element: 'u32', extent: ({ u }) => Math.ceil(u.rows / u.T) };
/** A kernel of 64 invocations a workgroup. */
const kernel64 = (family: string, uniforms: UniformField[], bindings: KernelBinding[], body: string, workgroupStorageBytes = 0): Kernel =>
  declareKernel({ family, entryPoint: 'main', struct: PARAMS, uniforms, bindings, workgroupSize: 64, workgroupStorageBytes, body });

/**
 * WGSL: `e = erf(x / √2)` for the exact GELU. WGSL has no erf; Abramowitz and Stegun 7.1.26 is within 1.5e-7 of it,
 * below f32's own rounding at the values GELU cares about.
 */
export const ERF_OF_X_OVER_SQRT2 = `let z = abs(x) * 0.7071067811865476;
  let t = 1.0 / (1.0 + 0.3275911 * z);
  let poly = ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t;
  let y = 1.0 - poly * exp(-z * z);
  let e = select(-y, y, x >= 0.0);`;

/** GELU with the tanh approximation (as GPT-2 uses) and exact (`gelu_erf`); the CPU interpreter uses the same formulas. */
const ACT: Record<Epilogue, string> = {
  none: 'return x;',
  relu: 'return max(x, 0.0);',
  gelu: 'let c = 0.7978845608028654 * (x + 0.044715 * x * x * x); return 0.5 * x * (1.0 + tanh(clamp(c, -15.0, 15.0)));',
  gelu_erf: `${ERF_OF_X_OVER_SQRT2}
  return 0.5 * x * (1.0 + e);`,
  silu: 'return x / (1.0 + exp(-x));',
};

/** `fn act(x: f32) -> f32` of one activation, as the forward kernels (and the gated gradients) apply it. */
export function actFn(a: Epilogue): string {
  return `fn act(x: f32) -> f32 { ${ACT[a]} }`;
}

export interface MatmulOptions {
  act: Epilogue;
  bias: boolean;
  residual: boolean;
  /**
   * Projections computed together (2 or 3): `w` and `bias` hold the parts' rows one after another, and output column
   * `n` goes to the part it falls in, each part to its own buffer; uniforms n0 and n1 are the widths of the first two.
   */
  parts?: number;
}

/** Output tile edge of the matmul kernel (rows and columns per workgroup); the schedule sizes grids by it. */
export const MATMUL_TILE = 32;

/** Rows per invocation of the skinny matmul; the grid's second dimension is ceil(M / this). */
export const SKINNY_ROWS = 4;

/** Uniforms, bindings, family and epilogue shared by both matmul shapes: they differ only in how they sum. */
function matmulParts(opts: MatmulOptions) {
  const parts = opts.parts ?? 1;
  if (parts > 1 && (opts.act !== 'none' || opts.residual)) throw new Error('a packed matmul has no activation or residual epilogue');
  const mn = ({ u }: { u: Record<string, number> }) => u.M * u.N;
  const outs: KernelBinding[] =
    parts === 1
      ? [write('out', mn)]
      : [
          write('out0', ({ u }) => u.M * u.n0),
          write('out1', ({ u }) => u.M * u.n1),
          ...(parts === 3 ? [write('out2', ({ u }: { u: Record<string, number> }) => u.M * (u.N - u.n0 - u.n1))] : []),
        ];
  const bindings: KernelBinding[] = [
    read('a', ({ u }) => u.M * u.K),
    read('w', ({ u }) => u.N * u.K),
    ...(opts.bias ? [read('bias', ({ u }: { u: Record<string, number> }) => u.N)] : []),
    ...(opts.residual ? [read('res', mn)] : []),
    ...outs,
  ];
  const third = parts === 3 ? ` else { let n2 = N - n0 - n1; out2[row * n2 + col - n0 - n1] = v; }` : '';
  // Where column `col` goes: the one output, or for packed projections the part it falls in.
  const store =
    parts === 1
      ? 'out[row * N + col] = v;'
      : `let n0 = u.n0; let n1 = u.n1;
        if (col < n0) { out0[row * n0 + col] = v; } else${parts === 3 ? ' if (col < n0 + n1)' : ''} { out1[row * n1 + col - n0] = v; }${third}`;
  /** The epilogue of one output value `sum` at (row, col): bias, activation, residual, store. */
  const epilogue = (sum: string, indent: string) =>
    [`var v = ${sum}${opts.bias ? ' + bias[col]' : ''};`, 'v = act(v);', ...(opts.residual ? ['v += res[row * N + col];'] : []), store].join(`\n${indent}`);
  const family = `matmul_${opts.act}${opts.bias ? '_bias' : ''}${opts.residual ? '_res' : ''}${parts > 1 ? `_pack${parts}` : ''}`;
  return { uniforms: u32('M', 'N', 'K', ...(parts > 1 ? ['n0', 'n1'] : [])), bindings, epilogue, family, prelude: actFn(opts.act) };
}

/**
 * `out[m, n] = act(sum_k a[m, k] * w[n, k] + bias[n]) + res[m, n]` (w in PyTorch `[out, in]` layout). A workgroup
 * of 8×8 threads computes a 32×32 output tile, each thread a 4×4 block held in registers, so every value staged in
 * workgroup memory feeds four multiply-adds instead of one. A and W are staged 16 columns of K at a time; loads past
 * the edges read zero, so any M, N and K work.
 */
export function matmulKernel(opts: MatmulOptions): Kernel {
  const m = matmulParts(opts);
  const body = `${m.prelude}
var<workgroup> ta: array<array<f32, 16>, 32>;
var<workgroup> tw: array<array<f32, 16>, 32>;
@compute @workgroup_size(8, 8)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = u.M; let N = u.N; let K = u.K;
  let row0 = wid.y * 32u;
  let col0 = wid.x * 32u;
  let tid = lid.y * 8u + lid.x;
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < K; k0 += 16u) {
    // 64 threads stage 32 rows × 16 columns of each operand: 8 elements apiece.
    for (var i = 0u; i < 8u; i++) {
      let e = tid + i * 64u;
      let r = e / 16u;
      let kk = e % 16u;
      let gk = k0 + kk;
      let ar = row0 + r;
      ta[r][kk] = select(0.0, a[min(ar, M - 1u) * K + min(gk, K - 1u)], ar < M && gk < K);
      let wr = col0 + r;
      tw[r][kk] = select(0.0, w[min(wr, N - 1u) * K + min(gk, K - 1u)], wr < N && gk < K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      var av: array<f32, 4>;
      var wv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        av[i] = ta[lid.y * 4u + i][kk];
        wv[i] = tw[lid.x * 4u + i][kk];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] += av[i] * wv[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + lid.y * 4u + i;
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + lid.x * 4u + j;
      if (row < M && col < N) {
        ${m.epilogue('acc[i][j]', '        ')}
      }
    }
  }
}`;
  return kernel64(m.family, m.uniforms, m.bindings, body, 2 * 32 * 16 * 4);
}

/**
 * The same product, epilogues, bindings and uniforms as `matmulKernel`, shaped for a handful of rows (a decode
 * step): one invocation per output column and group of 4 rows, reading A and W straight from storage, with no
 * workgroup memory and no barriers. The tiled kernel would pad one row to a 32-row tile. Grid: ceil(N / 64) ×
 * ceil(M / 4).
 */
export function skinnyMatmulKernel(opts: MatmulOptions): Kernel {
  const m = matmulParts(opts);
  const body = `${m.prelude}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = u.M; let N = u.N; let K = u.K;
  let col = gid.x;
  let row0 = gid.y * ${SKINNY_ROWS}u;
  if (col >= N || row0 >= M) { return; }
  var acc = vec4<f32>(0.0);
  let rows = min(M - row0, ${SKINNY_ROWS}u);
  for (var k = 0u; k < K; k++) {
    let wk = w[col * K + k];
    acc.x = fma(a[row0 * K + k], wk, acc.x);
    if (rows > 1u) { acc.y = fma(a[(row0 + 1u) * K + k], wk, acc.y); }
    if (rows > 2u) { acc.z = fma(a[(row0 + 2u) * K + k], wk, acc.z); }
    if (rows > 3u) { acc.w = fma(a[(row0 + 3u) * K + k], wk, acc.w); }
  }
  for (var i = 0u; i < rows; i++) {
    let row = row0 + i;
    ${m.epilogue('acc[i]', '    ')}
  }
}`;
  return kernel64(`${m.family}_skinny`, m.uniforms, m.bindings, body);
}

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

/**
 * Token embedding: `out[r, d] = table[ids[r], d] * scale + pos(t, d)` with t = r % T. Ids outside the vocabulary
 * read row 0 (inputs are validated on the host first). `start` is the position of row 0 (decoding with a cache).
 * Sinusoidal positions also take `rate_lo` and `rate_hi`, the words of `positionRateWords(D)`; learned positions read
 * table row t + `offset`.
 *
 * With `rowStarts` (decoding rows that sit at different positions), each sequence of T rows starts at its own
 * position, read from `row_start` (one u32 per sequence); `start` is then the largest of them, which bounds the reads.
 */
export function embedKernel(positions: EmbedPositions, layout: SinusoidalLayout = 'interleaved', rowStarts = false): Kernel {
  const bindings: KernelBinding[] = [
    read('table', ({ u }) => u.vocab * u.D),
    read('ids', ({ u }) => u.rows, 'i32'),
    ...(positions === 'learned' ? [read('pos_table', ({ u }: { u: Record<string, number> }) => (Math.min(u.T, u.rows) + u.start + u.offset) * u.D)] : []),
    write('out', ({ u }) => u.rows * u.D),
    ...(rowStarts ? [rowStartBinding] : []),
  ];
  const pos =
    positions === 'sinusoidal'
      ? `${sinusoidWgsl(layout)}
  v += pos;`
      : positions === 'learned'
        ? 'v += pos_table[(t + u.offset) * D + d];'
        : '';
  const body = `${positions === 'sinusoidal' ? `\n${POSITION_ANGLES}` : ''}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let rows = u.rows; let D = u.D; let T = u.T; let vocab = u.vocab;
  let scale = u.scale;
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= rows * D) { return; }
  let r = i / D; let d = i % D;
  let t = r % T + ${rowStarts ? 'row_start[r / T]' : 'u.start'};
  var id = ids[r];
  if (id < 0 || u32(id) >= vocab) { id = 0; }
  var v = table[u32(id) * D + d] * scale;
  ${pos}
  out[i] = v;
}`;
  const rate = positions === 'sinusoidal' ? u32('rate_lo', 'rate_hi') : positions === 'learned' ? u32('offset') : [];
  const name = `embed_${positions}${positions === 'sinusoidal' && layout === 'concatenated' ? '_concatenated' : ''}${rowStarts ? '_rows' : ''}`;
  return kernel64(name, [...u32('rows', 'D', 'T', 'vocab'), f32('scale'), ...u32('start'), ...rate], bindings, body);
}

/**
 * Layer or RMS norm over rows of width D, one workgroup of 64 per row. Layer norm takes the mean first and then the
 * mean squared deviation (two passes over the row), because E[x²] − E[x]² cancels catastrophically in f32 when a
 * residual stream carries a large offset.
 */
export function normKernel(type: NormType, bias = type === 'layer'): Kernel {
  const layer = type === 'layer';
  // A layer norm may come without β (a stack with `bias = false`); an RMS norm never has one.
  const beta = layer && bias;
  const bindings: KernelBinding[] = [
    read('x', ({ u }) => u.rows * u.D),
    read('gamma', ({ u }) => u.D),
    ...(beta ? [read('beta', ({ u }: { u: Record<string, number> }) => u.D)] : []),
    write('out', ({ u }) => u.rows * u.D),
  ];
  const body = `
var<workgroup> part: array<f32, 64>;
fn row_total(v: f32, i: u32) -> f32 {
  part[i] = v;
  workgroupBarrier();
  for (var step = 32u; step > 0u; step /= 2u) {
    if (i < step) { part[i] += part[i + step]; }
    workgroupBarrier();
  }
  let total = part[0];
  workgroupBarrier();
  return total;
}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let rows = u.rows; let D = u.D; let eps = u.eps;
  let r = wid.x + wid.y * 65535u;
  if (r >= rows) { return; }
  let base = r * D;
  var mean = 0.0;
  ${layer ? `var sum = 0.0;
  for (var d = lid.x; d < D; d += 64u) { sum += x[base + d]; }
  mean = row_total(sum, lid.x) / f32(D);` : '// RMS norm does not centre the row.'}
  var sq = 0.0;
  for (var d = lid.x; d < D; d += 64u) { let c = x[base + d] - mean; sq += c * c; }
  let inv = inverseSqrt(row_total(sq, lid.x) / f32(D) + eps);
  for (var d = lid.x; d < D; d += 64u) {
    out[base + d] = (x[base + d] - mean) * inv * gamma[d]${beta ? ' + beta[d]' : ''};
  }
}`;
  return kernel64(`norm_${type}${layer && !beta ? '_unbiased' : ''}`, [...u32('rows', 'D'), f32('eps')], bindings, body, 64 * 4);
}

/** Elementwise: `add` (a + b), an activation of a, or SwiGLU (silu(a) * b), over `count` values. */
export function elementwiseKernel(op: ElementwiseOp): Kernel {
  const two = op === 'add' || op === 'swiglu' || op === 'geglu';
  const count = ({ u }: { u: Record<string, number> }) => u.count;
  const bindings: KernelBinding[] = [read('a', count), ...(two ? [read('b', count)] : []), write('out', count)];
  const value = op === 'add' ? 'a[i] + b[i]' : op === 'swiglu' ? 'act(a[i]) * b[i]' : op === 'geglu' ? 'act(a[i]) * b[i]' : 'act(a[i])';
  const fn: Epilogue | undefined = op === 'add' ? undefined : op === 'swiglu' ? 'silu' : op === 'geglu' ? 'gelu' : op;
  const body = `${fn ? actFn(fn) : ''}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= u.count) { return; }
  out[i] = ${value};
}`;
  return kernel64(`elementwise_${op}`, u32('count'), bindings, body);
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

/** Rotary positions, in place on `[rows, heads * hd]`: pair p of each head turns by t · θ^(-2p/rd). */
export function ropeKernel(style: RopeStyle, rowStarts = false): Kernel {
  const bindings: KernelBinding[] = [write('x', ({ u }) => u.rows * u.heads * u.hd), ...(rowStarts ? [rowStartBinding] : [])];
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
  return kernel64(`${style === 'pairs' ? 'rope' : 'rope_halves'}${rowStarts ? '_rows' : ''}`, [...ROPE_UNIFORMS], bindings, body);
}

/** Decoder input: `dec[b, 0] = bos`, `dec[b, t] = tokens[b, t-1]` unless that is pad or eos (then pad); eos 2^32-1 is none. */
export function shiftRightKernel(): Kernel {
  const bt = ({ u }: { u: Record<string, number> }) => u.B * u.T;
  const bindings: KernelBinding[] = [read('tokens', bt, 'i32'), write('dec', bt, 'i32')];
  const body = `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let B = u.B; let T = u.T;
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= B * T) { return; }
  let t = i % T;
  let pad = i32(u.pad);
  if (t == 0u) { dec[i] = i32(u.bos); return; }
  let prev = tokens[i - 1u];
  let is_eos = u.eos != 0xffffffffu && prev == i32(u.eos);
  dec[i] = select(prev, pad, prev == pad || is_eos);
}`;
  return kernel64('shift_right', u32('B', 'T', 'bos', 'pad', 'eos'), bindings, body);
}

/** Argmax over rows of width N (first maximum wins). */
export function argmaxKernel(): Kernel {
  const bindings: KernelBinding[] = [read('x', ({ u }) => u.rows * u.N), write('argmax_out', ({ u }) => u.rows, 'i32')];
  const body = `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let rows = u.rows; let N = u.N;
  let r = gid.x + gid.y * 65535u * 64u;
  if (r >= rows) { return; }
  var best = 0u; var v = x[r * N];
  for (var n = 1u; n < N; n++) { let c = x[r * N + n]; if (c > v) { v = c; best = n; } }
  argmax_out[r] = i32(best);
}`;
  return kernel64('argmax', u32('rows', 'N'), bindings, body);
}
