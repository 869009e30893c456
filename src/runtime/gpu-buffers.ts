// Small WebGPU helpers: buffers with size checks, a pipeline cache keyed by WGSL source, error scopes that turn
// validation failures into exceptions, and readback.

import type { GpuContext } from './device.ts';

export type BufferData = Float32Array | Int32Array | Uint32Array;

/** Rounds a byte size up to the 4-byte multiple WebGPU needs for writes and copies, and never to zero. */
function paddedSize(bytes: number): number {
  return Math.max(4, Math.ceil(bytes / 4) * 4);
}

/** Throws a readable error when a binding would exceed the device's buffer limits. */
export function checkBufferSize(gpu: GpuContext, what: string, bytes: number, usage: 'storage' | 'uniform' = 'storage'): void {
  const limits = gpu.limits;
  const bindingLimit = usage === 'storage' ? limits.maxStorageBufferBindingSize : limits.maxUniformBufferBindingSize;
  const limit = Math.min(bindingLimit, limits.maxBufferSize);
  if (bytes > limit) {
    const mib = (n: number) => `${(n / 2 ** 20).toFixed(1)} MiB`;
    throw new Error(`${what} needs ${mib(bytes)} but this device allows at most ${mib(limit)} per ${usage} binding`);
  }
}

/** A storage (or uniform) buffer holding `data`, zero-padded to a 4-byte multiple. */
export function uploadBuffer(
  gpu: GpuContext,
  what: string,
  data: BufferData,
  usage: 'storage' | 'uniform' = 'storage',
): GPUBuffer {
  const size = paddedSize(data.byteLength);
  checkBufferSize(gpu, what, size, usage);
  const flags = (usage === 'storage' ? GPUBufferUsage.STORAGE : GPUBufferUsage.UNIFORM) | GPUBufferUsage.COPY_DST;
  const buffer = gpu.device.createBuffer({ label: what, size, usage: flags, mappedAtCreation: true });
  const view = new Uint8Array(buffer.getMappedRange());
  view.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  buffer.unmap();
  return buffer;
}

/** An uninitialised storage buffer the shader writes and the host reads back. */
export function outputBuffer(gpu: GpuContext, what: string, bytes: number): GPUBuffer {
  const size = paddedSize(bytes);
  checkBufferSize(gpu, what, size);
  return gpu.device.createBuffer({ label: what, size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
}

/** Copies `bytes` bytes of `source` to the host. */
export async function readBack(gpu: GpuContext, source: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
  const { device } = gpu;
  const size = paddedSize(bytes);
  const staging = device.createBuffer({ label: 'readback', size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    const encoder = device.createCommandEncoder();
    encoder.copyBufferToBuffer(source, 0, staging, 0, size);
    device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    return staging.getMappedRange(0, size).slice(0, bytes);
  } finally {
    staging.destroy();
  }
}

/**
 * Runs `body` inside validation and out-of-memory error scopes and throws the first error either reports, prefixed
 * with `what`; such errors are otherwise only reported asynchronously as uncaptured errors. `body` is synchronous on
 * purpose: error scopes form one stack per device, so an `await` between push and pop would let a concurrent caller
 * push its own scopes in between and capture the other's errors.
 */
export async function withErrorScopes<T>(gpu: GpuContext, what: string, body: () => T): Promise<T> {
  const { device } = gpu;
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let result: T | undefined;
  let thrown: unknown;
  try {
    result = body();
  } catch (error) {
    thrown = error;
  }
  const validation = device.popErrorScope();
  const memory = device.popErrorScope();
  const error = (await validation) ?? (await memory);
  if (error) throw new Error(`${what}: ${error.message}`);
  if (thrown !== undefined) throw thrown;
  return result as T;
}

const pipelineCache = new WeakMap<GPUDevice, Map<string, Promise<GPUComputePipeline>>>();

/**
 * A compute pipeline for `wgsl`, compiled once per device and source. The layout is explicit: an 'auto' layout drops
 * bindings the shader never reads (a mask that reads no table), which would make binding them an error.
 */
export function computePipeline(
  gpu: GpuContext,
  wgsl: string,
  entryPoint: string,
  layoutEntries: GPUBindGroupLayoutEntry[],
): Promise<GPUComputePipeline> {
  let perDevice = pipelineCache.get(gpu.device);
  if (!perDevice) pipelineCache.set(gpu.device, (perDevice = new Map()));
  const key = `${entryPoint}\n${JSON.stringify(layoutEntries)}\n${wgsl}`;
  let pipeline = perDevice.get(key);
  if (!pipeline) {
    pipeline = compilePipeline(gpu, wgsl, entryPoint, layoutEntries);
    perDevice.set(key, pipeline);
    // A failed compile must not poison the cache for a retry after a fix.
    pipeline.catch(() => perDevice.delete(key));
  }
  return pipeline;
}

async function compilePipeline(
  gpu: GpuContext,
  wgsl: string,
  entryPoint: string,
  layoutEntries: GPUBindGroupLayoutEntry[],
): Promise<GPUComputePipeline> {
  const { device } = gpu;
  // The shader's own scope only keeps its error from going uncaptured: the compilation info says it better.
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: entryPoint, code: wgsl });
  const moduleError = device.popErrorScope();
  const info = await module.getCompilationInfo();
  const errors = info.messages.filter((m) => m.type === 'error');
  if (errors.length > 0) {
    const lines = wgsl.split('\n');
    const detail = errors
      .map((m) => `  line ${m.lineNum}:${m.linePos}: ${m.message}\n    ${lines[m.lineNum - 1]?.trim() ?? ''}`)
      .join('\n');
    throw new Error(`generated WGSL does not compile:\n${detail}`);
  }
  const invalid = await moduleError;
  if (invalid) throw new Error(`generated WGSL was rejected: ${invalid.message}`);
  const layout = await withErrorScopes(gpu, 'preparing the attention pipeline layout', () =>
    device.createPipelineLayout({ bindGroupLayouts: [device.createBindGroupLayout({ entries: layoutEntries })] }),
  );
  try {
    // Asynchronous creation reports its errors by rejecting, not through error scopes.
    return await device.createComputePipelineAsync({ layout, compute: { module, entryPoint } });
  } catch (error) {
    throw new Error(`creating the attention pipeline failed: ${(error as Error).message}`);
  }
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
