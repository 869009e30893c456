// Generation with a key/value cache on a WebGPU device: the rendered kernels of a full pass, run over only the new
// positions of each call, as the cache plan of src/lower/kv-cache.ts describes.
//
// Each call takes the inputs of the whole sequence so far (exactly what a full pass would take) and computes its
// last positions: the first call encodes the source (once) and prefills the prompt, later calls add one token each.
// Self-attention K/V rows are appended to per-site cache buffers that grow by doubling; a site whose mask lets it
// drop keys no later query can see compacts its cache when it would otherwise grow, so a sliding window keeps a
// cache about twice the window's size however long the sequence gets.

import type { CheckedModel } from '../check/model.ts';
import { formula, type Formula } from '../lower/formula.ts';
import type { CacheSite } from '../lower/kv-cache.ts';
import type { Lowered } from '../lower/passes.ts';
import { boundBuffers, type Step } from '../lower/program.ts';
import type { RenderedKernel } from '../lower/render.ts';
import { kernelOfStep } from '../lower/step-kernels.ts';
import { DEFAULT_KERNEL_LIMITS, workgroupBytes } from '../wgsl/attention.ts';
import { SKINNY_ROWS } from '../wgsl/kernels.ts';
import { TileClass, type MaskEnv } from '../masks/kernel-contract.ts';
import type { BoolExpr } from '../masks/predicate.ts';
import { classifyTiles, readsHead, truthOver } from '../masks/tiles.ts';
import { evalBool } from '../masks/evaluate.ts';
import type { RunInputs } from './cpu-interpreter.ts';
import { shiftRight } from './decoder-input.ts';
import type { GpuContext } from './device.ts';
import { outputBuffer, readBack, uploadBuffer, withErrorScopes } from './gpu-buffers.ts';
import { packMaskBuffers } from './mask-buffers.ts';
import { launch, maskEnv, paramBuffer, prepareRun, ProgramLimitError, uploadAttentionInputs } from './program.ts';

/** Decoding with the cache would compute something other than a full pass; the caller should recompute. */
export class CacheInexactError extends Error {}

export interface CacheSiteStats {
  node: string;
  kind: CacheSite['kind'];
  /** Key rows the cache buffer holds. */
  capacity: number;
  /** Key rows in use. */
  live: number;
  /** Keys dropped because no later query can see them. */
  dropped: number;
}

interface SiteState {
  site: CacheSite;
  k?: GPUBuffer;
  v?: GPUBuffer;
  capacity: number;
  live: number;
  dropped: number;
}

const fc = (n: number): Formula => formula.constant(n);
const MIN_CAPACITY = 16;

export class CachedDecoder {
  /** Positions computed so far. */
  position = 0;
  private readonly kept = new Map<string, GPUBuffer>();
  private readonly sites: SiteState[];
  private encoded = false;

  constructor(
    private readonly gpu: GpuContext,
    private readonly lowered: Lowered,
    private readonly model: CheckedModel,
    private readonly weights: Map<string, Float32Array>,
  ) {
    const plan = lowered.cache;
    if (plan.unsupported) throw new CacheInexactError(plan.unsupported);
    this.sites = plan.sites.filter((s) => s.kind === 'self').map((site) => ({ site, capacity: 0, live: 0, dropped: 0 }));
  }

  stats(): CacheSiteStats[] {
    return this.sites.map((s) => ({ node: this.lowered.program.steps[s.site.step].node, kind: s.site.kind, capacity: s.capacity, live: s.live, dropped: s.dropped }));
  }

  destroy(): void {
    for (const b of this.kept.values()) b.destroy();
    for (const s of this.sites) (s.k?.destroy(), s.v?.destroy());
    this.kept.clear();
  }

