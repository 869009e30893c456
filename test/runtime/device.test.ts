// Device acquisition: adapter discovery (including the SwiftShader fallback, in fresh child processes), error
// reporting, release, and one attention run with WebGPU's default workgroup zero-initialisation.

import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { acquireGpu, SWIFTSHADER_ICD } from '../../src/runtime/device.ts';
import { runCase, useGpu } from './gpu-harness.ts';
import { causalTopLeft } from './mask-fixtures.ts';

const here = dirname(fileURLToPath(import.meta.url));

/** Runs the probe script in a fresh Node process with the given environment changes; returns its JSON line. */
function probe(env: Record<string, string | undefined>): { ok: boolean; adapter?: { software: boolean }; icd?: string | null; message?: string; name?: string } {
  const childEnv = { ...process.env, ...env };
  for (const [key, value] of Object.entries(env)) if (value === undefined) delete childEnv[key];
  const stdout = execFileSync(process.execPath, ['--import', 'tsx', join(here, 'fixtures', 'probe-adapter.ts')], {
    env: childEnv,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'ignore'],
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

describe('WebGPU device', () => {
  // The spec's default: workgroup memory zero-initialised (the other test files skip it to save compile time).
  const gpu = useGpu({});

  it('reports the adapter, its limits and its features', () => {
    const g = gpu();
    console.log(`adapter: ${JSON.stringify(g.adapter)}`);
    console.log(
      `limits: workgroup storage ${g.limits.maxComputeWorkgroupStorageSize} B, ` +
        `${g.limits.maxComputeInvocationsPerWorkgroup} invocations, ` +
        `storage binding ${g.limits.maxStorageBufferBindingSize} B; shader-f16: ${g.hasShaderF16}`,
    );
    expect(g.describe()).toContain(g.adapter.vendor);
    expect(g.limits.maxComputeWorkgroupStorageSize).toBeGreaterThanOrEqual(16384);
    expect(g.limits.maxComputeInvocationsPerWorkgroup).toBeGreaterThanOrEqual(256);
    expect(typeof g.hasShaderF16).toBe('boolean');
    // Every compiled kernel fits WebGPU's default of 8 storage buffers a stage, so the device asks for no more: an
    // adapter that allows only 8 runs what this one runs.
    expect(g.device.limits.maxStorageBuffersPerShaderStage).toBe(8);
  });

  it('runs attention with zero-initialised workgroup memory', async () => {
    const result = await runCase(gpu(), {
      batch: 1, lq: 19, lk: 19, heads: 2, kvHeads: 1, headDim: 32, fixture: causalTopLeft, kernel: { tiles: { q: 8, k: 8 } },
    });
    expect(result.error).toBeLessThanOrEqual(1e-4);
  });

  it('reports WGSL that does not compile with the offending line', async () => {
    const broken = { ...causalTopLeft, wgsl: { ...causalTopLeft.wgsl, code: 'fn mdl_mask(b: i32, h: i32, q: i32, k: i32) -> bool {\n  return k <= ;\n}' } };
    const c = { batch: 1, lq: 3, lk: 3, heads: 1, kvHeads: 1, headDim: 4, fixture: broken };
    await expect(runCase(gpu(), c)).rejects.toThrow(/generated WGSL does not compile:\n  line \d+:\d+: .*\n    return k <= ;/);
    expect(() => gpu().checkHealthy()).not.toThrow();
  });

  it('turns an uncaptured WebGPU error into an exception at the next check', async () => {
    const messages: string[] = [];
    const g = await acquireGpu({ onUncapturedError: (m) => messages.push(m) });
    try {
      // Mapped for reading and used as storage: invalid, and outside any error scope.
      g.device.createBuffer({ size: 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.STORAGE });
      for (let i = 0; i < 50 && messages.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(messages.length).toBe(1);
      expect(() => g.checkHealthy()).toThrow(/WebGPU reported errors/);
      expect(() => g.checkHealthy()).not.toThrow();
    } finally {
      g.release();
    }
    expect(() => g.checkHealthy()).toThrow(/released/);
    g.release(); // a second release is harmless
  });

  describe.runIf(process.platform === 'linux')('adapter discovery in a fresh process', () => {
    it('finds an adapter with no Vulkan driver configured, falling back to SwiftShader', () => {
      const result = probe({ VK_ICD_FILENAMES: undefined, VK_DRIVER_FILES: undefined });
      expect(result.ok, result.message).toBe(true);
      // A machine with a real GPU keeps it; one without gets SwiftShader through the variable we set.
      if (result.adapter!.software && existsSync(SWIFTSHADER_ICD)) expect(result.icd).toBe(SWIFTSHADER_ICD);
    });

    it('says what to install when no adapter can be found', () => {
      const result = probe({ VK_ICD_FILENAMES: '/nonexistent/icd.json' });
      expect(result.ok).toBe(false);
      expect(result.name).toBe('NoGpuAdapterError');
      expect(result.message).toContain('apt-get install -y chromium libvulkan1');
      expect(result.message).toContain('/nonexistent/icd.json');
    });
  });
});
