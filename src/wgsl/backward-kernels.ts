// WGSL for training: the forward ops the unfused graph needs beside kernels.ts (a position table, a broadcasting
// add), the loss, and the backward of every op other than attention (norms: norm-training.ts).
//
// Determinism rule: every output element is written by exactly one invocation, which sums its terms in a fixed
// order — the order of the CPU reference (src/runtime/cpu-vjp.ts): rows in increasing order, batch rows in order,
// positions in order. There are no float atomics and no tree reductions whose shape depends on the device, so the
// same inputs give the same bits on every run. An embedding row read by several positions receives their
// gradients in position order because its invocation walks all positions and adds where the id matches.

import type { SinusoidalLayout } from '../check/model.ts';
import { actFn, ERF_OF_X_OVER_SQRT2, type Epilogue, type NormType } from './kernels.ts';
import { POSITION_ANGLES, ROPE_UNIFORMS, ropePairWgsl, sinusoidWgsl, type RopeStyle } from './positions.ts';
import { declareLinearKernel, type Kernel, type KernelBinding, type UniformField } from './kernel.ts';
import { gradMatmulKernel, type GradMatmulOptions } from './matmul-grad.ts';
import { normGradInputKernel, normGradParamKernel, normRowsKernel } from './norm-training.ts';

type U = { u: Record<string, number> };
const u32 = (...names: string[]): UniformField[] => names.map((name) => ({ name, type: 'u32' }));
const f32 = (name: string): UniformField => ({ name, type: 'f32' });
const read = (role: string, extent: (c: U) => number, element: KernelBinding['element'] = 'f32'): KernelBinding => ({ role, access: 'read', element, extent });
const write = (role: string, extent: (c: U) => number): KernelBinding => ({ role, access: 'read_write', element: 'f32', extent });
/** One invocation per output element (or row, or column). */
const kernel = declareLinearKernel;

/** The [T, D] position table of the unfused graph: sinusoidal (sin on even columns, cos on odd) or learned rows. */
export function positionTableKernel(kind: 'sinusoidal' | 'learned', layout: SinusoidalLayout = 'interleaved'): Kernel {
  const td = ({ u }: U) => u.T * u.D;
  if (kind === 'learned') {
    return kernel('positions_learned', u32('T', 'D', 'offset'), [read('pos_table', ({ u }: U) => (u.T + u.offset) * u.D), write('out', td)], 'u.T * u.D', '  out[i] = pos_table[i + u.offset * u.D];');
  }
  const body = `  let t = i / u.D; let d = i % u.D; let D = u.D;
  ${sinusoidWgsl(layout)}
  out[i] = pos;`;
  return kernel(`positions_sinusoidal${layout === 'concatenated' ? '_concatenated' : ''}`, u32('T', 'D', 'rate_lo', 'rate_hi'), [write('out', td)], 'u.T * u.D', body, `\n${POSITION_ANGLES}`);
}

/** `out[i] = a[i] + b[i % nb]`: a [T, D] position table added to every batch row. */
export function broadcastAddKernel(): Kernel {
  const bindings = [read('a', ({ u }) => u.count), read('b', ({ u }) => u.nb), write('out', ({ u }) => u.count)];
  return kernel('add_broadcast', u32('count', 'nb'), bindings, 'u.count', '  out[i] = a[i] + b[i % u.nb];');
}

/**
 * `out[j] = Σ_k x[k · n + j]` over k = 0, 1, … in order, for j < n: column sums (a bias's gradient over rows, a
 * broadcast table's over batch rows); with n = count it is a copy.
 */
export function columnSumKernel(): Kernel {
  const bindings = [read('x', ({ u }) => u.count), write('out', ({ u }) => u.n)];
  const body = `  var acc = 0.0;
  for (var at = i; at < u.count; at += u.n) { acc += x[at]; }
  out[i] = acc;`;
  return kernel('column_sum', u32('count', 'n'), bindings, 'u.n', body);
}

/** d/dx of each activation as the forward pass computes it (GELU's tanh argument clamped at ±15, flat outside). */
const ACT_GRAD: Record<Epilogue, string> = {
  none: 'return 1.0;',
  relu: 'return select(0.0, 1.0, x > 0.0);',
  gelu: `let raw = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  let t = tanh(clamp(raw, -15.0, 15.0));
  let dc = select(0.0, 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * x * x), abs(raw) < 15.0);
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dc;`,
  gelu_erf: `${ERF_OF_X_OVER_SQRT2}
  return 0.5 * (1.0 + e) + x * 0.3989422804014327 * exp(-0.5 * x * x);`,
  silu: 'let s = 1.0 / (1.0 + exp(-x)); return s * (1.0 + x * (1.0 - s));',
};

