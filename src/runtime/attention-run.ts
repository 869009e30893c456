// Runs one attention site on the device: uploads Q/K/V, the mask buffers and the tile classes, dispatches the fused
// kernel from `src/wgsl/attention.ts`, and reads the output back.
//
// `prepareAttention` does everything but the dispatch, once, after checking the inputs and the device's limits, so a
// timing (the tuner, the benchmarks) measures the kernel alone; `runAttention` is a prepared run dispatched once.

import { TileClass, type MaskEnv } from '../masks/kernel-contract.ts';
import { attentionGrid, attentionParams, generateAttentionKernel, type AttentionGrid, type AttentionKernel, type AttentionKernelConfig } from '../wgsl/attention.ts';
import { checkAttentionShape } from './attention-cpu.ts';
import type { GpuContext } from './device.ts';
import { outputBuffer, readBack, timedSubmit, uploadBuffer, withErrorScopes } from './gpu-buffers.ts';
import { bindKernel, kernelPipeline } from './kernel-binding.ts';
import { packMaskBuffers } from './mask-buffers.ts';

export interface AttentionRunInputs {
  batch: number;
  lq: number;
  lk: number;
  /** [B, Lq, H, D] */
  q: Float32Array;
  /** [B, Lk, kvHeads, D] */
  k: Float32Array;
  /** [B, Lk, kvHeads, D] */
  v: Float32Array;
  /** The mask's dims and data (none needed for a mask of indices only). `Lq` and `Lk` are filled in from this run. */
  maskEnv?: MaskEnv;
  /**
   * Tile classes, u32 `[B, tileHeads, qTiles, kTiles]` (see `attentionGrid`). Default: every tile PARTIAL when the
   * kernel has a mask (always correct, never skips), FULL otherwise.
   */
  tileClasses?: Uint32Array;
  /** The learned table of a relative_bias modifier, `[buckets, heads]`, when the kernel has one. */
  scoreTable?: Float32Array;
}

/** Generates a kernel sized for this device's limits. */
export function attentionKernelFor(gpu: GpuContext, config: Omit<AttentionKernelConfig, 'limits'>): AttentionKernel {
  if (config.tiles?.subgroups && !gpu.subgroups) throw new Error(`the subgroup form of the row-wise attention kernel needs the 'subgroups' feature, which ${gpu.describe()} does not offer`);
  return generateAttentionKernel({ ...config, limits: gpu.limits });
}

/** The classes to use when none are given: PARTIAL everywhere with a mask, FULL everywhere without. */
export function defaultTileClasses(kernel: AttentionKernel, grid: AttentionGrid): Uint32Array {
  return new Uint32Array(grid.tileClassCount).fill(kernel.hasMask ? TileClass.Partial : TileClass.Full);
}

/** Checks a tile-class buffer's size and entries against the grid (shared with the backward pass). */
export function checkTileClasses(classes: Uint32Array, grid: Pick<AttentionGrid, 'qTiles' | 'kTiles' | 'tileClassCount'>, kernel: Pick<AttentionKernel, 'tileHeads' | 'tileQ' | 'tileK'>): void {
  if (classes.length !== grid.tileClassCount) {
    throw new Error(
      `tile classes: expected ${grid.tileClassCount} entries (batch × ${kernel.tileHeads} head(s) × ${grid.qTiles} query ` +
        `tiles × ${grid.kTiles} key tiles of ${kernel.tileQ}×${kernel.tileK}), got ${classes.length}`,
    );
  }
  for (let i = 0; i < classes.length; i++) {
    const c = classes[i];
    if (c !== TileClass.Empty && c !== TileClass.Partial && c !== TileClass.Full) {
      throw new Error(`tile classes: entry ${i} is ${c}, not EMPTY (0), PARTIAL (1) or FULL (2)`);
    }
  }
}

/** The mask environment of a run: `Lq` / `Lk` from the run, contradicting values rejected. */
export function maskEnvForRun(env: MaskEnv | undefined, lq: number, lk: number): MaskEnv {
  // A mask that reads only its indices needs no inputs; one that reads data reports the missing input by name.
  env ??= { dims: {}, data: {} };
  for (const [name, value] of [['Lq', lq], ['Lk', lk]] as const) {
    const given = env.dims[name];
    if (given !== undefined && given !== value) {
      throw new Error(`mask dim ${name} = ${given} disagrees with the attention site's ${name} = ${value}`);
    }
  }
  return { ...env, dims: { ...env.dims, Lq: lq, Lk: lk } };
}

export interface PreparedAttention {
  kernel: AttentionKernel;
  grid: AttentionGrid;
  /** Dispatches the kernel once and waits for it. */
  run(): Promise<void>;
  /** Encodes `count` back-to-back dispatches, submits them at once and waits; returns milliseconds per dispatch. */
  time(count?: number): Promise<number>;
  /** The output of the last dispatch, [B, Lq, H, D]. */
  output(): Promise<Float32Array>;
  /** Each query row's log-sum-exp, [B, H, Lq] (a sentinel ≤ -1e38 for a row with no visible key); kernels made with `lse`. */
  lse(): Promise<Float32Array>;
  destroy(): void;
}