  /**
   * Computes the positions of `run` past those already computed and returns the logits of the last one. `run` holds
   * the whole sequence so far (batch 1), as a full pass would take it.
   */
  async next(run: Omit<RunInputs, 'weights'>): Promise<Float32Array> {
    const { gpu, lowered, model } = this;
    const { program: p, cache: plan } = lowered;
    gpu.checkHealthy();
    const L = run.dims[plan.axis];
    const P = this.position;
    const N = L - P;
    if ((run.dims.B ?? 1) !== 1) throw new ProgramLimitError('decoding with a cache runs one sequence at a time (B = 1)');
    if (!(N >= 1)) throw new ProgramLimitError(`no new positions: ${P} computed, the sequence has ${L}`);
    const env = maskEnv(model, { ...run, weights: this.weights });
    this.checkEarlierRowsUnchanged(env, P, L);

    const dims = { ...run.dims, [plan.axis]: N };
    const { size, stepKernel } = prepareRun(gpu, lowered, dims);
    const order = this.encoded ? plan.decodeSteps : [...plan.encodeSteps, ...plan.decodeSteps].sort((a, b) => a - b);

    const created: GPUBuffer[] = [];
    const retired: GPUBuffer[] = [];
    const track = (b: GPUBuffer) => (created.push(b), b);
    const buffers = new Map<string, GPUBuffer>();
    const slots = new Map<number, GPUBuffer>();
    const encoder = gpu.device.createCommandEncoder({ label: `${p.model} decode` });
    try {
      const bound = new Set(order.flatMap((i) => boundBuffers(p.steps[i])));
      for (const b of p.buffers) {
        if (!bound.has(b.id)) continue;
        const n = size(b.elements);
        if (this.kept.has(b.id)) buffers.set(b.id, this.kept.get(b.id)!);
        else if (b.role === 'input') buffers.set(b.id, track(uploadBuffer(gpu, b.id, this.newRows(run, b.id.slice(1), P, L, n))));
        else if (plan.hostFilled.includes(b.id)) buffers.set(b.id, track(uploadBuffer(gpu, b.id, this.decoderInputRows(run, b.id.slice(1), P, L))));
        else if (b.role === 'param' || b.role === 'packed_param') buffers.set(b.id, paramBuffer(gpu, this.weights, b, n));
        else if (plan.kept.includes(b.id)) {
          const kept = outputBuffer(gpu, b.id, n * 4);
          this.kept.set(b.id, kept);
          buffers.set(b.id, kept);
        } else if (b.slot !== undefined) {
          let s = slots.get(b.slot);
          if (!s) slots.set(b.slot, (s = track(outputBuffer(gpu, `slot ${b.slot}`, size(p.slots[b.slot].elements) * 4))));
          buffers.set(b.id, s);
        }
      }
      for (const i of order) {
        const s = p.steps[i];
        if (s.kind === 'attention' && plan.encodeSteps.includes(i)) uploadAttentionInputs(gpu, s, env, dims, buffers, track);
      }
      for (const st of this.sites) this.reserve(st, N, P, env, encoder, retired);

      const steps = new Map<number, Step>();
      for (const i of order) steps.set(i, plan.decodeSteps.includes(i) ? this.decodeStep(i, env, P, N, buffers, track) : p.steps[i]);
      const launches: { i: number; run: (pass: GPUComputePassEncoder) => void }[] = [];
      for (const i of order) {
        // A matmul over a few new rows takes the skinny kernel: the tiled one would pad them to a 32-row tile.
        const s = steps.get(i)!;
        const rows = s.kind === 'matmul' && plan.decodeSteps.includes(i) ? size(s.uniforms.M as Formula) : Infinity;
        const decodeAttention = s.kind === 'attention' && plan.decodeSteps.includes(i) ? this.tilesFor(i, N).kernel : undefined;
        const [step, kernel] = rows <= SKINNY_MAX_ROWS ? skinny(s, size) : [s, decodeAttention ?? stepKernel(i)];
        launches.push({ i, run: await launch(gpu, step, kernel, buffers, size, track) });
      }
      await withErrorScopes(gpu, `decoding ${p.model}`, () => {
        for (const { i, run: l } of launches) {
          const st = this.sites.find((x) => x.site.step === i);
          if (st) this.append(st, encoder, buffers, N);
          const pass = encoder.beginComputePass();
          l(pass);
          pass.end();
        }
        gpu.device.queue.submit([encoder.finish()]);
      });
      const out = p.outputs[0];
      const raw = new Float32Array(await readBack(gpu, buffers.get(out)!, size(p.buffers.find((b) => b.id === out)!.elements) * 4));
      const width = raw.length / N;
      for (const st of this.sites) st.live += N;
      this.position = L;
      this.encoded = true;
      gpu.checkHealthy();
      return raw.slice((N - 1) * width, N * width);
    } finally {
      for (const b of [...created, ...retired]) b.destroy();
    }
  }

