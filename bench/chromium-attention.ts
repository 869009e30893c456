// mdl and ONNX Runtime Web in one Chromium: mdl's fused attention kernels (the default shape and the tuner's row-wise
// candidates), ORT Web's MultiHeadAttention and the unfused three-dispatch path all run in the same page, on the
// page's WebGPU (Chromium's Dawn on SwiftShader here), so the ratio to ORT compares kernels, not runtimes. The same mdl
// kernels also run in Node on Dawn from the `webgpu` package, the runtime of the rest of the report.
//
// Every contender gets one warm-up run, then the rounds take one sample of each contender in turn (A B C … A B C …),
// so that load on a shared machine falls on all of them alike; medians are compared. A sample is what page.js times
// for ORT: performance.now() around the submit and the queue's onSubmittedWorkDone, inputs and output resident. Every
// contender's whole output is compared with mdl's Node output (itself checked against the f64 CPU oracle at the
// smallest length) before its time is kept, so a wrong kernel cannot win.

import { maskFunction } from '../src/masks/evaluate.ts';
import { attentionCpu } from '../src/runtime/attention-cpu.ts';
import { attentionKernelFor, prepareAttention, type PreparedAttention } from '../src/runtime/attention-run.ts';
import type { GpuContext } from '../src/runtime/device.ts';
import { median } from '../src/tune/measure.ts';
import { attentionSignature } from '../src/tune/signature.ts';
import { tunedTilesFor } from '../src/tune/tuned-tiles.ts';
import { attentionVariants, tileLabel, type TileChoice } from '../src/tune/variants.ts';
import { maxAbsDiff, seededFloats } from './data.ts';
import { benchMasks, denseMask, tileClassesFor, type BenchMask } from './masks.ts';
import type { MdlPageCase } from './ort/mdl-page.ts';
import { prepareUnfused, type PreparedUnfused } from './unfused-attention.ts';
import type { OrtBrowser } from './ort/ort-browser.ts';
import type { Section } from './results.ts';

const HEADS = 8;
const HEAD_DIM = 64;
/** An output further than this from mdl's Node output computes something else: its time is not kept. */
export const CHROMIUM_MAX_DIFF = 1e-3;

export type Runtime = 'chromium' | 'node';

export interface ChromiumContender {
  id: string;
  runtime: Runtime;
  /** 'mdl' kernels carry their tile shape; 'ort' and 'unfused' are the comparators. */
  kind: 'mdl' | 'ort' | 'unfused';
  label: string;
  /** True for the generator's default shape (what runs when nothing was tuned). */
  isDefault?: boolean;
}

export interface ChromiumRow {
  length: number;
  maskId: string;
  mask: string;
  contenders: ChromiumContender[];
  /** Per contender id: every timed sample (ms), in the order taken. */
  samples: Record<string, number[]>;
  /** Per contender id: largest |diff| of its whole output from mdl's Node output (default shape). */
  maxDiff: Record<string, number>;
  /** mdl's Node output against the f64 CPU oracle (smallest length only). */
  oracleDiff?: number;
  /** Contenders not run, and why. */
  skipped: Record<string, string>;
}

export interface ChromiumSection extends Section<ChromiumRow[]> {
  rounds: number;
  warmup: number;
  nodeAdapter: string;
  /** The adapter of mdl's device in the page. */
  browserAdapter: string;
  /** How ORT's device differs from the one it would create itself ('' when it does not). */
  ortWorkaround: string;
  ortVersion: string;
}

export interface ChromiumOptions {
  lengths: number[];
  maskIds: string[];
  rounds: number;
  /** The unfused path runs every mask up to this length, only 'none' above it (its work ignores the mask). */
  unfusedMasksUpTo: number;
  log(line: string): void;
  step(what: string): void;
}

/** The shapes mdl runs: the one the suite runs (tuned, or the generator's default) and the tuner's row-wise candidates. */
export function mdlShapes(gpu: GpuContext, mask: BenchMask): { tiles: TileChoice | undefined; label: string; isDefault: boolean }[] {
  const sig = attentionSignature({ headDim: HEAD_DIM, heads: HEADS, kvHeads: HEADS, mask: mask.wgsl });
  const chosen = tunedTilesFor(gpu.adapter, sig, { limits: gpu.limits, subgroups: gpu.subgroups });
  // The tuner's own candidate list, as `mdl tune` builds it for this device (subgroup forms only where it offers them).
  const rowwise = attentionVariants(HEAD_DIM, gpu.limits, undefined, gpu.subgroups).filter((t) => t.rowwise);
  const first = { tiles: chosen.source === 'tuned' ? chosen : undefined, label: `${tileLabel(chosen)} (${chosen.source})`, isDefault: true };
  return [first, ...rowwise.filter((t) => tileLabel(t) !== tileLabel(chosen)).map((t) => ({ tiles: t, label: tileLabel(t), isDefault: false }))];
}