/** `dx[i] = act'(x[i]) · dy[i]`. */
export function activationGradKernel(fn: Epilogue): Kernel {
  const count = ({ u }: U) => u.count;
  const prelude = `\nfn act_grad(x: f32) -> f32 {\n  ${ACT_GRAD[fn]}\n}`;
  return kernel(`act_grad_${fn}`, u32('count'), [read('x', count), read('dy', count), write('dx', count)], 'u.count', '  dx[i] = act_grad(x[i]) * dy[i];', prelude);
}

/** SwiGLU `silu(gate) · up`: the gradient with respect to the gate (wrt 0) or to up (wrt 1). */
export function gatedGradKernel(gate: 'silu' | 'gelu', wrt: 0 | 1): Kernel {
  const count = ({ u }: U) => u.count;
  const bindings = [read('gate', count), read('up', count), read('dy', count), write('dx', count)];
  const body = wrt === 0 ? '  dx[i] = act_grad(gate[i]) * up[i] * dy[i];' : '  dx[i] = act(gate[i]) * dy[i];';
  const prelude = wrt === 0 ? `\nfn act_grad(x: f32) -> f32 {\n  ${ACT_GRAD[gate]}\n}` : `\n${actFn(gate)}`;
  const family = gate === 'silu' ? 'swiglu' : 'geglu';
  return kernel(`${family}_grad_${wrt === 0 ? 'gate' : 'up'}`, u32('count'), bindings, 'u.count', body, prelude);
}

/**
 * The token table's gradient: one invocation per table row v walks every position r in order and, where id(r) = v,
 * adds dy[r, ·] · scale into the row (an id out of range reads, and so receives into, row 0 as the forward pass
 * does). The row is this invocation's alone, so each element sums its positions in order from zero, as the CPU
 * reference does; the ids are read once per table row, not once per element of it.
 */
export function gatherGradKernel(): Kernel {
  const bindings = [read('ids', ({ u }) => u.rows, 'i32'), read('dy', ({ u }) => u.rows * u.D), write('dtable', ({ u }) => u.vocab * u.D)];
  const body = `  let D = u.D; let out = i * D;
  for (var d = 0u; d < D; d++) { dtable[out + d] = 0.0; }
  for (var r = 0u; r < u.rows; r++) {
    var id = ids[r];
    if (id < 0 || u32(id) >= u.vocab) { id = 0; }
    if (u32(id) == i) {
      for (var d = 0u; d < D; d++) { dtable[out + d] += dy[r * D + d] * u.scale; }
    }
  }`;
  return kernel('gather_grad', [...u32('rows', 'D', 'vocab'), f32('scale')], bindings, 'u.vocab', body);
}

/**
 * A learned position table's gradient: rows offset … offset + T − 1 take dy's rows; the rows before the offset and past
 * the sequence are zero.
 */
export function positionTableGradKernel(): Kernel {
  const bindings = [read('dy', ({ u }) => u.T * u.D), write('dtable', ({ u }) => u.table_rows * u.D)];
  const body = `  let first = u.offset * u.D;
  let inside = i >= first && i - first < u.T * u.D;
  dtable[i] = select(0.0, dy[min(i - min(i, first), u.T * u.D - 1u)], inside);`;
  return kernel('positions_grad', u32('T', 'D', 'table_rows', 'offset'), bindings, 'u.table_rows * u.D', body);
}

/**
 * A strided product for the matmul backward: `out[i, j] = Σ_p a[i·a_row + p·a_inner] · b[j·b_col + p·b_inner]`, p in
 * order. dX = dY · W reads W down its columns; dW = dYᵀ · X reads both down theirs: the strides say which.
 */