  /** A full pass recomputes earlier rows with the new keys in view; the cache is exact only if no earlier row sees them. */
  private checkEarlierRowsUnchanged(env: MaskEnv, P: number, L: number): void {
    if (P === 0) return;
    for (const st of this.sites) {
      const a = this.lowered.program.steps[st.site.step].attention!;
      const where = `${this.lowered.program.steps[st.site.step].node}`;
      if (!a.mask) throw new CacheInexactError(`${where} has no mask, so earlier positions see later ones`);
      const pred = a.mask.predicate;
      const full = { ...env, dims: { ...env.dims, Lq: L, Lk: L } };
      for (let h = 0; h < (readsHead(pred) ? a.heads : 1); h++) {
        const box = { b: 0, h, q: { lo: 0, hi: P - 1 }, k: { lo: P, hi: L - 1 } };
        if (truthOver(pred, box, full) === 0) continue;
        for (let q = 0; q < P; q++) {
          for (let k = P; k < L; k++) {
            if (evalBool(pred, { b: 0, h, q, k }, full)) throw new CacheInexactError(`mask ${a.mask.name} lets position ${q} see the later position ${k}`);
          }
        }
      }
    }
  }

  /** The last `n` values of an input along the decoder axis (or the whole input, for one that is not). */
  private newRows(run: Omit<RunInputs, 'weights'>, name: string, P: number, L: number, n: number): Int32Array | Float32Array {
    const data = run.inputs[name];
    if (!data) throw new ProgramLimitError(`input ${name} needs ${n} values, got none`);
    const onAxis = this.model.inputs.get(name)?.axis === this.lowered.cache.axis;
    const rows = onAxis ? data.slice((P * data.length) / L, data.length) : data;
    if (rows.length !== n) throw new ProgramLimitError(`input ${name} needs ${n} values, got ${rows.length}`);
    return rows instanceof Int32Array ? rows : Float32Array.from(rows);
  }

  /** The decoder input of the new positions, shifted on the host from the whole target. */
  private decoderInputRows(run: Omit<RunInputs, 'weights'>, name: string, P: number, L: number): Int32Array {
    const inp = this.model.inputs.get(name)!;
    const target = run.inputs[inp.shiftedFrom!];
    if (!(target instanceof Int32Array)) throw new ProgramLimitError(`input ${inp.shiftedFrom} is needed to build ${name}`);
    return shiftRight(target, 1, L, { bos: inp.bos ?? 0, pad: inp.pad ?? 0, eos: inp.eos }).slice(P, L);
  }

