// The subgroup form of the row-wise attention kernel in Chromium's WebGPU, not only in Dawn for Node: the page's
// device (requested with `subgroups`, as mdl requests it) compiles the generated WGSL (`enable subgroups;` and its
// diagnostic directive) and its output matches the CPU oracle, on a workgroup that leaves a subgroup partly empty.

import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attentionCpu } from '../../src/runtime/attention-cpu.ts';
import { attentionGrid, attentionParams, generateAttentionKernel } from '../../src/wgsl/attention.ts';
import { TileClass } from '../../src/masks/kernel-contract.ts';
import { CHROMIUM, CHROMIUM_FLAGS, startServe, type Served } from '../support/serve-page.ts';

describe('the subgroup attention kernel in Chromium', () => {
  let served: Served;
  let browser: Browser;

  beforeAll(async () => {
    served = await startServe();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  });

  afterAll(async () => {
    await browser?.close();
    served?.child.kill('SIGINT');
    await served?.exit;
  });

  it('compiles and matches the CPU oracle (18 rows a workgroup, 8-key tiles, Lq ≠ Lk, GQA)', async () => {
    const shape = { batch: 2, lq: 23, lk: 29, heads: 4, kvHeads: 2, headDim: 32 };
    const kernel = generateAttentionKernel({ headDim: shape.headDim, heads: shape.heads, kvHeads: shape.kvHeads, tiles: { q: 18, k: 8, lanes: 1, rowwise: true, subgroups: true } });
    expect(kernel.wgsl.startsWith('enable subgroups;')).toBe(true);
    expect(kernel.bindings.map((b) => b.role)).toEqual(['q', 'k', 'v', 'out', 'tileClass']);
    const grid = attentionGrid(kernel, shape.batch, shape.lq, shape.lk);
    const values = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin((i + 1) * 12.9898 + seed) * 0.8);
    const q = values(shape.batch * shape.lq * shape.heads * shape.headDim, 1);
    const k = values(shape.batch * shape.lk * shape.kvHeads * shape.headDim, 2);
    const v = values(shape.batch * shape.lk * shape.kvHeads * shape.headDim, 3);
    const input = {
      wgsl: kernel.wgsl,
      entryPoint: kernel.entryPoint,
      workgroups: grid.dispatch,
      params: Array.from(attentionParams(kernel, grid, shape.lq, shape.lk)),
      q, k, v,
      outLength: q.length,
      classes: Array.from({ length: grid.tileClassCount }, () => TileClass.Full),
    };

    const page = await browser.newPage();
    await page.goto(`${served.url}?run=0`);
    const result = await page.evaluate(async (c) => {
      const adapter = (await navigator.gpu.requestAdapter())!;
      const info = adapter.info as GPUAdapterInfo & { subgroupMinSize?: number; subgroupMaxSize?: number };
      const sizes = [info.subgroupMinSize, info.subgroupMaxSize];
      if (!adapter.features.has('subgroups')) return { sizes, error: 'no subgroups feature', out: [] as number[] };
      const device = await adapter.requestDevice({ requiredFeatures: ['subgroups' as GPUFeatureName] });
      device.pushErrorScope('validation');
      const module = device.createShaderModule({ code: c.wgsl });
      const messages = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error').map((m) => m.message);
      const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: c.entryPoint } });
      const storage = (data: ArrayBufferView<ArrayBuffer>, usage = 0) => {
        const b = device.createBuffer({ size: Math.max(16, data.byteLength), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST | usage });
        device.queue.writeBuffer(b, 0, data);
        return b;
      };
      const uniforms = device.createBuffer({ size: c.params.length * 4, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
      device.queue.writeBuffer(uniforms, 0, Uint32Array.from(c.params));
      const out = storage(new Float32Array(c.outLength), GPUBufferUsage.COPY_SRC);
      const buffers = [uniforms, storage(Float32Array.from(c.q)), storage(Float32Array.from(c.k)), storage(Float32Array.from(c.v)), out, storage(Uint32Array.from(c.classes))];
      const bind = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: buffers.map((buffer, binding) => ({ binding, resource: { buffer } })) });
      const read = device.createBuffer({ size: c.outLength * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      pass.dispatchWorkgroups(c.workgroups[0], c.workgroups[1], c.workgroups[2]);
      pass.end();
      encoder.copyBufferToBuffer(out, 0, read, 0, c.outLength * 4);
      device.queue.submit([encoder.finish()]);
      const scope = await device.popErrorScope();
      await read.mapAsync(GPUMapMode.READ);
      const result = Array.from(new Float32Array(read.getMappedRange()));
      device.destroy();
      return { sizes, error: [...messages, scope?.message].filter(Boolean).join('\n'), out: result };
    }, input);
    await page.close();

    console.log(`Chromium's adapter: subgroups of ${result.sizes.join(' to ')} lanes`);
    expect(result.error).toBe('');
    expect(result.sizes.every((s) => typeof s === 'number' && s >= 1)).toBe(true);
    const cpu = attentionCpu(shape, Float32Array.from(q), Float32Array.from(k), Float32Array.from(v));
    let worst = 0;
    for (let i = 0; i < cpu.length; i++) worst = Math.max(worst, Math.abs(result.out[i] - cpu[i]));
    expect(worst).toBeLessThanOrEqual(1e-4);
  });
});