export function stridedMatmulKernel(): Kernel {
  const span = (n: number, s: number, inner: number, si: number) => (n - 1) * s + (inner - 1) * si + 1;
  const bindings = [
    read('a', ({ u }) => span(u.rows, u.a_row, u.inner, u.a_inner)),
    read('b', ({ u }) => span(u.cols, u.b_col, u.inner, u.b_inner)),
    write('out', ({ u }) => u.rows * u.cols),
  ];
  const body = `  let r = i / u.cols; let c = i % u.cols;
  var acc = 0.0;
  for (var p = 0u; p < u.inner; p++) { acc += a[r * u.a_row + p * u.a_inner] * b[c * u.b_col + p * u.b_inner]; }
  out[i] = acc;`;
  return kernel('matmul_strided', u32('rows', 'cols', 'inner', 'a_row', 'a_inner', 'b_col', 'b_inner'), bindings, 'u.rows * u.cols', body);
}

/**
 * The strided product register-blocked: each invocation an R×4 block of outputs, so one load of a feeds four sums and
 * one of b feeds R. Same uniforms and bindings as `matmul_strided`, and each output still sums p = 0, 1, … in order,
 * so it computes the same sums. Rows and columns past the edge are clamped for loading (no branch in the loop), not stored.
 * dX = dY · W then reads four neighbouring W columns a row at a time; dW = dYᵀ · X reads R neighbouring dY columns.
 */
export function stridedBlockedMatmulKernel(R: 4 | 8): Kernel {
  const base = stridedMatmulKernel();
  const count = `((u.rows + ${R - 1}u) / ${R}u) * ((u.cols + 3u) / 4u)`;
  const body = `  let blocks = (u.cols + 3u) / 4u;
  let r0 = (i / blocks) * ${R}u; let c0 = (i % blocks) * 4u;
  var ar: array<u32, ${R}>;
  for (var x = 0u; x < ${R}u; x++) { ar[x] = min(r0 + x, u.rows - 1u) * u.a_row; }
  let b0 = min(c0, u.cols - 1u) * u.b_col; let b1 = min(c0 + 1u, u.cols - 1u) * u.b_col;
  let b2 = min(c0 + 2u, u.cols - 1u) * u.b_col; let b3 = min(c0 + 3u, u.cols - 1u) * u.b_col;
  var acc: array<vec4<f32>, ${R}>;
  for (var p = 0u; p < u.inner; p++) {
    let pb = p * u.b_inner; let pa = p * u.a_inner;
    let bv = vec4<f32>(b[b0 + pb], b[b1 + pb], b[b2 + pb], b[b3 + pb]);
    for (var x = 0u; x < ${R}u; x++) { acc[x] += a[ar[x] + pa] * bv; }
  }
  for (var x = 0u; x < ${R}u; x++) {
    let r = r0 + x;
    if (r >= u.rows) { break; }
    for (var y = 0u; y < 4u; y++) {
      if (c0 + y < u.cols) { out[r * u.cols + c0 + y] = acc[x][y]; }
    }
  }`;
  return kernel(`matmul_strided_reg${R}x4`, u32('rows', 'cols', 'inner', 'a_row', 'a_inner', 'b_col', 'b_inner'), base.bindings, count, body);
}

/** Per row of logits: the log-sum-exp, and the row's loss (lse − logit of the label), 0 where the label is −1. */
export function crossEntropyRowsKernel(): Kernel {
  const bindings = [read('logits', ({ u }) => u.rows * u.V), read('labels', ({ u }) => u.rows, 'i32'), write('lse', ({ u }) => u.rows), write('row_loss', ({ u }) => u.rows)];
  const body = `  let V = u.V; let base = i * V;
  var mx = logits[base];
  for (var j = 1u; j < V; j++) { mx = max(mx, logits[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < V; j++) { s += exp(logits[base + j] - mx); }
  let l = log(s) + mx;
  lse[i] = l;
  let label = labels[i];
  row_loss[i] = select(0.0, l - logits[base + u32(max(label, 0))], label >= 0 && u32(label) < V);`;
  return kernel('xent_rows', u32('rows', 'V'), bindings, 'u.rows', body);
}

/** One invocation: the counted positions and the mean loss over them, rows summed in order (0 when none counts). */
export function crossEntropyTotalKernel(): Kernel {
  const bindings = [read('labels', ({ u }) => u.rows, 'i32'), read('row_loss', ({ u }) => u.rows), write('loss', () => 1), write('count', () => 1)];
  const body = `  var total = 0.0; var n = 0u;
  for (var r = 0u; r < u.rows; r++) { if (labels[r] >= 0) { total += row_loss[r]; n++; } }
  count[0] = f32(n);
  loss[0] = select(0.0, total / f32(n), n > 0u);`;
  return kernel('xent_total', u32('rows'), bindings, '1u', body);
}