  /** Makes room for `n` more key rows, dropping first the keys no query from position P on can see. */
  private reserve(st: SiteState, n: number, P: number, env: MaskEnv, encoder: GPUCommandEncoder, retired: GPUBuffer[]): void {
    if (st.live + n <= st.capacity) return;
    const drop = st.site.droppable ? this.droppableKeys(st, P, env) - st.dropped : 0;
    const keep = st.live - drop;
    const capacity = Math.max(MIN_CAPACITY, 2 * (keep + n));
    const rowBytes = st.site.rowWidth * 4;
    const limit = Math.min(this.gpu.limits.maxStorageBufferBindingSize, this.gpu.limits.maxBufferSize);
    if (capacity * rowBytes > limit) throw new ProgramLimitError(`the KV cache of ${this.lowered.program.steps[st.site.step].node} needs ${capacity * rowBytes} bytes, above this adapter's ${limit}`);
    const grown = [st.k, st.v].map((old, j) => {
      const b = this.gpu.device.createBuffer({ label: `kv cache ${j ? 'v' : 'k'} ${st.site.step}`, size: capacity * rowBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      if (old) {
        if (keep > 0) encoder.copyBufferToBuffer(old, drop * rowBytes, b, 0, keep * rowBytes);
        retired.push(old);
      }
      return b;
    });
    [st.k, st.v] = grown;
    st.capacity = capacity;
    st.live = keep;
    st.dropped += drop;
  }

  /** The number of leading keys no query at position P or later can see (sound: the tile classifier's intervals). */
  private droppableKeys(st: SiteState, P: number, env: MaskEnv): number {
    const a = this.lowered.program.steps[st.site.step].attention!;
    const pred = a.mask!.predicate;
    const bound = this.lowered.program.dims.find((d) => d.name === this.lowered.cache.axis)?.bound ?? 2 ** 30;
    const hidden = (k0: number) => k0 <= st.dropped || everyHeadHidden(pred, a.heads, { lo: P, hi: Math.max(P, bound - 1) }, { lo: st.dropped, hi: k0 - 1 }, env);
    let [lo, hi] = [st.dropped, P];
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (hidden(mid)) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Copies the new K/V rows after the cached ones, before the attention that reads them. */
  private append(st: SiteState, encoder: GPUCommandEncoder, buffers: Map<string, GPUBuffer>, n: number): void {
    const rowBytes = st.site.rowWidth * 4;
    encoder.copyBufferToBuffer(buffers.get(st.site.k)!, 0, st.k!, st.live * rowBytes, n * rowBytes);
    encoder.copyBufferToBuffer(buffers.get(st.site.v)!, 0, st.v!, st.live * rowBytes, n * rowBytes);
  }

  /** A decode step with the positions of this call: position starts, cache bindings, lengths and offsets. */
  /**
   * The attention tiles of a decode call: the site's own, or for a few new rows a kernel with one query row per
   * workgroup and its lanes across the head dim, since the site's 32-row tiles would leave all but one row idle.
   */
  private tilesFor(attentionStep: number, N: number): { q: number; k: number; kernel?: RenderedKernel } {
    const s = this.lowered.program.steps[attentionStep];
    const a = s.attention!;
    if (N > SKINNY_MAX_ROWS) return a.tiles;
    const d4 = a.headDim / 4;
    const lanes = [16, 8, 4, 2, 1].find((l) => d4 % l === 0)!;
    const k = [32, 16, 8].find((t) => workgroupBytes(a.headDim, 1, t) <= DEFAULT_KERNEL_LIMITS.maxComputeWorkgroupStorageSize) ?? 4;
    const key = `${attentionStep} ${k} ${lanes}`;
    let kernel = decodeKernels.get(this.lowered)?.get(key);
    if (!kernel) {
      const generated = kernelOfStep({ ...s, attention: { ...a, tiles: { ...a.tiles, q: 1, k, lanes, staged: true } } });
      kernel = { ...generated, file: `decode-attention-${key}.wgsl` };
      if (!decodeKernels.has(this.lowered)) decodeKernels.set(this.lowered, new Map());
      decodeKernels.get(this.lowered)!.set(key, kernel);
    }
    return { q: 1, k, kernel };
  }

  private decodeStep(i: number, env: MaskEnv, P: number, N: number, buffers: Map<string, GPUBuffer>, track: (b: GPUBuffer) => GPUBuffer): Step {
    const { program: p, cache: plan } = this.lowered;
    const s = p.steps[i];
    if (plan.positionSteps.includes(i)) return { ...s, uniforms: { ...s.uniforms, start: fc(P) } };
    if (s.kind !== 'attention' && s.kind !== 'classify') return s;
    const a = s.attention!;
    const node = p.steps.find((x) => x.kind === 'attention' && x.node === s.node)!;
    const siteIndex = p.steps.indexOf(node);
    const st = this.sites.find((x) => x.site.step === siteIndex);
    const lk = st ? st.live + N : formula.evaluate(formula.of(a.lk), env.dims)!;
    const kOffset = st ? st.dropped : 0;
    const tiles = this.tilesFor(siteIndex, N);
    const [qTiles, kTiles] = [Math.ceil(N / tiles.q), Math.ceil(lk / tiles.k)];
    const count = a.tiles.heads * qTiles * kTiles;
    const tileId = node.bind.tileClass;
    // Lengths and tile counts of the new rows, at their positions in the whole sequence.
    const window = { lq: fc(N), lk: fc(lk), n_q_tiles: fc(qTiles), n_k_tiles: fc(kTiles), q_offset: fc(P), k_offset: fc(kOffset) };
    if (s.kind === 'classify') {
      const uniforms = { ...s.uniforms, ...window, tile_q: fc(tiles.q), tile_k: fc(tiles.k), total: fc(count) };
      buffers.set(tileId, track(outputBuffer(this.gpu, 'tile classes', count * 4)));
      return { ...s, uniforms, grid: [fc(Math.ceil(count / 64)), fc(1), fc(1)] };
    }
    // The mask sees the whole sequence: its lengths and data are those of a full pass over it.
    const siteEnv: MaskEnv = { ...env, dims: { ...env.dims, Lq: P + N, Lk: lk + kOffset } };
    if (a.mask) {
      const packed = packMaskBuffers(a.mask.wgsl, siteEnv, 1);
      buffers.set(s.bind.maskParams, track(uploadBuffer(this.gpu, 'mask_params', packed.params)));
      buffers.set(s.bind.maskData, track(uploadBuffer(this.gpu, 'mask_data', packed.data)));
    }
    if (a.tileFill !== 'device') {
      const grid = { batch: 1, heads: a.tiles.heads, lq: N, lk, tileQ: tiles.q, tileK: tiles.k, qOffset: P, kOffset };
      const classes = a.tileFill === 'host' ? classifyTiles(a.mask!.predicate, grid, siteEnv) : new Uint32Array(count).fill(TileClass.Full);
      buffers.set(tileId, track(uploadBuffer(this.gpu, 'tile classes', classes)));
    }
    const bind = { ...s.bind };
    if (st) {
      buffers.set(`${s.node}#k_cache`, st.k!);
      buffers.set(`${s.node}#v_cache`, st.v!);
      bind.k = `${s.node}#k_cache`;
      bind.v = `${s.node}#v_cache`;
    }
    return { ...s, bind, uniforms: { ...s.uniforms, ...window }, grid: [fc(qTiles), s.grid[1], fc(1)] };
  }
}

/** New rows up to which a decode call's matmuls use the skinny kernel and its attention one-row tiles. */
const SKINNY_MAX_ROWS = 8;
/** Decode-shaped attention kernels, per compiled program and site. */
const decodeKernels = new WeakMap<Lowered, Map<string, RenderedKernel>>();
const skinnyKernels = new Map<string, RenderedKernel>();

/** The step with the skinny matmul's grid, and that kernel (same bindings and words as the tiled one). */
function skinny(s: Step, size: (f: Formula) => number): [Step, RenderedKernel] {
  if (s.kernel.kind !== 'matmul') throw new Error(`step ${s.node} is not a matmul`);
  const [rows, cols] = [size(s.uniforms.M as Formula), size(s.uniforms.N as Formula)];
  const step: Step = { ...s, kernel: { ...s.kernel, shape: 'skinny' }, grid: [fc(Math.ceil(cols / 64)), fc(Math.ceil(rows / SKINNY_ROWS)), fc(1)] };
  const k = kernelOfStep(step);
  let rendered = skinnyKernels.get(k.family);
  if (!rendered) skinnyKernels.set(k.family, (rendered = { ...k, file: `${k.family}.wgsl` }));
  return [step, rendered];
}

function everyHeadHidden(pred: BoolExpr, heads: number, q: { lo: number; hi: number }, k: { lo: number; hi: number }, env: MaskEnv): boolean {
  for (let h = 0; h < (readsHead(pred) ? heads : 1); h++) if (truthOver(pred, { b: 0, h, q, k }, env) !== 0) return false;
  return true;
}
