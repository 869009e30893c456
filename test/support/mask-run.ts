// Running the mask kernels of src/wgsl/mask-kernels.ts on their own on a device, for the mask tests: dispatch-time
// tile classification for masks that read data, and the dense mask writer that checks masks bit for bit.

import type { MaskEnv, MaskWgsl } from '../../src/masks/kernel-contract.ts';
import type { Kernel } from '../../src/wgsl/kernel.ts';
import { packUniforms } from '../../src/wgsl/kernel.ts';
import { classifierKernel, denseMaskKernel, MASK_KERNEL_WORKGROUP } from '../../src/wgsl/mask-kernels.ts';
import type { GpuContext } from '../../src/runtime/device.ts';
import { outputBuffer, readBack, uploadBuffer, withErrorScopes } from '../../src/runtime/gpu-buffers.ts';
import { bindKernel, kernelPipeline } from '../../src/runtime/kernel-binding.ts';
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

async function dispatch(gpu: GpuContext, kernel: Kernel, mask: MaskWgsl, env: MaskEnv, grid: MaskGrid, uniforms: Record<string, number>): Promise<Uint32Array> {
  const total = uniforms.total;
  const pipeline = await kernelPipeline(gpu, kernel);
  const packed = packMaskBuffers(mask, { ...env, dims: { ...env.dims, Lq: grid.lq + (grid.qOffset ?? 0), Lk: grid.lk + (grid.kOffset ?? 0) } }, grid.batch);
  const byRole: Record<string, GPUBuffer> = {
    tileClass: outputBuffer(gpu, 'mask output', Math.max(4, total * 4)),
    mask: uploadBuffer(gpu, 'mask table', packed.table),
  };
  const buffers = [uploadBuffer(gpu, 'mask grid', packUniforms(kernel.uniforms, uniforms), 'uniform'), ...Object.values(byRole)];
  try {
    await withErrorScopes(gpu, `running ${kernel.entryPoint}`, () => {
      const bindGroup = bindKernel(gpu, kernel, pipeline, buffers[0], (role) => byRole[role]);
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
    return new Uint32Array(await readBack(gpu, byRole.tileClass, total * 4));
  } finally {
    for (const b of buffers) b.destroy();
  }
}

/** Tile classes in the attention kernel's layout, computed on the device with the data known. */
export async function classifyTilesOnGpu(gpu: GpuContext, mask: MaskWgsl, env: MaskEnv, grid: Required<Omit<MaskGrid, 'qOffset' | 'kOffset'>> & MaskGrid): Promise<Uint32Array> {
  const nQT = Math.ceil(grid.lq / grid.tileQ);
  const nKT = Math.ceil(grid.lk / grid.tileK);
  const total = grid.batch * grid.heads * nQT * nKT;
  const uniforms = { lq: grid.lq, lk: grid.lk, n_q_tiles: nQT, n_k_tiles: nKT, tile_q: grid.tileQ, tile_k: grid.tileK, heads: grid.heads, total, q_offset: grid.qOffset ?? 0, k_offset: grid.kOffset ?? 0 };
  return dispatch(gpu, classifierKernel(mask), mask, env, grid, uniforms);
}

/** The dense mask `[b][h][q][k]` as 0/1, evaluated by the compiled WGSL predicate (checking and drawing only). */
export async function denseMaskOnGpu(gpu: GpuContext, mask: MaskWgsl, env: MaskEnv, grid: MaskGrid): Promise<Uint8Array> {
  const total = grid.batch * grid.heads * grid.lq * grid.lk;
  const uniforms = { lq: grid.lq, lk: grid.lk, n_q_tiles: 1, n_k_tiles: 1, tile_q: 1, tile_k: 1, heads: grid.heads, total, q_offset: 0, k_offset: 0 };
  const out = await dispatch(gpu, denseMaskKernel(mask), mask, env, grid, uniforms);
  return Uint8Array.from(out);
}
