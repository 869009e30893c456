// Running the mask kernels of src/masks/classify-wgsl.ts on their own on a device, for the mask tests: dispatch-time
// tile classification for masks that read data, and the dense mask writer that checks masks bit for bit.

import { classifierWgsl, denseMaskWgsl, MASK_KERNEL_WORKGROUP } from '../../src/masks/classify-wgsl.ts';
import type { MaskEnv, MaskWgsl } from '../../src/masks/kernel-contract.ts';
import type { GpuContext } from '../../src/runtime/device.ts';
import { computePipeline, outputBuffer, readBack, uploadBuffer, withErrorScopes } from '../../src/runtime/gpu-buffers.ts';
import { packMaskBuffers } from '../../src/runtime/mask-buffers.ts';

export interface MaskGrid {
  batch: number;
  /** Heads to evaluate (1 when the mask does not read the head). */
  heads: number;
  lq: number;
  lk: number;
  tileQ?: number;
  tileK?: number;
  /** Rows q and k are positions q + qOffset and k + kOffset of the whole sequence (decoding with a cache). */
  qOffset?: number;
  kOffset?: number;
}

// Built on use: the WebGPU globals (GPUShaderStage) exist only once a device module has been loaded.
const layout = (): GPUBindGroupLayoutEntry[] => [
  { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
  { binding: 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'storage' } },
  { binding: 2, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
  { binding: 3, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'read-only-storage' } },
];

async function dispatch(gpu: GpuContext, wgsl: string, entry: string, mask: MaskWgsl, env: MaskEnv, grid: MaskGrid, words: number[], total: number): Promise<Uint32Array> {
  const pipeline = await computePipeline(gpu, wgsl, entry, layout());
  const packed = packMaskBuffers(mask, { ...env, dims: { ...env.dims, Lq: grid.lq + (grid.qOffset ?? 0), Lk: grid.lk + (grid.kOffset ?? 0) } }, grid.batch);
  const buffers = [
    uploadBuffer(gpu, 'mask grid', new Uint32Array(words), 'uniform'),
    outputBuffer(gpu, 'mask output', Math.max(4, total * 4)),
    uploadBuffer(gpu, 'mask_params', packed.params),
    uploadBuffer(gpu, 'mask_data', packed.data),
  ];
  try {
    await withErrorScopes(gpu, `running ${entry}`, () => {
      const bindGroup = gpu.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) });
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      // Spread over two dimensions when one would exceed the per-dimension workgroup limit.
      const groups = Math.ceil(total / MASK_KERNEL_WORKGROUP);
      if (groups > gpu.limits.maxComputeWorkgroupsPerDimension) throw new Error(`mask grid of ${total} cells is too large for one dispatch`);
      pass.dispatchWorkgroups(Math.max(1, groups));
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
    });
    return new Uint32Array(await readBack(gpu, buffers[1], total * 4));
  } finally {
    for (const b of buffers) b.destroy();
  }
}

/** Tile classes in the attention kernel's layout, computed on the device with the data known. */
export async function classifyTilesOnGpu(gpu: GpuContext, mask: MaskWgsl, env: MaskEnv, grid: Required<Omit<MaskGrid, 'qOffset' | 'kOffset'>> & MaskGrid): Promise<Uint32Array> {
  const nQT = Math.ceil(grid.lq / grid.tileQ);
  const nKT = Math.ceil(grid.lk / grid.tileK);
  const total = grid.batch * grid.heads * nQT * nKT;
  return dispatch(gpu, classifierWgsl(mask), 'mdl_classify', mask, env, grid, [grid.lq, grid.lk, nQT, nKT, grid.tileQ, grid.tileK, grid.heads, total, grid.qOffset ?? 0, grid.kOffset ?? 0, 0, 0], total);
}

/** The dense mask `[b][h][q][k]` as 0/1, evaluated by the compiled WGSL predicate (checking and drawing only). */
export async function denseMaskOnGpu(gpu: GpuContext, mask: MaskWgsl, env: MaskEnv, grid: MaskGrid): Promise<Uint8Array> {
  const total = grid.batch * grid.heads * grid.lq * grid.lk;
  const out = await dispatch(gpu, denseMaskWgsl(mask), 'mdl_dense', mask, env, grid, [grid.lq, grid.lk, 1, 1, 1, 1, grid.heads, total, 0, 0, 0, 0], total);
  return Uint8Array.from(out);
}
