// A small harness for the benchmark's own kernels (the unfused attention path, the roofline probes): each step is a
// WGSL kernel with its buffers and dispatch size; the steps are compiled once and then dispatched back to back in
// one compute pass per timing, which is how a framework would submit them.

import type { GpuContext } from '../src/runtime/device.ts';
import { computePipeline, timedSubmit, withErrorScopes } from '../src/runtime/gpu-buffers.ts';

export interface StepBinding {
  type: GPUBufferBindingType;
  buffer: GPUBuffer;
}

export interface GpuStep {
  label: string;
  wgsl: string;
  entryPoint: string;
  /** Bindings 0, 1, … of group 0, in order. */
  bindings: StepBinding[];
  dispatch: [number, number, number];
}

export interface PreparedSteps {
  /** Runs every step `count` times in order within one submission; milliseconds per round. */
  time(count?: number): Promise<number>;
}

export async function prepareSteps(gpu: GpuContext, steps: GpuStep[]): Promise<PreparedSteps> {
  const ready: { pipeline: GPUComputePipeline; group: GPUBindGroup; dispatch: [number, number, number] }[] = [];
  for (const step of steps) {
    const entries = step.bindings.map((b, i) => ({ binding: i, visibility: GPUShaderStage.COMPUTE, buffer: { type: b.type } }));
    const pipeline = await computePipeline(gpu, step.wgsl, step.entryPoint, entries);
    const group = await withErrorScopes(gpu, `binding ${step.label}`, () =>
      gpu.device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: step.bindings.map((b, i) => ({ binding: i, resource: { buffer: b.buffer } })),
      }),
    );
    const limit = gpu.limits.maxComputeWorkgroupsPerDimension;
    if (step.dispatch.some((n) => n > limit)) throw new Error(`${step.label}: dispatch ${step.dispatch.join('×')} exceeds ${limit} per dimension`);
    ready.push({ pipeline, group, dispatch: step.dispatch });
  }
  return {
    async time(count = 1) {
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      for (let i = 0; i < count; i++) {
        for (const r of ready) {
          pass.setPipeline(r.pipeline);
          pass.setBindGroup(0, r.group);
          pass.dispatchWorkgroups(...r.dispatch);
        }
      }
      pass.end();
      return timedSubmit(gpu, encoder, count);
    },
  };
}

/** A storage buffer filled with `data` (or zeroed to `bytes`), readable back through COPY_SRC. */
export function storageBuffer(gpu: GpuContext, label: string, data: ArrayBufferView | number): GPUBuffer {
  const bytes = typeof data === 'number' ? data : data.byteLength;
  const size = Math.max(16, Math.ceil(bytes / 16) * 16);
  const maxBinding = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  if (size > maxBinding) throw new Error(`${label} needs ${size} bytes; the device binds at most ${maxBinding}`);
  const buffer = gpu.device.createBuffer({
    label,
    size,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    mappedAtCreation: typeof data !== 'number',
  });
  if (typeof data !== 'number') {
    new Uint8Array(buffer.getMappedRange()).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    buffer.unmap();
  }
  return buffer;
}

export function uniformBuffer(gpu: GpuContext, label: string, words: Uint32Array): GPUBuffer {
  const buffer = gpu.device.createBuffer({
    label,
    size: Math.max(16, Math.ceil(words.byteLength / 16) * 16),
    usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    mappedAtCreation: true,
  });
  new Uint32Array(buffer.getMappedRange()).set(words);
  buffer.unmap();
  return buffer;
}
