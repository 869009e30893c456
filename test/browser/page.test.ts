// The browser page in headless Chromium (Debian's /usr/bin/chromium, WebGPU on SwiftShader): it compiles and runs
// the translator with the same modules as Node, its logits equal the Node run's within 1e-5, and it draws the masks.

import { mkdtempSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { checkSource } from '../../src/check/check.ts';
import { servePage, TOKENIZER_PATH, WEIGHTS_PATH } from '../../src/cli/serve-command.ts';
import { lower } from '../../src/lower/passes.ts';
import { acquireGpu } from '../../src/runtime/device.ts';
import { CachedDecoder } from '../../src/runtime/cached-decoder.ts';
import { generate, gpuForward, probeInputs } from '../../src/runtime/generate.ts';
import { loadWeights, seededWeightsFile } from '../../src/runtime/weights.ts';
import { byteTokenizer, tokenizerOptionsOf } from '../../src/runtime/tokenizer.ts';
import { runProgram } from '../../src/runtime/program.ts';
import { tokenizerFromJson } from '../../src/runtime/tokenizer-json.ts';
import { llama2Config, llama2Json } from '../tokenizer/fixtures.ts';

const CHROMIUM_FLAGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

describe('the browser page', () => {
  let server: Server;
  let url: string;
  let weightsPath: string;
  let browser: BrowserContext;

  beforeAll(async () => {
    // Weights the page fetches and checks like Node: seed 5, so a page that fell back to its seeded default would differ.
    const translator = checkSource(readFileSync(join(import.meta.dirname, '..', '..', 'specs', 'translator.mdl'), 'utf8'), 'translator.mdl').model!;
    weightsPath = join(mkdtempSync(join(tmpdir(), 'mdl-page-weights-')), 'translator.safetensors');
    writeFileSync(weightsPath, seededWeightsFile(lower(translator).ir, 5));
    ({ server, url } = await servePage(0, weightsPath));
    browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'mdl-chromium-')), { executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_FLAGS });
  });

  afterAll(async () => {
    await browser?.close();
    server?.close();
  });

  it('runs the translator on WebGPU with a weights file, matching Node within 1e-5, and draws its masks', async () => {
    const page = await browser.newPage();
    const logs: string[] = [];
    page.on('console', (m) => logs.push(m.text()));
    await page.goto(`${url}?spec=specs/translator.mdl&max=3&weights=${WEIGHTS_PATH}`);
    await page.waitForFunction(() => window.mdlResult || window.mdlError, undefined, { timeout: 120_000 });
    const error = await page.evaluate(() => window.mdlError);
    expect(error, logs.join('\n')).toBeUndefined();
    const result = (await page.evaluate(() => window.mdlResult))!;
    console.log(`browser adapter: ${result.adapter}`);
    expect(result.tokens).toHaveLength(3);
    expect(result.masks).toEqual(['src_keys', 'look_back', 'memory']);

    // The same forward pass in Node, on Dawn.
    const model = checkSource(readFileSync(join(import.meta.dirname, '..', '..', 'specs', 'translator.mdl'), 'utf8'), 'translator.mdl').model!;
    const lowered = lower(model);
    const codec = byteTokenizer(tokenizerOptionsOf(model));
    const gpu = await acquireGpu({ skipWorkgroupZeroInit: true });
    try {
      const probe = probeInputs(model, codec.encode('我喜欢吃苹果'), []);
      const weights = loadWeights(readFileSync(weightsPath), lowered.ir, weightsPath);
      const logits = (await runProgram(gpu, lowered, model, { ...probe, weights })).get(lowered.program.outputs[0])!;
      expect(result.logits).toHaveLength(logits.length);
      let err = 0;
      logits.forEach((v, i) => (err = Math.max(err, Math.abs(v - result.logits[i]))));
      expect(err).toBeLessThanOrEqual(1e-5);
      // Generation in the page used the KV cache, and chose the tokens Node chooses with it.
      expect(result.decoding).toBe('KV cache');
      const cache = new CachedDecoder(gpu, lowered, model, weights);
      const tokens = await generate(model, gpuForward(gpu, lowered, model, weights), { prompt: [], source: codec.encode('我喜欢吃苹果'), maxNew: 3, greedy: true, cache });
      cache.destroy();
      expect(result.tokens).toEqual(tokens);
    } finally {
      gpu.release();
    }

    // The mask pictures are rendered: the decoder's causal mask has dark cells on and below the diagonal only.
    const shot = await page.locator('canvas[data-mask="look_back"]').screenshot();
    expect(shot.length).toBeGreaterThan(500);
    const cells = await page.evaluate(() => {
      const c = document.querySelector('canvas[data-mask="look_back"]') as HTMLCanvasElement;
      const ctx = c.getContext('2d')!;
      const { gridX, gridY, cell } = JSON.parse(c.dataset.layout!) as { gridX: number; gridY: number; cell: number };
      const dark = (q: number, k: number) => ctx.getImageData(gridX + k * cell + cell - 4, gridY + q * cell + cell - 4, 1, 1).data[0] < 100;
      return { below: dark(5, 2), above: dark(2, 5), diagonal: dark(4, 4) };
    });
    expect(cells).toEqual({ below: true, above: false, diagonal: true });
    await page.screenshot({ path: join(tmpdir(), 'mdl-page.png'), fullPage: true });
  });

  it('encodes and decodes with a tokenizer.json served beside the page, as Node does', async () => {
    // The Llama 2 layout fixture (275 ids, <s> 1, </s> 2) fits the translator's vocabulary and specials.
    const dir = mkdtempSync(join(tmpdir(), 'mdl-page-tokenizer-'));
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(llama2Json()));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(llama2Config));
    const served = await servePage(0, weightsPath, join(dir, 'tokenizer.json'));
    try {
      const page = await browser.newPage();
      await page.goto(`${served.url}?spec=specs/translator.mdl&max=2&weights=${WEIGHTS_PATH}&tokenizer=${TOKENIZER_PATH}&source=${encodeURIComponent('hello 我')}`);
      await page.waitForFunction(() => window.mdlResult || window.mdlError, undefined, { timeout: 120_000 });
      expect(await page.evaluate(() => window.mdlError)).toBeUndefined();
      const result = (await page.evaluate(() => window.mdlResult))!;
      // ▁hello, ▁, then 我 as byte tokens 0xE6+3, 0x88+3, 0x91+3 (worked out in test/tokenizer/tokenizer-json.test.ts).
      expect(result.input).toEqual([271, 259, 0xe6 + 3, 0x88 + 3, 0x91 + 3]);
      const translator = checkSource(readFileSync(join(import.meta.dirname, '..', '..', 'specs', 'translator.mdl'), 'utf8'), 'translator.mdl').model!;
      const codec = tokenizerFromJson(llama2Json(), llama2Config, tokenizerOptionsOf(translator), 'tokenizer.json');
      expect(result.text).toBe(codec.decode(result.tokens));
    } finally {
      served.server.close();
    }
  });
});
