// Measures the matmul tilings on the current device and picks the fastest. The tilings are timed round by round,
// each round running every tiling once in turn, so that a burst of load on a shared machine falls on all of them
// alike; the median of the rounds counts. Before its time counts, every tiling's output is compared with an f64
// product on the host: a tiling that computes something else is rejected, never chosen.

import { bindKernel, kernelPipeline } from '../runtime/kernel-binding.ts';
import type { GpuContext } from '../runtime/device.ts';
import { outputBuffer, readBack, timedSubmit, uploadBuffer } from '../runtime/gpu-buffers.ts';
import { packUniforms } from '../wgsl/kernel.ts';
import { DEFAULT_MATMUL_TILING, MATMUL_TILINGS, matmulTileOf, tiledMatmulKernel, tilingFits, type MatmulTiling } from '../wgsl/matmul-tilings.ts';
import { sampleRounds, settleCandidates } from './measure.ts';

/** out[M, N] = a[M, K] · w[N, K]ᵀ, the layout of every linear layer. */
export interface MatmulProblem {
  M: number;
  N: number;
  K: number;
  /** How many of the program's matmuls have this shape (default 1): the choice minimises the program's total. */
  count?: number;
}

export interface PreparedMatmul {
  /** Milliseconds of `count` dispatches, per dispatch. */
  time(count?: number): Promise<number>;
  output(): Promise<Float32Array>;
  destroy(): void;
}

export function seededValues(length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** The product in f64 on the host: the oracle every tiling is held to. */
export function referenceMatmul(a: Float32Array, w: Float32Array, { M, N, K }: MatmulProblem): Float32Array {
  const out = new Float32Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += a[m * K + k] * w[n * K + k];
      out[m * N + n] = s;
    }
  }
  return out;
}

/** One tiling's kernel (no bias, activation or residual), its buffers and pipeline, ready to dispatch. */
export async function prepareMatmul(gpu: GpuContext, tiling: MatmulTiling, p: MatmulProblem, a: Float32Array, w: Float32Array): Promise<PreparedMatmul> {
  const kernel = tiledMatmulKernel({ act: 'none', bias: false, residual: false }, tiling);
  const pipeline = await kernelPipeline(gpu, kernel);
  const buffers: Record<string, GPUBuffer> = {
    a: uploadBuffer(gpu, 'matmul a', a),
    w: uploadBuffer(gpu, 'matmul w', w),
    out: outputBuffer(gpu, 'matmul out', p.M * p.N * 4),
  };
  const uniforms = uploadBuffer(gpu, 'matmul uniforms', packUniforms(kernel.uniforms, { M: p.M, N: p.N, K: p.K }), 'uniform');
  const group = bindKernel(gpu, kernel, pipeline, uniforms, (role) => buffers[role]);
  const tile = matmulTileOf(tiling);
  const grid = [Math.ceil(p.N / tile.cols), Math.ceil(p.M / tile.rows)] as const;
  const encode = (count: number) => {
    const encoder = gpu.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, group);
    for (let i = 0; i < count; i++) pass.dispatchWorkgroups(grid[0], grid[1], 1);
    pass.end();
    return encoder;
  };
  return {
    time: (count = 1) => timedSubmit(gpu, encode(count), count),
    output: async () => {
      await timedSubmit(gpu, encode(1), 1);
      return new Float32Array(await readBack(gpu, buffers.out, p.M * p.N * 4));
    },
    destroy: () => [...Object.values(buffers), uniforms].forEach((b) => b.destroy()),
  };
}

export interface MatmulVariantResult {
  tiling: MatmulTiling;
  /** Median milliseconds per problem, in the order given. */
  ms?: number[];
  /** Their sum, each weighted by its problem's count: what the choice is made on. */
  totalMs?: number;
  /** Largest difference from the f64 product, over the problems. */
  maxErr?: number;
  rejected?: string;
}

export interface MatmulTuneOutcome {
  best: MatmulVariantResult;
  fallback: MatmulVariantResult;
  results: MatmulVariantResult[];
}

export interface MatmulTuneOptions {
  tilings?: readonly MatmulTiling[];
  /** Rounds (every tiling timed once per round); default 3. */
  rounds?: number;
  /** More rounds (up to 5× as many) while a tiling's samples on a problem sum to less than this many ms (default 200; 0: exactly `rounds`). */
  budgetMs?: number;
  /** A tiling must beat the default by this factor to be chosen (default 1.05). */
  minGain?: number;
  /** Takes one timed sample of a tiling on a problem (default: `run()`, one dispatch timed on the host). */
  timer?: (tiling: MatmulTiling, problem: MatmulProblem, run: () => Promise<number>) => Promise<number>;
  /** Called after each round, awaited: a benchmark times its comparator here, interleaved with the tilings. */
  onRound?: (round: number, rounds: number) => void | Promise<void>;
}

/** Times every tiling on every problem (round by round) and picks the fastest over all of them. */
export async function tuneMatmul(gpu: GpuContext, problems: readonly MatmulProblem[], options: MatmulTuneOptions = {}): Promise<MatmulTuneOutcome> {
  const tilings = [DEFAULT_MATMUL_TILING, ...(options.tilings ?? MATMUL_TILINGS).filter((t) => t !== DEFAULT_MATMUL_TILING)];
  const rounds = Math.max(1, options.rounds ?? 3);
  const timer = options.timer ?? ((_t, _p, run) => run());
  const results: MatmulVariantResult[] = tilings.map((tiling) => ({ tiling }));
  const samples = tilings.map(() => problems.map((): number[] => []));
  for (const [pi, p] of problems.entries()) {
    const a = seededValues(p.M * p.K, 21 + pi);
    const w = seededValues(p.N * p.K, 22 + pi);
    const want = referenceMatmul(a, w, p);
    const runs: (PreparedMatmul | undefined)[] = [];
    try {
      for (const [ti, tiling] of tilings.entries()) {
        const r = results[ti];
        if (r.rejected) {
          runs.push(undefined);
          continue;
        }
        if (!tilingFits(tiling, p.K)) {
          r.rejected = `needs K a multiple of 4 (K = ${p.K})`;
          runs.push(undefined);
          continue;
        }
        try {
          const run = await prepareMatmul(gpu, tiling, p, a, w);
          runs.push(run);
          const got = await run.output();
          let err = 0;
          for (let i = 0; i < got.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]));
          r.maxErr = Math.max(r.maxErr ?? 0, Number.isNaN(err) ? Infinity : err);
          // f32 sums of K products of values in [-1, 1): rounding grows with K.
          if (!(r.maxErr <= 1e-5 * p.K + 1e-5)) r.rejected = `differs from the f64 product by ${r.maxErr}`;
        } catch (error) {
          r.rejected = (error as Error).message.split('\n')[0];
          runs.push(undefined);
        }
      }
      await sampleRounds(
        rounds,
        options.budgetMs ?? 200,
        () => runs.flatMap((run, ti) => (run && !results[ti].rejected ? [ti] : [])),
        (ti) => samples[ti][pi],
        (ti) => timer(tilings[ti], p, () => runs[ti]!.time()),
        (round) => options.onRound?.(round + pi * rounds, rounds * problems.length),
      );
    } finally {
      runs.forEach((r) => r?.destroy());
    }
  }
  return settleCandidates(results, samples, problems.map((p) => p.count), 'matmul tiling', options.minGain);
}
