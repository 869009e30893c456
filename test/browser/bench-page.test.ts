// The benchmark's Chromium page with mdl's bundle (bench/ort/mdl-page.ts): the bundle builds, loads beside ORT Web,
// and its kernels — the default shape and a row-wise one, with a causal mask at a length that leaves ragged tiles —
// compute attention in Chromium that agrees with the f64 CPU oracle and with the same kernel run in Node. The page's
// comparison itself is checked to see a wrong output, since the benchmark trusts it to drop wrong kernels.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { maskFunction } from '../../src/masks/evaluate.ts';
import { attentionCpu } from '../../src/runtime/attention-cpu.ts';
import { attentionKernelFor, runAttention } from '../../src/runtime/attention-run.ts';
import { acquireGpu, type GpuContext } from '../../src/runtime/device.ts';
import type { TileChoice } from '../../src/tune/variants.ts';
import { seededFloats } from '../../bench/data.ts';
import { benchMasks, tileClassesFor } from '../../bench/masks.ts';
import { OrtBrowser } from '../../bench/ort/ort-browser.ts';

const [L, H, D] = [40, 8, 64];

describe("mdl's kernels in the benchmark's Chromium page", () => {
  let browser: OrtBrowser;
  let gpu: GpuContext;

  beforeAll(async () => {
    gpu = await acquireGpu({ skipWorkgroupZeroInit: true });
    browser = await OrtBrowser.start({ mdl: true });
  });

  afterAll(async () => {
    await browser?.close();
    gpu?.release();
  });

  it('computes causal attention equal to the f64 oracle and to Node, for the default and the row-wise shape', async () => {
    const page = browser.mdl!;
    expect(page.adapter.description).toMatch(/\S/);
    const mask = benchMasks().find((m) => m.id === 'causal')!;
    const env = mask.env(L, L);
    const [q, k, v] = [1, 2, 3].map((seed) => seededFloats(L * H * D, seed));
    for (const [name, data] of [['q', q], ['k', k], ['v', v]] as const) browser.putBlob(name, data);
    const oracle = Float32Array.from(attentionCpu({ batch: 1, lq: L, lk: L, heads: H, kvHeads: H, headDim: D }, q, k, v, { mask: maskFunction(mask.pred, env) }));
    browser.putBlob('oracle', oracle);
    const shapes: (TileChoice | undefined)[] = [undefined, { q: 32, k: 32, lanes: 1, rowwise: true }];
    for (const [i, tiles] of shapes.entries()) {
      const kernel = attentionKernelFor(gpu, { headDim: D, heads: H, kvHeads: H, mask: mask.wgsl, tiles });
      const classes = tileClassesFor(mask, kernel, L, L);
      browser.putBlob(`classes-${i}`, classes);
      const made = await page.prepare(`shape ${i}`, { kind: 'fused', heads: H, headDim: D, lq: L, lk: L, q: 'q', k: 'k', v: 'v', mask: mask.wgsl, maskEnv: { dims: env.dims, data: {} }, tiles, classes: `classes-${i}` });
      expect(made).toEqual({ tileQ: kernel.tileQ, tileK: kernel.tileK, lanes: kernel.lanes, rowwise: !!tiles?.rowwise });
      expect(await page.time(`shape ${i}`)).toBeGreaterThan(0);
      expect(await page.diff(`shape ${i}`, 'oracle')).toBeLessThan(1e-5);
      const node = await runAttention(gpu, kernel, { batch: 1, lq: L, lk: L, q, k, v, maskEnv: env, tileClasses: classes });
      browser.putBlob(`node-${i}`, node);
      expect(await page.diff(`shape ${i}`, `node-${i}`)).toBeLessThan(1e-6);
    }
    // One value moved by 0.5: the comparison the benchmark relies on must report it.
    const wrong = oracle.slice();
    wrong[L * H * D - 1] += 0.5;
    browser.putBlob('wrong', wrong);
    expect(await page.diff('shape 1', 'wrong')).toBeGreaterThan(0.49);
    await page.release();
  }, 120_000);
});