function inputsFor(length: number) {
  const n = length * HEADS * HEAD_DIM;
  return { q: seededFloats(n, length * 3 + 1), k: seededFloats(n, length * 3 + 2), v: seededFloats(n, length * 3 + 3) };
}

type Sampler = () => Promise<number>;

export async function runChromiumAttention(gpu: GpuContext, browser: OrtBrowser, o: ChromiumOptions): Promise<ChromiumRow[]> {
  const page = browser.mdl;
  if (!page) throw new Error('the browser was started without mdl\'s page bundle (OrtBrowser.start({ mdl: true }))');
  const masks = benchMasks().filter((m) => o.maskIds.includes(m.id));
  const rows: ChromiumRow[] = [];
  for (const length of o.lengths) {
    const { q, k, v } = inputsFor(length);
    for (const name of ['q', 'k', 'v'] as const) browser.putBlob(name, { q, k, v }[name]);
    for (const mask of masks) {
      o.step(`L=${length} ${mask.label}: mdl (Node, Chromium), ORT, unfused in one Chromium`);
      const env = mask.env(length, length);
      const dense = mask.wgsl ? denseMask(mask, length, length) : undefined;
      const contenders: ChromiumContender[] = [];
      const samplers = new Map<string, Sampler>();
      const nodeRuns: PreparedAttention[] = [];
      let nodeUnfused: PreparedUnfused | undefined;
      const row: ChromiumRow = { length, maskId: mask.id, mask: mask.label, contenders, samples: {}, maxDiff: {}, skipped: {} };
      const checks: (() => Promise<void>)[] = [];
      let reference: Float32Array = new Float32Array(0);
      try {
        for (const [i, shape] of mdlShapes(gpu, mask).entries()) {
          const kernel = attentionKernelFor(gpu, { headDim: HEAD_DIM, heads: HEADS, kvHeads: HEADS, mask: mask.wgsl, tiles: shape.tiles });
          const classes = mask.wgsl ? tileClassesFor(mask, kernel, length, length) : undefined;
          const nodeRun = await prepareAttention(gpu, kernel, { batch: 1, lq: length, lk: length, q, k, v, maskEnv: env, tileClasses: classes });
          nodeRuns.push(nodeRun);
          const nodeId = `node ${shape.label}`;
          contenders.push({ id: nodeId, runtime: 'node', kind: 'mdl', label: shape.label, isDefault: shape.isDefault });
          samplers.set(nodeId, () => nodeRun.time());
          if (classes) browser.putBlob(`classes-${i}`, classes);
          const pageCase: MdlPageCase = {
            kind: 'fused', heads: HEADS, headDim: HEAD_DIM, lq: length, lk: length, q: 'q', k: 'k', v: 'v',
            mask: mask.wgsl, maskEnv: { dims: env.dims, data: Object.fromEntries(Object.entries(env.data).map(([n, a]) => [n, [...a]])), strides: env.strides },
            tiles: shape.tiles, classes: classes ? `classes-${i}` : undefined,
          };
          const pageId = `chromium ${shape.label}`;
          const made = await page.prepare(pageId, pageCase);
          if (!made || made.tileQ !== kernel.tileQ || made.tileK !== kernel.tileK || made.lanes !== kernel.lanes) {
            throw new Error(`the page generated ${JSON.stringify(made)} for ${shape.label}, Node ${kernel.tileQ}×${kernel.tileK}/${kernel.lanes}: tile classes would not fit`);
          }
          contenders.push({ id: pageId, runtime: 'chromium', kind: 'mdl', label: shape.label, isDefault: shape.isDefault });
          samplers.set(pageId, () => page.time(pageId));
          checks.push(async () => void (row.maxDiff[pageId] = await page.diff(pageId, 'reference')));
        }
        const ortId = 'chromium ORT Web';
        await browser.prepare({ batch: 1, lq: length, lk: length, heads: HEADS, headDim: HEAD_DIM, withBias: !!dense, q, k, v, bias: dense && Float32Array.from(dense, (m) => (m ? 0 : -1e30)) });
        contenders.push({ id: ortId, runtime: 'chromium', kind: 'ort', label: 'ORT Web (WebGPU EP)' });
        samplers.set(ortId, () => browser.time());
        checks.push(async () => void (row.maxDiff[ortId] = await browser.diff('reference')));
        const unfusedId = 'chromium unfused';
        if (length <= o.unfusedMasksUpTo || !mask.wgsl) {
          if (dense) browser.putBlob('dense-mask', dense);
          await page.prepare(unfusedId, { kind: 'unfused', heads: HEADS, headDim: HEAD_DIM, lq: length, lk: length, q: 'q', k: 'k', v: 'v', denseMask: dense ? 'dense-mask' : undefined });
          contenders.push({ id: unfusedId, runtime: 'chromium', kind: 'unfused', label: 'unfused (3 dispatches)' });
          samplers.set(unfusedId, () => page.time(unfusedId));
          checks.push(async () => void (row.maxDiff[unfusedId] = await page.diff(unfusedId, 'reference')));
          // The same three dispatches on Node's Dawn: the baseline the rest of the report compares with.
          const nodeUnfusedId = 'node unfused';
          const run = (nodeUnfused = await prepareUnfused(gpu, { batch: 1, lq: length, lk: length, heads: HEADS, kvHeads: HEADS, headDim: HEAD_DIM, q, k, v, mask: dense }));
          contenders.push({ id: nodeUnfusedId, runtime: 'node', kind: 'unfused', label: 'unfused (3 dispatches)' });
          samplers.set(nodeUnfusedId, () => run.time());
          checks.push(async () => void (row.maxDiff[nodeUnfusedId] = maxAbsDiff(await run.output(), reference)));
        } else {
          row.skipped[unfusedId] = 'same dense work as without a mask (not re-measured)';
          row.skipped['node unfused'] = row.skipped[unfusedId];
        }

        // Warm-up: one untimed run each (pipeline compilation lands here), which also computes the outputs checked.
        for (const c of contenders) await samplers.get(c.id)!();
        reference = await nodeRuns[0].output();
        if (!reference.some((x) => x !== 0)) throw new Error(`mdl's Node output is all zeros at L=${length}, ${mask.label}`);
        if (length === Math.min(...o.lengths)) {
          const shape = { batch: 1, lq: length, lk: length, heads: HEADS, kvHeads: HEADS, headDim: HEAD_DIM };
          row.oracleDiff = maxAbsDiff(reference, attentionCpu(shape, q, k, v, { mask: mask.wgsl ? maskFunction(mask.pred, env) : undefined }));
          if (!(row.oracleDiff <= CHROMIUM_MAX_DIFF)) throw new Error(`mdl's Node output is ${row.oracleDiff} from the f64 oracle at L=${length}, ${mask.label}`);
        }
        for (const [i, run] of nodeRuns.entries()) if (i > 0) row.maxDiff[contenders.filter((c) => c.runtime === 'node' && c.kind === 'mdl')[i].id] = maxAbsDiff(await run.output(), reference);
        row.maxDiff[contenders[0].id] = 0;
        browser.putBlob('reference', reference);
        for (const check of checks) await check();
        for (const c of contenders) {
          const d = row.maxDiff[c.id];
          if (!(d <= CHROMIUM_MAX_DIFF)) {
            row.skipped[c.id] = `wrong result: max |diff| = ${d} from mdl's Node output`;
            o.log(`${c.id} at L=${length} ${mask.label}: ${row.skipped[c.id]}`);
          }
        }
        const timed = contenders.filter((c) => !row.skipped[c.id]);
        for (const c of timed) row.samples[c.id] = [];
        for (let r = 0; r < o.rounds; r++) for (const c of timed) row.samples[c.id].push(await samplers.get(c.id)!());
        o.log(`L=${length} ${mask.label}: ${timed.map((c) => `${c.id} ${median(row.samples[c.id]).toFixed(0)} ms`).join(', ')}`);
        rows.push(row);
      } finally {
        nodeRuns.forEach((r) => r.destroy());
        nodeUnfused?.destroy();
        await page.release();
      }
    }
  }
  return rows;
}

