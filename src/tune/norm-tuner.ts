// Measures the two forms of the inference norm kernel on the current device — a workgroup a row (the default) and an
// invocation a row — on a program's own norm shapes, and picks the faster over all of them, weighted by how often each
// occurs. Timed round by round like the matmul tilings (matmul-tuner.ts), every form once per round, medians counting;
// before its time counts, each form's output is compared with the norm computed in f64 on the host, on rows that carry
// a large offset (where a one-pass variance would cancel): a form that computes something else is rejected.

import type { Program } from '../lower/program.ts';
import { formula } from '../lower/formula.ts';
import { bindKernel, kernelPipeline } from '../runtime/kernel-binding.ts';
import type { GpuContext } from '../runtime/device.ts';
import { outputBuffer, readBack, timedSubmit, uploadBuffer } from '../runtime/gpu-buffers.ts';
import { packUniforms, type Kernel } from '../wgsl/kernel.ts';
import { DEFAULT_NORM_FORM, NORM_FORMS, type NormForm, type NormType } from '../wgsl/kernels.ts';
import { inferenceNormKernel } from '../wgsl/norm-training.ts';
import { seededValues } from './matmul-tuner.ts';
import { sampleRounds, settleCandidates } from './measure.ts';

/** `rows` rows of width D through one norm of `type` (with β when `bias`), as a program's norm step runs it. */
export interface NormProblem {
  rows: number;
  D: number;
  type: NormType;
  bias: boolean;
  eps: number;
  /** How many of the program's norms have this shape (default 1). */
  count?: number;
}

export const normProblemLabel = (p: NormProblem) => `${p.type}${p.type === 'layer' && !p.bias ? ' (no β)' : ''} ${p.rows}×${p.D}${(p.count ?? 1) > 1 ? ` (×${p.count})` : ''}`;

/** The distinct norms (type, β, width) of a program with a constant width, at `rows` rows, in program order. */
export function normProblemsOf(program: Program, rows: number): NormProblem[] {
  const seen = new Map<string, NormProblem>();
  for (const step of program.steps) {
    if (step.kernel.kind !== 'norm') continue;
    const D = step.uniforms.D;
    const eps = step.uniforms.eps;
    const width = 'f32' in D || 'scalar' in D ? undefined : formula.asConstant(D);
    if (width === undefined || !('f32' in eps)) continue;
    const key = `${step.kernel.type} ${step.kernel.bias} ${width}`;
    const hit = seen.get(key);
    if (hit) hit.count = (hit.count ?? 1) + 1;
    else seen.set(key, { rows, D: width, type: step.kernel.type, bias: step.kernel.bias, eps: eps.f32, count: 1 });
  }
  return [...seen.values()];
}

/** The kernel of a form, exactly as a program's norm step of that form generates it (step-kernels.ts). */
export const normKernelOf = (form: NormForm, p: Pick<NormProblem, 'type' | 'bias'>): Kernel => inferenceNormKernel(form, p.type, p.bias);

/** The norm in f64: the oracle both forms are held to. */
export function referenceNorm(x: Float32Array, gamma: Float32Array, beta: Float32Array | undefined, p: NormProblem): Float32Array {
  const out = new Float32Array(p.rows * p.D);
  for (let r = 0; r < p.rows; r++) {
    const row = x.subarray(r * p.D, (r + 1) * p.D);
    const mean = p.type === 'layer' ? row.reduce((a, b) => a + b, 0) / p.D : 0;
    const inv = 1 / Math.sqrt(row.reduce((a, v) => a + (v - mean) ** 2, 0) / p.D + p.eps);
    for (let d = 0; d < p.D; d++) out[r * p.D + d] = (row[d] - mean) * inv * gamma[d] + (beta ? beta[d] : 0);
  }
  return out;
}

interface PreparedNorm {
  time(): Promise<number>;
  output(): Promise<Float32Array>;
  destroy(): void;
}