/** The loss's gradient with respect to the logits: (softmax − one-hot) / counted on rows with a label, 0 elsewhere. */
export function crossEntropyGradKernel(): Kernel {
  const rv = ({ u }: U) => u.rows * u.V;
  const bindings = [read('logits', rv), read('labels', ({ u }) => u.rows, 'i32'), read('lse', ({ u }) => u.rows), read('count', () => 1), write('dlogits', rv)];
  const body = `  let r = i / u.V; let j = i % u.V;
  let label = labels[r];
  if (label < 0 || count[0] == 0.0) { dlogits[i] = 0.0; return; }
  let hot = select(0.0, 1.0, u32(label) == j);
  dlogits[i] = (exp(logits[i] - lse[r]) - hot) / count[0];`;
  return kernel('xent_grad', u32('rows', 'V'), bindings, 'u.rows * u.V', body);
}

/**
 * Rotary positions undone, in place on `[rows, heads * hd]`: each pair turns back by the angle the forward pass
 * (kernels.ts `ropeKernel`, same uniforms) turned it by. The gradient of a rotation is its transpose, so this maps
 * the gradient with respect to rotated queries or keys to the gradient with respect to the projections.
 */
export function ropeInverseKernel(style: RopeStyle): Kernel {
  const bindings = [{ role: 'x', access: 'read_write', element: 'f32', extent: ({ u }: U) => u.rows * u.heads * u.hd } satisfies KernelBinding];
  const body = `${ropePairWgsl(style)}
  let x0 = x[i0]; let x1 = x[i1];
  x[i0] = x0 * sc.y + x1 * sc.x;
  x[i1] = x1 * sc.y - x0 * sc.x;`;
  return kernel(style === 'pairs' ? 'rope_inverse' : 'rope_inverse_halves', [...ROPE_UNIFORMS], bindings, 'u.rows * u.heads * (u.rd / 2u)', body, `\n${POSITION_ANGLES}`);
}

/** Which training kernel a step runs, with its options (the program's `StepKernel` carries this). */
export type TrainingKernel =
  | { name: 'positions'; kind: 'sinusoidal' | 'learned'; layout: SinusoidalLayout }
  | { name: 'add_broadcast' }
  | { name: 'column_sum' }
  | { name: 'act_grad'; fn: Epilogue }
  | { name: 'gated_grad'; gate: 'silu' | 'gelu'; wrt: 0 | 1 }
  | { name: 'gather_grad' }
  | { name: 'positions_grad' }
  | { name: 'norm_rows'; type: NormType; bias: boolean }
  | { name: 'norm_grad_x'; type: NormType }
  | { name: 'norm_grad_param'; type: NormType; which: 'gamma' | 'beta' }
  | { name: 'matmul_strided'; block?: 4 | 8 }
  | ({ name: 'matmul_grad' } & GradMatmulOptions)
  | { name: 'xent_rows' }
  | { name: 'xent_total' }
  | { name: 'xent_grad' }
  | { name: 'rope_inverse'; style: RopeStyle };

export function trainingKernel(k: TrainingKernel): Kernel {
  switch (k.name) {
    case 'positions':
      return positionTableKernel(k.kind, k.layout);
    case 'add_broadcast':
      return broadcastAddKernel();
    case 'column_sum':
      return columnSumKernel();
    case 'act_grad':
      return activationGradKernel(k.fn);
    case 'gated_grad':
      return gatedGradKernel(k.gate, k.wrt);
    case 'gather_grad':
      return gatherGradKernel();
    case 'positions_grad':
      return positionTableGradKernel();
    case 'norm_rows':
      return normRowsKernel(k.type, k.bias);
    case 'norm_grad_x':
      return normGradInputKernel(k.type);
    case 'norm_grad_param':
      return normGradParamKernel(k.type, k.which);
    case 'matmul_strided':
      return k.block ? stridedBlockedMatmulKernel(k.block) : stridedMatmulKernel();
    case 'matmul_grad':
      return gradMatmulKernel(k);
    case 'xent_rows':
      return crossEntropyRowsKernel();
    case 'xent_total':
      return crossEntropyTotalKernel();
    case 'xent_grad':
      return crossEntropyGradKernel();
    case 'rope_inverse':
      return ropeInverseKernel(k.style);
  }
}