/**
 * Checks the inputs against the kernel and the kernel against the device, uploads everything the kernel reads and
 * compiles its pipeline. The mask environment gets `Lq` / `Lk` from the run; tile classes default to PARTIAL
 * everywhere (masked) or FULL (unmasked).
 */
export async function prepareAttention(gpu: GpuContext, kernel: AttentionKernel, inputs: AttentionRunInputs): Promise<PreparedAttention> {
  gpu.checkHealthy();
  const { batch, lq, lk } = inputs;
  const shape = { batch, lq, lk, heads: kernel.heads, kvHeads: kernel.kvHeads, headDim: kernel.headDim };
  checkAttentionShape(shape, inputs.q, inputs.k, inputs.v);

  // A kernel generated for another device's limits must not reach this one's pipeline compiler.
  const { maxComputeWorkgroupStorageSize: maxBytes, maxComputeInvocationsPerWorkgroup: maxInvocations } = gpu.limits;
  if (kernel.workgroupStorageBytes > maxBytes || kernel.workgroupSize > maxInvocations) {
    throw new Error(
      `this attention kernel needs ${kernel.workgroupStorageBytes} bytes of workgroup memory and ${kernel.workgroupSize} ` +
        `invocations; the device allows ${maxBytes} and ${maxInvocations}. Generate it with attentionKernelFor(gpu, …).`,
    );
  }
  const grid = attentionGrid(kernel, batch, lq, lk);
  const maxGroups = gpu.limits.maxComputeWorkgroupsPerDimension;
  grid.dispatch.forEach((n, axis) => {
    if (n > maxGroups) {
      const what = ['query tiles', 'heads', 'batch rows'][axis];
      throw new Error(`attention dispatch needs ${n} workgroups for ${what}, above the device limit of ${maxGroups}`);
    }
  });
  const classes = inputs.tileClasses ?? defaultTileClasses(kernel, grid);
  checkTileClasses(classes, grid, kernel);

  const created: GPUBuffer[] = [];
  const track = (buffer: GPUBuffer) => (created.push(buffer), buffer);
  try {
    const outBytes = inputs.q.byteLength;
    const uniforms = track(uploadBuffer(gpu, 'attention params', attentionParams(kernel, grid, lq, lk), 'uniform'));
    const byRole: Record<string, GPUBuffer> = {
      q: track(uploadBuffer(gpu, 'Q', inputs.q)),
      k: track(uploadBuffer(gpu, 'K', inputs.k)),
      v: track(uploadBuffer(gpu, 'V', inputs.v)),
      out: track(outputBuffer(gpu, 'attention output', outBytes)),
      tileClass: track(uploadBuffer(gpu, 'tile classes', classes)),
    };
    if (kernel.hasMask) {
      if (!kernel.mask) throw new Error('the kernel says it has a mask but carries no mask description');
      const packed = packMaskBuffers(kernel.mask, maskEnvForRun(inputs.maskEnv, lq, lk), batch);
      byRole.mask = track(uploadBuffer(gpu, 'mask table', packed.table));
    }
    if (kernel.bindings.some((b) => b.role === 'scoreTable')) {
      if (!inputs.scoreTable) throw new Error('this kernel applies relative_bias: give its table as scoreTable');
      byRole.scoreTable = track(uploadBuffer(gpu, 'score table', inputs.scoreTable));
    }
    const lseBytes = 4 * batch * kernel.heads * lq;
    if (kernel.bindings.some((b) => b.role === 'lse')) byRole.lse = track(outputBuffer(gpu, 'attention log-sum-exp', lseBytes));
    const pipeline = await kernelPipeline(gpu, kernel);
    const bindGroup = await withErrorScopes(gpu, 'binding attention buffers', () => bindKernel(gpu, kernel, pipeline, uniforms, (role) => byRole[role]));
    const encode = (count: number) => {
      const encoder = gpu.device.createCommandEncoder({ label: 'attention' });
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      for (let i = 0; i < count; i++) pass.dispatchWorkgroups(...grid.dispatch);
      pass.end();
      return encoder;
    };
    return {
      kernel,
      grid,
      async run() {
        await withErrorScopes(gpu, 'dispatching attention', () => gpu.device.queue.submit([encode(1).finish()]));
      },
      time: (count = 1) => timedSubmit(gpu, encode(count), count),
      async output() {
        const result = new Float32Array(await readBack(gpu, byRole.out, outBytes));
        gpu.checkHealthy();
        return result;
      },
      async lse() {
        if (!byRole.lse) throw new Error('this attention kernel does not write the log-sum-exp: generate it with lse: true');
        return new Float32Array(await readBack(gpu, byRole.lse, lseBytes));
      },
      destroy() {
        for (const b of created) b.destroy();
      },
    };
  } catch (error) {
    for (const b of created) b.destroy();
    throw error;
  }
}

/** Runs the kernel once and returns the output, [B, Lq, H, D] f32. */
export async function runAttention(gpu: GpuContext, kernel: AttentionKernel, inputs: AttentionRunInputs): Promise<Float32Array> {
  const prepared = await prepareAttention(gpu, kernel, inputs);
  try {
    await prepared.run();
    return await prepared.output();
  } finally {
    prepared.destroy();
  }
}
