// An attention site made ready to dispatch many times: inputs uploaded, mask buffers packed, pipeline compiled and
// bind group built once. `runAttention` does all of that per call, which is right for one-off runs but would make a
// timing measure buffer creation and uploads instead of the kernel.

import type { GpuContext } from '../runtime/device.ts';
import { defaultTileClasses, type AttentionRunInputs } from '../runtime/attention-run.ts';
import { computePipeline, outputBuffer, readBack, uploadBuffer, withErrorScopes } from '../runtime/gpu-buffers.ts';
import { packMaskBuffers } from '../runtime/mask-buffers.ts';
import { attentionGrid, attentionParams, type AttentionGrid, type AttentionKernel } from '../wgsl/attention.ts';

export interface PreparedAttention {
  kernel: AttentionKernel;
  grid: AttentionGrid;
  /** Encodes `count` back-to-back dispatches, submits them at once and waits; returns milliseconds per dispatch. */
  time(count?: number): Promise<number>;
  /** The output of the last dispatch, [B, Lq, H, D]. */
  output(): Promise<Float32Array>;
  destroy(): void;
}

/**
 * Uploads everything the kernel reads and compiles its pipeline. The mask environment gets `Lq` / `Lk` from the
 * run, as in `runAttention`; tile classes default to PARTIAL everywhere (masked) or FULL (unmasked).
 */
export async function prepareAttention(gpu: GpuContext, kernel: AttentionKernel, inputs: AttentionRunInputs): Promise<PreparedAttention> {
  const { batch, lq, lk } = inputs;
  const grid = attentionGrid(kernel, batch, lq, lk);
  const classes = inputs.tileClasses ?? defaultTileClasses(kernel, grid);
  if (classes.length !== grid.tileClassCount) {
    throw new Error(`tile classes: expected ${grid.tileClassCount} entries for ${kernel.tileQ}×${kernel.tileK} tiles, got ${classes.length}`);
  }
  const created: GPUBuffer[] = [];
  const track = (b: GPUBuffer) => (created.push(b), b);
  const outBytes = batch * lq * kernel.heads * kernel.headDim * 4;
  const byRole: Record<string, GPUBuffer> = {
    params: track(uploadBuffer(gpu, 'attention params', attentionParams(kernel, grid, lq, lk), 'uniform')),
    q: track(uploadBuffer(gpu, 'Q', inputs.q)),
    k: track(uploadBuffer(gpu, 'K', inputs.k)),
    v: track(uploadBuffer(gpu, 'V', inputs.v)),
    out: track(outputBuffer(gpu, 'attention output', outBytes)),
    tileClass: track(uploadBuffer(gpu, 'tile classes', classes)),
  };
  if (kernel.hasMask && kernel.mask) {
    const env = inputs.maskEnv ?? { dims: {}, data: {} };
    const packed = packMaskBuffers(kernel.mask, { ...env, dims: { ...env.dims, Lq: lq, Lk: lk } }, batch);
    byRole.maskParams = track(uploadBuffer(gpu, 'mask_params', packed.params));
    byRole.maskData = track(uploadBuffer(gpu, 'mask_data', packed.data));
  }
  if (kernel.bindings.some((b) => b.role === 'scoreTable')) {
    if (!inputs.scoreTable) throw new Error('this kernel applies relative_bias: give its table as scoreTable');
    byRole.scoreTable = track(uploadBuffer(gpu, 'score table', inputs.scoreTable));
  }
  const layoutEntries = kernel.bindings.map((b) => ({
    binding: b.binding,
    visibility: GPUShaderStage.COMPUTE,
    buffer: { type: b.type },
  }));
  const pipeline = await computePipeline(gpu, kernel.wgsl, kernel.entryPoint, layoutEntries);
  const bindGroup = await withErrorScopes(gpu, 'binding attention buffers', () =>
    gpu.device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries: kernel.bindings.map((b) => ({ binding: b.binding, resource: { buffer: byRole[b.role] } })),
    }),
  );

  return {
    kernel,
    grid,
    async time(count = 1) {
      const encoder = gpu.device.createCommandEncoder({ label: 'attention timing' });
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      for (let i = 0; i < count; i++) pass.dispatchWorkgroups(...grid.dispatch);
      pass.end();
      return timedSubmit(gpu, encoder, count);
    },
    async output() {
      return new Float32Array(await readBack(gpu, byRole.out, outBytes));
    },
    destroy() {
      for (const b of created) b.destroy();
    },
  };
}

/**
 * Submits the encoded work and waits until the device reports it done: milliseconds per repetition, when the encoder
 * holds `count` repetitions of the measured work.
 */
export async function timedSubmit(gpu: GpuContext, encoder: GPUCommandEncoder, count: number): Promise<number> {
  const t0 = performance.now();
  gpu.device.queue.submit([encoder.finish()]);
  await gpu.device.queue.onSubmittedWorkDone();
  const ms = (performance.now() - t0) / count;
  gpu.checkHealthy();
  return ms;
}
