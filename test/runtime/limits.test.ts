// Limit checks that must fail before anything reaches the device, with messages that say which limit and by how much.

import { describe, expect, it } from 'vitest';
import { runAttention } from '../../src/runtime/attention-run.ts';
import type { GpuContext } from '../../src/runtime/device.ts';
import { checkBufferSize } from '../../src/runtime/gpu-buffers.ts';
import { generateAttentionKernel } from '../../src/wgsl/attention.ts';

/** Just enough of a context for the checks that run before any WebGPU call. */
function fakeGpu(limits: Partial<GPUSupportedLimits>): GpuContext {
  return { limits: limits as GPUSupportedLimits, checkHealthy() {} } as unknown as GpuContext;
}

describe('limits', () => {
  it('refuses a buffer larger than a storage binding may be', () => {
    const gpu = fakeGpu({ maxStorageBufferBindingSize: 2 ** 27, maxBufferSize: 2 ** 28 });
    expect(() => checkBufferSize(gpu, 'K', 2 ** 27 + 4)).toThrow(/K needs 128\.0 MiB but this device allows at most 128\.0 MiB per storage binding/);
    expect(() => checkBufferSize(gpu, 'K', 2 ** 27)).not.toThrow();
  });

  it('refuses a dispatch with more workgroups per dimension than allowed', async () => {
    const kernel = generateAttentionKernel({ headDim: 4, heads: 1, kvHeads: 1, tiles: { q: 1, k: 1, lanes: 1 } });
    const gpu = fakeGpu({ maxComputeWorkgroupsPerDimension: 4, maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256 });
    const lq = 5;
    const inputs = { batch: 1, lq, lk: 1, q: new Float32Array(lq * 4), k: new Float32Array(4), v: new Float32Array(4) };
    await expect(runAttention(gpu, kernel, inputs)).rejects.toThrow(/needs 5 workgroups for query tiles, above the device limit of 4/);
  });

  it('refuses a kernel sized for a device with larger limits', async () => {
    const big = { maxComputeWorkgroupStorageSize: 65536, maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 1024 };
    const kernel = generateAttentionKernel({ headDim: 64, heads: 1, kvHeads: 1, limits: big, tiles: { q: 128, k: 64 } });
    const gpu = fakeGpu({ maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256 });
    const inputs = { batch: 1, lq: 1, lk: 1, q: new Float32Array(64), k: new Float32Array(64), v: new Float32Array(64) };
    await expect(runAttention(gpu, kernel, inputs)).rejects.toThrow(/needs \d+ bytes of workgroup memory and 512 invocations; the device allows 16384 and 256/);
  });

  it('refuses inputs that do not match the shape', async () => {
    const kernel = generateAttentionKernel({ headDim: 8, heads: 2, kvHeads: 1 });
    const inputs = { batch: 1, lq: 3, lk: 3, q: new Float32Array(3 * 2 * 8), k: new Float32Array(3 * 8), v: new Float32Array(5) };
    const gpu = fakeGpu({ maxComputeWorkgroupStorageSize: 16384, maxComputeInvocationsPerWorkgroup: 256 });
    await expect(runAttention(gpu, kernel, inputs)).rejects.toThrow(/V has 5 values, expected B·Lk·kvH·D = 24/);
  });
});
