// Drives ONNX Runtime Web's WebGPU execution provider in headless Chromium for the attention comparison. Chromium
// runs WebGPU on SwiftShader here, the same software Vulkan driver Dawn uses in Node, so both sides share an adapter
// kind; the browser's own adapter description is recorded beside the numbers.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { buildMdlPageBundle } from './mdl-page-bundle.ts';
import type { MdlPageAdapter, MdlPageCase, MdlPagePrepared } from './mdl-page.ts';
import { multiHeadAttentionModel, type MhaModelShape } from './onnx-model.ts';
import { startBenchServer, type BenchServer } from './static-server.ts';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_FLAGS = [
  '--headless',
  '--no-sandbox',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-webgpu-adapter=swiftshader',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

export interface OrtAdapter {
  vendor: string;
  architecture: string;
  description: string;
  ort: string;
  /** How ORT's device differs from the one it would create itself ('' when it does not). */
  workaround: string;
}

export interface OrtCase extends MhaModelShape {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  /** [Lq, Lk] additive bias (0 visible, large negative hidden), when `withBias`. */
  bias?: Float32Array;
}

declare global {
  interface Window {
    ortBenchReady?: boolean;
    ortBench: {
      adapter(): Promise<OrtAdapter | null>;
      prepare(c: { model: string; inputs: { name: string; blob: string; dims: number[] }[] }): Promise<string[]>;
      sample(stride: number): Promise<number[]>;
      diff(reference: string): Promise<number>;
      time(): Promise<number>;
      release(): Promise<void>;
    };
  }
}

export interface StartOptions {
  /** Also load mdl's page bundle, so that mdl's kernels run in the same page (`mdl`). */
  mdl?: boolean;
}

export class OrtBrowser {
  private constructor(
    private readonly server: BenchServer,
    private readonly context: BrowserContext,
    private readonly page: Page,
    private readonly profileDir: string,
    readonly adapter: OrtAdapter,
    readonly consoleLines: string[],
    /** mdl in the same page, when started with `mdl: true`. */
    readonly mdl: MdlInPage | undefined,
  ) {}

  /** Starts the server and Chromium and checks that the page has a WebGPU adapter; throws with the reason if not. */
  static async start(options: StartOptions = {}): Promise<OrtBrowser> {
    const server = await startBenchServer();
    if (options.mdl) server.putScript('mdl-page.js', await buildMdlPageBundle());
    const profileDir = mkdtempSync(join(tmpdir(), 'mdl-bench-chromium-'));
    let context: BrowserContext | undefined;
    try {
      context = await chromium.launchPersistentContext(profileDir, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
      const page = await context.newPage();
      const lines: string[] = [];
      page.on('console', (m) => lines.push(m.text()));
      page.on('pageerror', (e) => lines.push(`page error: ${e.message}`));
      await page.goto(server.url);
      await page.waitForFunction(() => window.ortBenchReady === true, undefined, { timeout: 60_000 });
      const adapter = await page.evaluate(() => window.ortBench.adapter());
      if (!adapter) throw new Error('Chromium exposes navigator.gpu but returned no WebGPU adapter');
      let mdl: MdlInPage | undefined;
      if (options.mdl) {
        await page.addScriptTag({ url: '/mdl-page.js', type: 'module' });
        await page.waitForFunction(() => window.mdlBenchReady === true, undefined, { timeout: 60_000 });
        mdl = new MdlInPage(page, await page.evaluate(() => window.mdlBench.adapter()));
      }
      return new OrtBrowser(server, context, page, profileDir, adapter, lines, mdl);
    } catch (error) {
      await context?.close().catch(() => {});
      await server.close();
      rmSync(profileDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Builds the model for this case, uploads its inputs into ORT's device and creates the session. */
  async prepare(c: OrtCase): Promise<void> {
    const hidden = c.heads * c.headDim;
    const asBytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    this.server.putBlob('model', multiHeadAttentionModel(c));
    this.server.putBlob('q', asBytes(c.q));
    this.server.putBlob('k', asBytes(c.k));
    this.server.putBlob('v', asBytes(c.v));
    const inputs = [
      { name: 'query', blob: 'q', dims: [c.batch, c.lq, hidden] },
      { name: 'key', blob: 'k', dims: [c.batch, c.lk, hidden] },
      { name: 'value', blob: 'v', dims: [c.batch, c.lk, hidden] },
    ];
    if (c.withBias) {
      if (!c.bias) throw new Error('withBias needs the bias values');
      this.server.putBlob('bias', asBytes(c.bias));
      inputs.push({ name: 'attention_bias', blob: 'bias', dims: [1, 1, c.lq, c.lk] });
    }
    await this.page.evaluate((config) => window.ortBench.prepare(config), { model: 'model', inputs });
  }

  sample(stride: number): Promise<number[]> {
    return this.page.evaluate((s) => window.ortBench.sample(s), stride);
  }

  time(): Promise<number> {
    return this.page.evaluate(() => window.ortBench.time());
  }

  /** Runs once and returns the largest difference of the whole output from the f32 blob `reference`. */
  diff(reference: string): Promise<number> {
    return this.page.evaluate((r) => window.ortBench.diff(r), reference);
  }

  /** Makes bytes available to the page at /blob/NAME (inputs shared by ORT and mdl, reference outputs). */
  putBlob(name: string, data: Float32Array | Uint32Array | Uint8Array): void {
    this.server.putBlob(name, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }

  async close(): Promise<void> {
    await this.page.evaluate(() => window.mdlBench?.release()).catch(() => {});
    await this.page.evaluate(() => window.ortBench.release()).catch(() => {});
    await this.context.close().catch(() => {});
    await this.server.close();
    rmSync(this.profileDir, { recursive: true, force: true });
  }
}

/** mdl's kernels in the ORT page: prepared from blobs, timed and checked in the page (see mdl-page.ts). */
export class MdlInPage {
  constructor(
    private readonly page: Page,
    readonly adapter: MdlPageAdapter,
  ) {}

  prepare(id: string, c: MdlPageCase): Promise<MdlPagePrepared | null> {
    return this.page.evaluate(([i, x]) => window.mdlBench.prepare(i, x), [id, c] as const);
  }

  time(id: string): Promise<number> {
    return this.page.evaluate((i) => window.mdlBench.time(i), id);
  }

  diff(id: string, reference: string): Promise<number> {
    return this.page.evaluate(([i, r]) => window.mdlBench.diff(i, r), [id, reference] as const);
  }

  release(id?: string): Promise<void> {
    return this.page.evaluate((i) => window.mdlBench.release(i), id);
  }
}
