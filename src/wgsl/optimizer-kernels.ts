// WGSL for the optimizer step of `mdl train` on the device: gradient accumulation over micro-batches, the global
// gradient norm for clipping, and AdamW as PyTorch defines it (torch.optim.AdamW, decoupled weight decay, bias
// correction; the CPU reference is src/runtime/adamw.ts).
//
// Determinism: the global norm is a fixed-order reduction in two levels, with no atomics. Each invocation of
// `grad_sq_partials` sums the squares of one chunk of GRAD_NORM_CHUNK consecutive elements in index order; one
// invocation of `clip_factor` then sums every chunk's partial in order (parameters in declaration order). The
// result depends on the parameter sizes only, never on the device's scheduling, so a step repeats bit for bit.

import { declareLinearKernel, type Kernel, type KernelBinding, type UniformField } from './kernel.ts';

/** Elements whose squares one invocation sums, in order, for the global gradient norm. */
export const GRAD_NORM_CHUNK = 256;

type U = { u: Record<string, number> };
const u32 = (...names: string[]): UniformField[] => names.map((name) => ({ name, type: 'u32' }));
const f32 = (...names: string[]): UniformField[] => names.map((name) => ({ name, type: 'f32' }));
const read = (role: string, extent: (c: U) => number): KernelBinding => ({ role, access: 'read', element: 'f32', extent });
const write = (role: string, extent: (c: U) => number): KernelBinding => ({ role, access: 'read_write', element: 'f32', extent });

/** One invocation per element (or chunk). */
const kernel = declareLinearKernel;

/**
 * `sum[i] = weight · grad[i]` on a step's first micro-batch (`keep` = 0: whatever the last step left is not read),
 * `sum[i] += weight · grad[i]` on the others (`keep` = 1): each micro-batch's mean gradient weighted by its counted
 * positions, so the step sees the mean over all of them.
 */
export function gradAccumulateKernel(): Kernel {
  const n = ({ u }: U) => u.count;
  const body = `  let g = u.weight * grad[i];
  if (u.keep == 0.0) { sum[i] = g; } else { sum[i] = sum[i] + g; }`;
  return kernel('grad_accumulate', [...u32('count'), ...f32('weight', 'keep')], [read('grad', n), write('sum', n)], 'u.count', body);
}

/** `partials[offset + c] = Σ grad[j]²` over chunk c's elements j in order: one parameter's share of the norm. */
export function gradSquarePartialsKernel(): Kernel {
  const chunks = ({ u }: U) => Math.ceil(u.count / GRAD_NORM_CHUNK);
  const body = `  let start = i * ${GRAD_NORM_CHUNK}u;
  let end = min(start + ${GRAD_NORM_CHUNK}u, u.count);
  var acc = 0.0;
  for (var j = start; j < end; j++) { let g = grad[j]; acc += g * g; }
  partials[u.offset + i] = acc;`;
  return kernel('grad_sq_partials', u32('count', 'offset'), [read('grad', ({ u }) => u.count), write('partials', (c) => c.u.offset + chunks(c))], `(u.count + ${GRAD_NORM_CHUNK - 1}u) / ${GRAD_NORM_CHUNK}u`, body);
}

/**
 * One invocation: the global norm of the mean gradient (`grad_scale` turns the accumulated sums into the mean) from
 * the partials summed in order, and the factor every gradient is multiplied by before AdamW sees it:
 * `grad_scale · max_norm / (norm + 1e-6)` when clipping applies (`max_norm` > 0 and the norm above it), else
 * `grad_scale`. `clip` = [norm, factor].
 */
export function clipFactorKernel(): Kernel {
  const body = `  var total = 0.0;
  for (var j = 0u; j < u.n; j++) { total += partials[j]; }
  let norm = u.grad_scale * sqrt(total);
  var factor = u.grad_scale;
  if (u.max_norm > 0.0 && norm > u.max_norm) { factor = u.grad_scale * (u.max_norm / (norm + 1e-6)); }
  clip[0] = norm;
  clip[1] = factor;`;
  return kernel('clip_factor', [...u32('n'), ...f32('grad_scale', 'max_norm')], [read('partials', ({ u }) => Math.max(1, u.n)), write('clip', () => 2)], '1u', body);
}

/**
 * One AdamW step of one parameter, at step t with bias corrections `bias1` = 1 − β1^t and `bias2` = 1 − β2^t
 * (worked out by the host, like the learning rate, and given as uniforms):
 *   g = grad · clip[1];  m ← β1·m + (1 − β1)·g;  v ← β2·v + (1 − β2)·g²
 *   p ← p − lr·λ·p (only where `decayed` = 1);  p ← p − lr·(m / bias1) / (√(v / bias2) + ε)
 */
export function adamwKernel(): Kernel {
  const n = ({ u }: U) => u.count;
  const body = `  let g = grad[i] * clip[1];
  let mi = u.beta1 * m[i] + (1.0 - u.beta1) * g;
  let vi = u.beta2 * v[i] + (1.0 - u.beta2) * g * g;
  m[i] = mi;
  v[i] = vi;
  var p = param[i];
  if (u.decayed == 1u) { p = p - u.lr * u.weight_decay * p; }
  param[i] = p - (u.lr * (mi / u.bias1)) / (sqrt(vi / u.bias2) + u.eps);`;
  const uniforms = [...u32('count', 'decayed'), ...f32('lr', 'beta1', 'beta2', 'eps', 'weight_decay', 'bias1', 'bias2')];
  return kernel('adamw', uniforms, [read('grad', n), read('clip', () => 2), write('param', n), write('m', n), write('v', n)], 'u.count', body);
}

export type OptimizerKernel = { name: 'grad_accumulate' } | { name: 'grad_sq_partials' } | { name: 'clip_factor' } | { name: 'adamw' };

export function optimizerKernel(k: OptimizerKernel): Kernel {
  switch (k.name) {
    case 'grad_accumulate':
      return gradAccumulateKernel();
    case 'grad_sq_partials':
      return gradSquarePartialsKernel();
    case 'clip_factor':
      return clipFactorKernel();
    case 'adamw':
      return adamwKernel();
  }
}
