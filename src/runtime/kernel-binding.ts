// A kernel description (src/wgsl/kernel.ts) made into a pipeline and bind group: the layout comes from the
// description's bindings and buffers are matched to them by role, so a buffer can only reach the binding whose role
// it was given.

import type { Kernel } from '../wgsl/kernel.ts';
import type { GpuContext } from './device.ts';
import { computePipeline } from './gpu-buffers.ts';

/** The bind group layout of a kernel: the uniform block at 0, then each storage buffer with its access. */
export function layoutOf(k: Pick<Kernel, 'bindings'>): GPUBindGroupLayoutEntry[] {
  return [
    { binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } },
    ...k.bindings.map((b, i) => ({ binding: i + 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: b.access === 'read' ? ('read-only-storage' as const) : ('storage' as const) } })),
  ];
}

export function kernelPipeline(gpu: GpuContext, k: Kernel): Promise<GPUComputePipeline> {
  return computePipeline(gpu, k.wgsl, k.entryPoint, layoutOf(k));
}

/** A bind group from the uniform buffer and buffers by role; a role without a buffer is an error naming it. */
export function bindKernel(gpu: GpuContext, k: Pick<Kernel, 'bindings' | 'family'>, pipeline: GPUComputePipeline, uniforms: GPUBuffer, byRole: (role: string) => GPUBuffer | undefined): GPUBindGroup {
  const entries: GPUBindGroupEntry[] = [{ binding: 0, resource: { buffer: uniforms } }];
  k.bindings.forEach((b, i) => {
    const buffer = byRole(b.role);
    if (!buffer) throw new Error(`${k.family}: no buffer for binding ${i + 1} (${b.role})`);
    entries.push({ binding: i + 1, resource: { buffer } });
  });
  return gpu.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
}
