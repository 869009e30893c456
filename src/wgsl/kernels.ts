// WGSL for every kernel of the decoder stack other than attention: embedding, matmul with fused epilogue, norms,
// elementwise ops, rotary positions, the decoder input and argmax.
//
// Sizes that vary per run (rows = B × T) come from a uniform block; sizes fixed by the spec (widths, vocabulary) do
// too, so one pipeline serves every layer of the same shape. Identifiers are fixed names of this file: nothing of the
// spec reaches the source. Each generator describes its uniforms and bindings (kernel.ts), which declares them.

import type { ElementwiseActivation, NormType, SinusoidalLayout } from '../check/model.ts';
import type { PositionKind } from '../ir/ir.ts';
import { POSITION_ANGLES, rowStartBinding, sinusoidWgsl } from './positions.ts';
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
export function matmulParts(opts: MatmulOptions) {
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
 * The b×b block of a staged matmul invocation as b·b/4 named vec4 sums (`acc<i>_<q>`: row i, columns 4q … 4q + 3),
 * one step of the shared-memory loop over `kk`, and the store through the epilogue, all unrolled when generated: a
 * CPU-backed adapter (SwiftShader) keeps a private array indexed in a loop in memory, one access per lane, where
 * named values stay in registers. Each sum still adds its products in kk order.
 */
export const STAGED_ACC_DECL = (b: number) =>
  Array.from({ length: b }, (_, i) => Array.from({ length: b / 4 }, (_, q) => `  var acc${i}_${q} = vec4<f32>(0.0);`).join('\n')).join('\n');

/** `fma`: each product fused into its sum (the 64-wide tiling); `add`: multiplied, then added (the default). */
export function stagedBlockStep(b: number, sum: 'fma' | 'add'): string {
  const rows = Array.from({ length: b }, (_, i) => i);
  const quads = Array.from({ length: b / 4 }, (_, q) => q);
  const w = quads.map((q) => `      let wv${q} = vec4<f32>(${[0, 1, 2, 3].map((j) => `tw[lid.x * ${b}u + ${4 * q + j}u][kk]`).join(', ')});`);
  const a = rows.map((i) => `      let av${i} = ta[lid.y * ${b}u + ${i}u][kk];`);
  const sums = rows.flatMap((i) => quads.map((q) => (sum === 'fma' ? `      acc${i}_${q} = fma(vec4<f32>(av${i}), wv${q}, acc${i}_${q});` : `      acc${i}_${q} += av${i} * wv${q};`)));
  return [...w, ...a, ...sums].join('\n');
}

export function stagedBlockStore(b: number, epilogue: (sum: string, indent: string) => string): string {
  const out: string[] = [];
  for (let i = 0; i < b; i++) {
    for (let j = 0; j < b; j++) {
      out.push(`  { let row = row0 + lid.y * ${b}u + ${i}u; let col = col0 + lid.x * ${b}u + ${j}u;
    if (row < M && col < N) {
      ${epilogue(`acc${i}_${Math.floor(j / 4)}[${j % 4}]`, '      ')}
    }
  }`);
    }
  }
  return out.join('\n');
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
${STAGED_ACC_DECL(4)}
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
${stagedBlockStep(4, 'add')}
    }
    workgroupBarrier();
  }
${stagedBlockStore(4, m.epilogue)}
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
 * The two forms of the inference norm kernel: a workgroup of 64 a row (`normKernel`, the default: wide rows on a GPU
 * split across lanes), or one invocation a row (`normRowsKernel` of norm-training.ts, no barriers: faster where a
 * barrier costs more than a row's arithmetic, as on a CPU-backed adapter). The tuner measures both per adapter.
 */
export const NORM_FORMS = ['workgroup', 'rows'] as const;
export type NormForm = (typeof NORM_FORMS)[number];
export const DEFAULT_NORM_FORM: NormForm = 'workgroup';
export const isNormForm = (x: unknown): x is NormForm => (NORM_FORMS as readonly unknown[]).includes(x);

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
