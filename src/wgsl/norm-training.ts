// Layer and RMS norm one invocation a row: the training program's forward pass and both backward kernels, sharing
// each row's statistics through one small buffer (`stats`: the row's mean, 0 for an RMS norm, and
// 1 / sqrt(variance + eps), two values a row) instead of recomputing them. The forward kernel writes them as it
// normalizes; the input's gradient reads them row by row, and the scale's gradient — one invocation per column walking
// every row — reads them instead of recomputing the row's mean and variance once per column (D times the work of the
// norm itself).
//
// The forward kernel is one invocation per row with sums in index order, the same arithmetic as the CPU reference,
// where the inference kernel's default form (kernels.ts `normKernel`) is a workgroup per row with a tree reduction: on
// a CPU-backed adapter (SwiftShader) each of its barriers costs more than the row's arithmetic. The inference programs
// run this same forward kernel without the `stats` binding where the tuner measured it faster (ScheduleOptions
// `normForm`): nothing there reads the statistics, and leaving the binding out needs no buffer to write them to. Every
// output is written by one invocation summing in a fixed order (the determinism rule of backward-kernels.ts).

import { normKernel, type NormForm, type NormType } from './kernels.ts';
import { declareLinearKernel, type Kernel, type KernelBinding, type UniformField } from './kernel.ts';

type U = { u: Record<string, number> };
const UNIFORMS: UniformField[] = [
  { name: 'rows', type: 'u32' },
  { name: 'D', type: 'u32' },
  { name: 'eps', type: 'f32' },
];
const read = (role: string, extent: (c: U) => number): KernelBinding => ({ role, access: 'read', element: 'f32', extent });
const write = (role: string, extent: (c: U) => number): KernelBinding => ({ role, access: 'read_write', element: 'f32', extent });
const rd = ({ u }: U) => u.rows * u.D;
const stats = ({ u }: U) => u.rows * 2;

/** Scalars a row's statistics take in the `stats` buffer. */
export const NORM_STATS_PER_ROW = 2;

/** One invocation per row (`count` rows) or column. */
function kernel(family: string, bindings: KernelBinding[], count: string, body: string): Kernel {
  return declareLinearKernel(family, UNIFORMS, bindings, count, body);
}

/**
 * out = (x − mean) · inv · γ (+ β), one row an invocation. With `stats` (the training program) it writes the row's
 * mean and inv to `stats` too; without (inference, family `norm_<type>_rows`) it has no such binding.
 */
export function normRowsKernel(type: NormType, bias: boolean, withStats = true): Kernel {
  const layer = type === 'layer';
  const beta = layer && bias;
  const bindings = [read('x', rd), read('gamma', ({ u }) => u.D), ...(beta ? [read('beta', ({ u }: U) => u.D)] : []), write('out', rd), ...(withStats ? [write('stats', stats)] : [])];
  const body = `  let D = u.D; let base = i * D;
  var mean = 0.0;
  ${layer ? 'for (var d = 0u; d < D; d++) { mean += x[base + d]; }\n  mean /= f32(D);' : '// RMS norm does not centre the row.'}
  var sq = 0.0;
  for (var d = 0u; d < D; d++) { let c = x[base + d] - mean; sq += c * c; }
  let inv = inverseSqrt(sq / f32(D) + u.eps);
  for (var d = 0u; d < D; d++) { out[base + d] = (x[base + d] - mean) * inv * gamma[d]${beta ? ' + beta[d]' : ''}; }${
    withStats
      ? `
  stats[2u * i] = mean;
  stats[2u * i + 1u] = inv;`
      : ''
  }`;
  const variant = `${type}${layer && !beta ? '_unbiased' : ''}`;
  return kernel(withStats ? `norm_rows_${variant}` : `norm_${variant}_rows`, bindings, 'u.rows', body);
}

/**
 * The inference norm kernel of a form (kernels.ts NORM_FORMS), as a program's norm step and the tuner generate it: a
 * workgroup a row, or this file's forward kernel without row statistics, which nothing after an inference norm reads.
 */
export function inferenceNormKernel(form: NormForm, type: NormType, bias: boolean): Kernel {
  return form === 'rows' ? normRowsKernel(type, bias, false) : normKernel(type, bias);
}

/** The input's gradient, one invocation per row: inv · (g − mean(g) − x̂ · mean(g x̂)), g = dy · γ. */
export function normGradInputKernel(type: NormType): Kernel {
  const layer = type === 'layer';
  const bindings = [read('x', rd), read('gamma', ({ u }) => u.D), read('dy', rd), read('stats', stats), write('dx', rd)];
  const body = `  let D = u.D; let base = i * D;
  let mean = stats[2u * i]; let inv = stats[2u * i + 1u];
  var sum_g = 0.0; var sum_gx = 0.0;
  for (var d = 0u; d < D; d++) {
    let g = dy[base + d] * gamma[d];
    sum_g += g;
    sum_gx += g * (x[base + d] - mean) * inv;
  }
  for (var d = 0u; d < D; d++) {
    let g = dy[base + d] * gamma[d];
    let xhat = (x[base + d] - mean) * inv;
    dx[base + d] = inv * (g - ${layer ? 'sum_g / f32(D)' : '0.0'} - xhat * sum_gx / f32(D));
  }`;
  return kernel(`norm_grad_x_${type}`, bindings, 'u.rows', body);
}

/** The scale's (Σ_rows dy · x̂) or the bias's (Σ_rows dy) gradient, one invocation per column, rows in order. */
export function normGradParamKernel(type: NormType, which: 'gamma' | 'beta'): Kernel {
  const bindings = which === 'gamma' ? [read('x', rd), read('dy', rd), read('stats', stats), write('dparam', ({ u }) => u.D)] : [read('dy', rd), write('dparam', ({ u }) => u.D)];
  const term = which === 'gamma' ? '{ let at = r * u.D + i; acc += dy[at] * (x[at] - stats[2u * r]) * stats[2u * r + 1u]; }' : '{ acc += dy[r * u.D + i]; }';
  const body = `  var acc = 0.0;
  for (var r = 0u; r < u.rows; r++) ${term}
  dparam[i] = acc;`;
  return kernel(`norm_grad_${which}_${type}`, bindings, 'u.D', body);
}