/** Median of a contender's samples, undefined when it was not timed. */
export function medianOf(row: ChromiumRow, id: string): number | undefined {
  const s = row.samples[id];
  return s && s.length ? median(s) : undefined;
}

/** The fastest mdl shape in one runtime: what the tuner, which keeps the fastest measured shape, would pick there. */
export function bestMdl(row: ChromiumRow, runtime: Runtime): { contender: ChromiumContender; ms: number } | undefined {
  let best: { contender: ChromiumContender; ms: number } | undefined;
  for (const c of row.contenders) {
    const ms = c.kind === 'mdl' && c.runtime === runtime ? medianOf(row, c.id) : undefined;
    if (ms !== undefined && (!best || ms < best.ms)) best = { contender: c, ms };
  }
  return best;
}

export function defaultMdl(row: ChromiumRow, runtime: Runtime): number | undefined {
  const c = row.contenders.find((x) => x.kind === 'mdl' && x.runtime === runtime && x.isDefault);
  return c && medianOf(row, c.id);
}

/** ms of a comparator: ORT (in Chromium) or the unfused path (in Chromium, or in Node). */
export function comparatorMs(row: ChromiumRow, kind: 'ort' | 'unfused', runtime: Runtime = 'chromium'): number | undefined {
  const c = row.contenders.find((x) => x.kind === kind && x.runtime === runtime);
  return c && medianOf(row, c.id);
}
