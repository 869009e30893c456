// One WebGPU device per test file, and a helper that runs an attention case on it and on the CPU oracle.

import { afterAll, beforeAll } from 'vitest';
import type { MaskEnv } from '../../src/masks/kernel-contract.ts';
import { attentionCpu, type MaskFn } from '../../src/runtime/attention-cpu.ts';
import { attentionKernelFor, runAttention } from '../../src/runtime/attention-run.ts';
import { acquireGpu, type AcquireOptions, type GpuContext } from '../../src/runtime/device.ts';
import type { AttentionKernel, AttentionKernelConfig } from '../../src/wgsl/attention.ts';
import { maxAbsError, randomFloats, type MaskFixture } from './mask-fixtures.ts';

/**
 * Acquires a device before the file's tests and releases it after. The attention kernel writes workgroup memory
 * before reading it, so by default the tests skip WebGPU's workgroup zero-init, which otherwise dominates SwiftShader
 * compile times; `device.test.ts` covers the default path.
 */
export function useGpu(options: AcquireOptions = { skipWorkgroupZeroInit: true }): () => GpuContext {
  let gpu: GpuContext | undefined;
  beforeAll(async () => {
    gpu = await acquireGpu(options);
    console.log(`WebGPU adapter: ${gpu.describe()}`);
  });
  afterAll(() => gpu?.release());
  return () => {
    if (!gpu) throw new Error('the GPU is acquired in beforeAll');
    return gpu;
  };
}

export interface AttentionCase {
  batch: number;
  lq: number;
  lk: number;
  heads: number;
  kvHeads: number;
  headDim: number;
  fixture?: MaskFixture;
  /** Mask inputs; `Lq` / `Lk` are added. */
  env?: MaskEnv;
  kernel?: Partial<Omit<AttentionKernelConfig, 'headDim' | 'heads' | 'kvHeads' | 'mask'>>;
  /** Overrides for the data (default: deterministic values in [-1, 1)). */
  q?: Float32Array;
  k?: Float32Array;
  v?: Float32Array;
  seed?: number;
  /** Tile classes for the run: a function of the kernel and the (full) predicate, or none for the default. */
  classes?: (kernel: AttentionKernel, mask: MaskFn | undefined) => Uint32Array;
  /** Predicate for the oracle when it must differ from the fixture's (tests that lie about tile classes). */
  oracleMask?: MaskFn;
  /** The relative_bias table the kernel binds (the oracle reads it from the modifier). */
  scoreTable?: Float32Array;
}

export interface AttentionResult {
  gpu: Float32Array;
  cpu: Float64Array;
  error: number;
  kernel: AttentionKernel;
  ms: number;
}

export async function runCase(gpu: GpuContext, c: AttentionCase): Promise<AttentionResult> {
  const seed = c.seed ?? c.lq * 31 + c.lk * 7 + c.headDim;
  const q = c.q ?? randomFloats(c.batch * c.lq * c.heads * c.headDim, seed);
  const k = c.k ?? randomFloats(c.batch * c.lk * c.kvHeads * c.headDim, seed + 1);
  const v = c.v ?? randomFloats(c.batch * c.lk * c.kvHeads * c.headDim, seed + 2);
  const env: MaskEnv = { ...(c.env ?? { data: {} }), dims: { ...(c.env?.dims ?? {}), Lq: c.lq, Lk: c.lk } };
  const mask = c.fixture?.predicate(env);
  const kernel = attentionKernelFor(gpu, {
    headDim: c.headDim,
    heads: c.heads,
    kvHeads: c.kvHeads,
    mask: c.fixture?.wgsl,
    ...c.kernel,
  });
  const tileClasses = c.classes?.(kernel, mask);
  const start = performance.now();
  const out = await runAttention(gpu, kernel, { batch: c.batch, lq: c.lq, lk: c.lk, q, k, v, maskEnv: env, tileClasses, scoreTable: c.scoreTable });
  const ms = performance.now() - start;
  const shape = { batch: c.batch, lq: c.lq, lk: c.lk, heads: c.heads, kvHeads: c.kvHeads, headDim: c.headDim };
  const cpu = attentionCpu(shape, q, k, v, {
    mask: c.oracleMask ?? mask,
    modifiers: c.kernel?.modifiers,
    scale: c.kernel?.scale,
  });
  return { gpu: out, cpu, error: maxAbsError(out, cpu), kernel, ms };
}

/** A short label for test names. */
export function describeCase(c: AttentionCase): string {
  const shape = c.lq === c.lk ? `L=${c.lq}` : `Lq=${c.lq} Lk=${c.lk}`;
  return `${shape} D=${c.headDim} H=${c.heads}/${c.kvHeads} B=${c.batch} ${c.fixture?.name ?? 'no mask'}`;
}