/** `kernel` dispatched on the grid of `form`'s steps. */
async function prepareNorm(gpu: GpuContext, kernel: Kernel, form: NormForm, p: NormProblem, x: Float32Array, gamma: Float32Array, beta: Float32Array | undefined): Promise<PreparedNorm> {
  const pipeline = await kernelPipeline(gpu, kernel);
  const buffers: Record<string, GPUBuffer> = {
    x: uploadBuffer(gpu, 'norm x', x),
    gamma: uploadBuffer(gpu, 'norm gamma', gamma),
    ...(beta ? { beta: uploadBuffer(gpu, 'norm beta', beta) } : {}),
    out: outputBuffer(gpu, 'norm out', p.rows * p.D * 4),
  };
  const uniforms = uploadBuffer(gpu, 'norm uniforms', packUniforms(kernel.uniforms, { rows: p.rows, D: p.D, eps: p.eps }), 'uniform');
  const group = bindKernel(gpu, kernel, pipeline, uniforms, (role) => buffers[role]);
  // The schedule's grids: a workgroup a row, or an invocation a row in workgroups of 64 (folded past 65535 groups).
  const groups = form === 'rows' ? Math.ceil(p.rows / 64) : p.rows;
  const grid = groups > 65535 ? [65535, Math.ceil(groups / 65535)] : [groups, 1];
  const encode = (count: number) => {
    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    for (let i = 0; i < count; i++) pass.dispatchWorkgroups(grid[0], grid[1], 1);
    pass.end();
    return encoder;
  };
  // A norm takes a few ms or less: a submission's own latency would drown it, so a sample is several dispatches in
  // one submission (enough for about 60 ms), per dispatch. The count is set by the first, untimed run.
  let count = 1;
  return {
    time: () => timedSubmit(gpu, encode(count), count),
    output: async () => {
      const ms = await timedSubmit(gpu, encode(1), 1);
      count = Math.min(20, Math.max(1, Math.ceil(60 / Math.max(ms, 0.5))));
      return new Float32Array(await readBack(gpu, buffers.out, p.rows * p.D * 4));
    },
    destroy: () => [...Object.values(buffers), uniforms].forEach((b) => b.destroy()),
  };
}

export interface NormVariantResult {
  form: NormForm;
  /** Median milliseconds per problem, in the order given, and their sum weighted by the problems' counts. */
  ms?: number[];
  totalMs?: number;
  /** Largest difference from the f64 norm, over the problems. */
  maxErr?: number;
  rejected?: string;
}

export interface NormTuneOutcome {
  best: NormVariantResult;
  fallback: NormVariantResult;
  results: NormVariantResult[];
}

export interface NormTuneOptions {
  /** Rounds (every form timed once per round); default 3, more (up to 5×) while a form's samples sum to under `budgetMs` (default 200). */
  rounds?: number;
  budgetMs?: number;
  /** A form must beat the default by this factor to be chosen (default 1.05). */
  minGain?: number;
  /** The kernel a form is timed with (default: the program's, `normKernelOf`); a test passes a wrong one to see it rejected. */
  kernelOf?: (form: NormForm, p: NormProblem) => Kernel;
}

/** Times both forms on every problem (round by round) and picks the faster over all of them. */
export async function tuneNorm(gpu: GpuContext, problems: readonly NormProblem[], options: NormTuneOptions = {}): Promise<NormTuneOutcome> {
  const forms = [DEFAULT_NORM_FORM, ...NORM_FORMS.filter((f) => f !== DEFAULT_NORM_FORM)];
  const rounds = Math.max(1, options.rounds ?? 3);
  const results: NormVariantResult[] = forms.map((form) => ({ form }));
  const samples = forms.map(() => problems.map((): number[] => []));
  for (const [pi, p] of problems.entries()) {
    // Rows offset by 30 with a spread of 1, the case the two-pass variance is there for (a residual stream's offset).
    const x = seededValues(p.rows * p.D, 31 + pi).map((v) => v + 30);
    const gamma = seededValues(p.D, 32 + pi).map((v) => v + 1);
    const beta = p.type === 'layer' && p.bias ? seededValues(p.D, 33 + pi) : undefined;
    const want = referenceNorm(x, gamma, beta, p);
    const runs: (PreparedNorm | undefined)[] = [];
    try {
      for (const [fi, form] of forms.entries()) {
        const r = results[fi];
        if (r.rejected) {
          runs.push(undefined);
          continue;
        }
        try {
          const run = await prepareNorm(gpu, (options.kernelOf ?? normKernelOf)(form, p), form, p, x, gamma, beta);
          runs.push(run);
          const got = await run.output();
          let err = 0;
          for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
          r.maxErr = Math.max(r.maxErr ?? 0, Number.isNaN(err) ? Infinity : err);
          // Normalized values of order 1 (times γ < 2): f32 sums of the offset rows in index order stay well below this
          // up to widths of thousands, while a one-pass variance or a wrong formula does not.
          if (!(r.maxErr <= 1e-3)) r.rejected = `differs from the f64 norm by ${r.maxErr}`;
        } catch (error) {
          r.rejected = (error as Error).message.split('\n')[0];
          runs.push(undefined);
        }
      }
      await sampleRounds(
        rounds,
        options.budgetMs ?? 200,
        () => runs.flatMap((run, fi) => (run && !results[fi].rejected ? [fi] : [])),
        (fi) => samples[fi][pi],
        (fi) => runs[fi]!.time(),
      );
    } finally {
      runs.forEach((r) => r?.destroy());
    }
  }
  return settleCandidates(results, samples, problems.map((p) => p.count), 'norm form', options.minGain);
}
