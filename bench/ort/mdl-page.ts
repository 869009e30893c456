// Browser side of mdl's own attention kernels in the ORT comparison page: the same generator and runtime modules as
// in Node (bundled by esbuild, see mdl-page-bundle.ts), run on a device from the page's `navigator.gpu`, so that mdl
// and ONNX Runtime Web are timed inside one Chromium on one WebGPU implementation. The driver (mdl-chromium.ts)
// calls `window.mdlBench.*` through page.evaluate; inputs arrive as blobs from the bench server, like ORT's.
//
// A timed run is the same as ORT's in page.js: performance.now() around submit and the queue's onSubmittedWorkDone,
// inputs and output resident on the device.

import { attentionKernelFor, prepareAttention, type PreparedAttention } from '../../src/runtime/attention-run.ts';
import { acquireGpu, type GpuContext } from '../../src/runtime/device.ts';
import type { MaskEnv, MaskWgsl } from '../../src/masks/kernel-contract.ts';
import type { TileChoice } from '../../src/tune/variants.ts';
import { prepareUnfused, type PreparedUnfused } from '../unfused-attention.ts';

/** What the driver asks for: one fused kernel, or the unfused path, over blobs the server holds. */
export interface MdlPageCase {
  kind: 'fused' | 'unfused';
  heads: number;
  headDim: number;
  lq: number;
  lk: number;
  /** Blob names of Q, K, V (f32, [1, L, H, D]). */
  q: string;
  k: string;
  v: string;
  /** fused: the compiled mask (null: none), its inputs (Int32 data as plain arrays) and tile choice. */
  mask?: MaskWgsl | null;
  maskEnv?: { dims: Record<string, number>; data: Record<string, number[]>; strides?: Record<string, number> };
  tiles?: TileChoice;
  /** fused: blob of u32 tile classes from mdl's classifier; unfused: blob of the dense 0/1 mask as u8. */
  classes?: string;
  denseMask?: string;
}

/** The kernel the page generated, so that the driver can check it classified tiles for the same shape. */
export interface MdlPagePrepared {
  tileQ: number;
  tileK: number;
  lanes: number;
  rowwise: boolean;
}

export interface MdlPageAdapter {
  description: string;
  maxComputeWorkgroupStorageSize: number;
}

declare global {
  interface Window {
    mdlBenchReady?: boolean;
    mdlBench: {
      adapter(): Promise<MdlPageAdapter>;
      prepare(id: string, c: MdlPageCase): Promise<MdlPagePrepared | null>;
      time(id: string): Promise<number>;
      diff(id: string, reference: string): Promise<number>;
      release(id?: string): void;
    };
  }
}

let gpu: GpuContext | undefined;
const runs = new Map<string, PreparedAttention | PreparedUnfused>();

async function device(): Promise<GpuContext> {
  gpu ??= await acquireGpu({ onUncapturedError: (m) => console.error(`[mdl page] WebGPU error: ${m}`) });
  return gpu;
}

async function blob(name: string): Promise<ArrayBuffer> {
  const res = await fetch(`/blob/${name}`);
  if (!res.ok) throw new Error(`blob ${name}: HTTP ${res.status}`);
  return res.arrayBuffer();
}

function maskEnvOf(e: MdlPageCase['maskEnv']): MaskEnv | undefined {
  if (!e) return undefined;
  return { dims: e.dims, data: Object.fromEntries(Object.entries(e.data).map(([k, v]) => [k, Int32Array.from(v)])), ...(e.strides ? { strides: e.strides } : {}) };
}

function release(id?: string): void {
  for (const [key, run] of runs) {
    if (id !== undefined && key !== id) continue;
    run.destroy();
    runs.delete(key);
  }
}

window.mdlBench = {
  async adapter() {
    const g = await device();
    return { description: g.describe(), maxComputeWorkgroupStorageSize: g.limits.maxComputeWorkgroupStorageSize };
  },

  async prepare(id, c) {
    release(id);
    const g = await device();
    const [q, k, v] = (await Promise.all([blob(c.q), blob(c.k), blob(c.v)])).map((b) => new Float32Array(b));
    if (c.kind === 'unfused') {
      const mask = c.denseMask ? new Uint8Array(await blob(c.denseMask)) : undefined;
      runs.set(id, await prepareUnfused(g, { batch: 1, lq: c.lq, lk: c.lk, heads: c.heads, kvHeads: c.heads, headDim: c.headDim, q, k, v, mask }));
      return null;
    }
    const kernel = attentionKernelFor(g, { headDim: c.headDim, heads: c.heads, kvHeads: c.heads, mask: c.mask ?? null, tiles: c.tiles });
    const tileClasses = c.classes ? new Uint32Array(await blob(c.classes)) : undefined;
    runs.set(id, await prepareAttention(g, kernel, { batch: 1, lq: c.lq, lk: c.lk, q, k, v, maskEnv: maskEnvOf(c.maskEnv), tileClasses }));
    return { tileQ: kernel.tileQ, tileK: kernel.tileK, lanes: kernel.lanes, rowwise: !!c.tiles?.rowwise };
  },

  async time(id) {
    const run = runs.get(id);
    if (!run) throw new Error(`nothing prepared as '${id}'`);
    return run.time();
  },

  /** Largest |output − reference| over the whole output (NaN when either has a NaN): a wrong kernel cannot win. */
  async diff(id, reference) {
    const run = runs.get(id);
    if (!run) throw new Error(`nothing prepared as '${id}'`);
    const [out, ref] = [await run.output(), new Float32Array(await blob(reference))];
    if (out.length !== ref.length) throw new Error(`output has ${out.length} values, the reference ${ref.length}`);
    let worst = 0;
    for (let i = 0; i < out.length; i++) {
      const d = Math.abs(out[i] - ref[i]);
      if (Number.isNaN(d)) return NaN;
      worst = Math.max(worst, d);
    }
    return worst;
  },

  release,
};

window.mdlBenchReady = true;
