// Drives ONNX Runtime Web's WebGPU execution provider in headless Chromium for the attention comparison. Chromium
// runs WebGPU on SwiftShader here, the same software Vulkan driver Dawn uses in Node, so both sides share an adapter
// kind; the browser's own adapter description is recorded beside the numbers.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
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
      time(): Promise<number>;
      release(): Promise<void>;
    };
  }
}

export class OrtBrowser {
  private constructor(
    private readonly server: BenchServer,
    private readonly context: BrowserContext,
    private readonly page: Page,
    private readonly profileDir: string,
    readonly adapter: OrtAdapter,
    readonly consoleLines: string[],
  ) {}

  /** Starts the server and Chromium and checks that the page has a WebGPU adapter; throws with the reason if not. */
  static async start(): Promise<OrtBrowser> {
    const server = await startBenchServer();
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
      return new OrtBrowser(server, context, page, profileDir, adapter, lines);
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

  async close(): Promise<void> {
    await this.page.evaluate(() => window.ortBench.release()).catch(() => {});
    await this.context.close().catch(() => {});
    await this.server.close();
    rmSync(this.profileDir, { recursive: true, force: true });
  }
}
