// Generation with a key/value cache on a WebGPU device: the compiled prefill and decode-step programs
// (src/lower/decode-program.ts) run over the new positions of each call. This module runs them and manages the
// caches; what each step computes was decided when compiling.
//
// Each call takes the inputs of the whole sequence so far (exactly what a full pass would take) and computes its
// last positions: the first call encodes the source (once) and prefills the prompt, later calls add one token each.
// Self-attention K/V rows are appended to per-site cache buffers that grow by doubling; a site whose mask lets it
// drop keys no later query can see compacts its cache when it would otherwise grow, so a sliding window keeps a
// cache about twice the window's size however long the sequence gets.
//
// A decoder holds B sequences at the same position (the batch axis of the programs): each batch row has its own
// region of every cache buffer, `capacity` key rows long (the attention kernel's kv_rows). `select` gathers rows on
// the device, which drops finished sequences from a batch and reorders beams.

import type { CheckedModel } from '../check/model.ts';
import { CACHE_DIMS, DECODE_STEP_ROWS, type DecodeProgram } from '../lower/decode-program.ts';
import type { CacheSite } from '../lower/kv-cache.ts';
import type { Lowered } from '../lower/passes.ts';
import { boundBuffers, type AttentionSite } from '../lower/program.ts';
import type { MaskEnv } from '../masks/kernel-contract.ts';
import type { BoolExpr } from '../masks/predicate.ts';
import { readsHead, truthOver } from '../masks/tiles.ts';
import { evalBool } from '../masks/evaluate.ts';
import type { RunInputs } from './cpu-interpreter.ts';
import { shiftRight } from './decoder-input.ts';
import type { GpuContext } from './device.ts';
import { outputBuffer, readBack, uploadBuffer, withErrorScopes } from './gpu-buffers.ts';
import { checkProgramMaskSizes } from './mask-size-check.ts';
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
  /** The attention node, which names the site in every program. */
  node: string;
  /** The site's attention, as compiled. */
  attention: AttentionSite;
  k?: GPUBuffer;
  v?: GPUBuffer;
  capacity: number;
  live: number;
  dropped: number;
}

const MIN_CAPACITY = 16;

export class CachedDecoder {
  /** Positions computed so far. */
  position = 0;
  private readonly kept = new Map<string, GPUBuffer>();
  /** The bytes a kept buffer holds for the whole batch (its buffer may be padded past them). */
  private readonly keptBytes = new Map<string, number>();
  private readonly sites: SiteState[];
  private encoded = false;
  /** Sequences (batch rows) decoded together, fixed by the first call. */
  private batch = 0;
  /** Lengths along the decoder axis as the first call gave them: rows computed with them are kept. */
  private readonly lengthsSeen = new Map<string, number[]>();

  constructor(
    private readonly gpu: GpuContext,
    private readonly lowered: Lowered,
    private readonly model: CheckedModel,
    private readonly weights: Map<string, Float32Array>,
  ) {
    const plan = lowered.cache;
    if (plan.unsupported || !lowered.decode) throw new CacheInexactError(plan.unsupported ?? 'the model has no decode programs');
    // In the order of the decode programs' caches (CACHE_DIMS).
    this.sites = plan.sites
      .filter((s) => s.kind === 'self')
      .map((site) => {
        const step = lowered.program.steps[site.step];
        return { site, node: step.node, attention: step.attention!, capacity: 0, live: 0, dropped: 0 };
      });
  }

  stats(): CacheSiteStats[] {
    return this.sites.map((s) => ({ node: s.node, kind: s.site.kind, capacity: s.capacity, live: s.live, dropped: s.dropped }));
  }

  /**
   * A second decoder holding a copy of this one's state, made on the device: beam search gives each beam that
   * continues the same sequence its own cache. Copies, not shared buffers, so either may be destroyed first.
   */
  fork(): CachedDecoder {
    const twin = new CachedDecoder(this.gpu, this.lowered, this.model, this.weights);
    twin.position = this.position;
    twin.encoded = this.encoded;
    twin.batch = this.batch;
    for (const [name, lengths] of this.lengthsSeen) twin.lengthsSeen.set(name, [...lengths]);
    const encoder = this.gpu.device.createCommandEncoder({ label: 'kv cache fork' });
    const copy = (from: GPUBuffer, bytes: number, label: string) => {
      const to = this.gpu.device.createBuffer({ label, size: from.size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      if (bytes > 0) encoder.copyBufferToBuffer(from, 0, to, 0, bytes);
      return to;
    };
    for (const [id, b] of this.kept) twin.kept.set(id, copy(b, b.size, id));
    for (const [id, bytes] of this.keptBytes) twin.keptBytes.set(id, bytes);
    this.sites.forEach((st, j) => {
      const t = twin.sites[j];
      Object.assign(t, { capacity: st.capacity, live: st.live, dropped: st.dropped });
      if (st.k) t.k = copy(st.k, st.k.size, st.k.label);
      if (st.v) t.v = copy(st.v, st.v.size, st.v.label);
    });
    this.gpu.device.queue.submit([encoder.finish()]);
    return twin;
  }

  /** Sequences this decoder holds (0 before the first call). */
  get rows(): number {
    return this.batch;
  }

  /**
   * Keeps the batch rows `rows` (in that order; one may appear more than once), gathered on the device: finished
   * sequences stop costing work, and beams that several survivors continue are copied for each.
   */
  select(rows: readonly number[]): void {
    if (rows.length === 0) throw new ProgramLimitError('a batch keeps at least one row');
    for (const r of rows) if (!(Number.isInteger(r) && r >= 0 && r < this.batch)) throw new ProgramLimitError(`no batch row ${r} (the batch has ${this.batch})`);
    if (rows.length === this.batch && rows.every((r, i) => r === i)) return;
    const { device } = this.gpu;
    const encoder = device.createCommandEncoder({ label: 'kv cache select' });
    const old: GPUBuffer[] = [];
    const gather = (from: GPUBuffer, rowBytes: number, usedBytes: number) => {
      const to = device.createBuffer({ label: from.label, size: Math.max(4, rows.length * rowBytes), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      rows.forEach((r, i) => usedBytes > 0 && encoder.copyBufferToBuffer(from, r * rowBytes, to, i * rowBytes, usedBytes));
      old.push(from);
      return to;
    };
    for (const [id, b] of this.kept) {
      const per = this.keptBytes.get(id)! / this.batch;
      this.kept.set(id, gather(b, per, per));
      this.keptBytes.set(id, per * rows.length);
    }
    for (const st of this.sites) {
      if (!st.k || !st.v) continue;
      const region = st.capacity * st.site.rowWidth * 4;
      st.k = gather(st.k, region, st.live * st.site.rowWidth * 4);
      st.v = gather(st.v, region, st.live * st.site.rowWidth * 4);
    }
    device.queue.submit([encoder.finish()]);
    for (const b of old) b.destroy();
    for (const [name, lengths] of this.lengthsSeen) this.lengthsSeen.set(name, rows.map((r) => lengths[r]));
    this.batch = rows.length;
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
    if ((run.dims.B ?? 1) !== 1) throw new ProgramLimitError('next() takes one sequence: use nextRows() for a batch');
    return (await this.nextRows(run))[0];
  }

  /**
   * The same for a batch: `run` holds B sequences of the same length (dims.B, every input batch-major), and the
   * result is the logits of each one's last position, by batch row.
   */
  async nextRows(run: Omit<RunInputs, 'weights'>): Promise<Float32Array[]> {
    const { gpu, lowered, model } = this;
    const { cache: plan } = lowered;
    gpu.checkHealthy();
    const L = run.dims[plan.axis];
    const P = this.position;
    const N = L - P;
    const B = run.dims.B ?? 1;
    if (this.batch === 0) this.batch = B;
    else if (B !== this.batch) throw new ProgramLimitError(`this cache holds ${this.batch} sequence(s), the call gives ${B}`);
    if (!(N >= 1)) throw new ProgramLimitError(`no new positions: ${P} computed, the sequence has ${L}`);
    // Masks see the whole sequence, so their sizes are those of a full pass over it.
    checkProgramMaskSizes(model, lowered.program, run.dims);
    const env = maskEnv(model, { ...run, weights: this.weights });
    this.checkLengthsUnchanged(run);
    this.checkEarlierRowsUnchanged(env, P, L);

    // The first call runs the prefill program; later ones the decode step when their rows are few enough, else the
    // prefill program without its once-per-source steps.
    const d: DecodeProgram = this.encoded && N <= DECODE_STEP_ROWS ? lowered.decode!.step : lowered.decode!.prefill;
    const p = d.program;
    const skip = new Set(this.encoded ? d.once : []);
    const order = p.steps.flatMap((_, i) => (skip.has(i) ? [] : [i]));

    const created: GPUBuffer[] = [];
    const retired: GPUBuffer[] = [];
    const track = (b: GPUBuffer) => (created.push(b), b);
    const buffers = new Map<string, GPUBuffer>();
    const slots = new Map<number, GPUBuffer>();
    const encoder = gpu.device.createCommandEncoder({ label: `${p.model} ${d.name}` });
    try {
      for (const st of this.sites) this.reserve(st, B, N, P, env, encoder, retired);
      const dims: Record<string, number> = { ...run.dims, [plan.axis]: N, [CACHE_DIMS.start]: P };
      this.sites.forEach((st, j) => Object.assign(dims, { [CACHE_DIMS.rows(j)]: st.capacity, [CACHE_DIMS.keys(j)]: st.live + N, [CACHE_DIMS.dropped(j)]: st.dropped }));
      const { size, stepKernel } = prepareRun(gpu, p, d.rendered, dims);
      const caches = new Map(this.sites.flatMap((st) => [[`${st.node}#k_cache`, st.k!], [`${st.node}#v_cache`, st.v!]]));

      const bound = new Set(order.flatMap((i) => boundBuffers(p.steps[i])));
      for (const b of p.buffers) {
        if (!bound.has(b.id)) continue;
        const n = size(b.elements);
        if (this.kept.has(b.id)) buffers.set(b.id, this.kept.get(b.id)!);
        else if (b.role === 'kv_cache') buffers.set(b.id, caches.get(b.id)!);
        else if (plan.hostFilled.includes(b.id)) buffers.set(b.id, track(uploadBuffer(gpu, b.id, this.decoderInputRows(run, b.id.slice(1), B, P, L))));
        else if (b.role === 'input') buffers.set(b.id, track(uploadBuffer(gpu, b.id, this.newRows(run, b.id.slice(1), B, P, L, n))));
        else if (b.role === 'param' || b.role === 'packed_param') buffers.set(b.id, paramBuffer(gpu, this.weights, b, n));
        else if (b.role === 'kept') throw new Error(`${b.id} is kept from a first call that has not run`);
        else if (plan.kept.includes(b.id)) {
          const kept = outputBuffer(gpu, b.id, n * 4);
          this.kept.set(b.id, kept);
          this.keptBytes.set(b.id, n * 4);
          buffers.set(b.id, kept);
        } else if (b.slot !== undefined) {
          let s = slots.get(b.slot);
          if (!s) slots.set(b.slot, (s = track(outputBuffer(gpu, `slot ${b.slot}`, size(p.slots[b.slot].elements) * 4))));
          buffers.set(b.id, s);
        }
      }
      for (const i of order) if (p.steps[i].kind === 'attention') uploadAttentionInputs(gpu, p.steps[i], env, dims, buffers, track);

      const launches: { i: number; run: (pass: GPUComputePassEncoder) => void }[] = [];
      for (const i of order) launches.push({ i, run: await launch(gpu, p.steps[i], stepKernel(i), buffers, size, track) });
      const appendAt = new Map(d.sites.flatMap((x) => (x.cache === undefined ? [] : [[x.step, this.sites[x.cache]]])));
      await withErrorScopes(gpu, `decoding ${p.model}`, () => {
        for (const { i, run: l } of launches) {
          const st = appendAt.get(i);
          if (st) this.append(st, encoder, buffers, B, N);
          const pass = encoder.beginComputePass();
          l(pass);
          pass.end();
        }
        gpu.device.queue.submit([encoder.finish()]);
      });
      const out = p.outputs[0];
      const raw = new Float32Array(await readBack(gpu, buffers.get(out)!, size(p.buffers.find((b) => b.id === out)!.elements) * 4));
      const width = raw.length / (B * N);
      for (const st of this.sites) st.live += N;
      this.position = L;
      this.encoded = true;
      gpu.checkHealthy();
      return Array.from({ length: B }, (_, b) => raw.slice((b * N + N - 1) * width, (b * N + N) * width));
    } finally {
      for (const b of [...created, ...retired]) b.destroy();
    }
  }

  /**
   * Rows already computed saw the lengths along the decoder axis of their call; a full pass would see the new ones.
   * Only lengths a decoder mask reads matter.
   */
  private checkLengthsUnchanged(run: Omit<RunInputs, 'weights'>): void {
    const { program: p, cache: plan } = this.lowered;
    const read = new Set(plan.decodeSteps.flatMap((i) => p.steps[i].attention?.mask?.wgsl.inputs.map((x) => x.input) ?? []));
    for (const input of this.model.inputs.values()) {
      if (input.kind !== 'lengths' || input.axis !== plan.axis || !read.has(input.name)) continue;
      const now = [...(run.inputs[input.name] ?? [])];
      const before = this.lengthsSeen.get(input.name);
      if (!before) this.lengthsSeen.set(input.name, now);
      else if (before.join() !== now.join()) throw new CacheInexactError(`lengths ${input.name} changed from ${before.join(',')} to ${now.join(',')} between steps`);
    }
  }

  /** A full pass recomputes earlier rows with the new keys in view; the cache is exact only if no earlier row sees them. */
  private checkEarlierRowsUnchanged(env: MaskEnv, P: number, L: number): void {
    if (P === 0) return;
    for (const st of this.sites) {
      const a = st.attention;
      const where = st.node;
      if (!a.mask) throw new CacheInexactError(`${where} has no mask, so earlier positions see later ones`);
      const pred = a.mask.predicate;
      const full = { ...env, dims: { ...env.dims, Lq: L, Lk: L } };
      for (let b = 0; b < this.batch; b++) {
        for (let h = 0; h < (readsHead(pred) ? a.heads : 1); h++) {
          const box = { b, h, q: { lo: 0, hi: P - 1 }, k: { lo: P, hi: L - 1 } };
          if (truthOver(pred, box, full) === 0) continue;
          for (let q = 0; q < P; q++) {
            for (let k = P; k < L; k++) {
              if (evalBool(pred, { b, h, q, k }, full)) throw new CacheInexactError(`mask ${a.mask.name} lets position ${q} see the later position ${k}`);
            }
          }
        }
      }
    }
  }

  /** Each batch row's values of an input at positions P to L on the decoder axis (the whole input, for one that is not). */
  private newRows(run: Omit<RunInputs, 'weights'>, name: string, B: number, P: number, L: number, n: number): Int32Array | Float32Array {
    const data = run.inputs[name];
    if (!data) throw new ProgramLimitError(`input ${name} needs ${n} values, got none`);
    // Lengths count along the axis but hold one value per sequence: never sliced.
    const input = this.model.inputs.get(name);
    const onAxis = input?.axis === this.lowered.cache.axis && input.kind !== 'lengths';
    const per = data.length / (B * L);
    const rows = onAxis ? sliceRows(data, B, L * per, P * per, L * per) : data;
    if (rows.length !== n) throw new ProgramLimitError(`input ${name} needs ${n} values, got ${rows.length}`);
    return rows instanceof Int32Array ? rows : Float32Array.from(rows);
  }

  /** The decoder input of the new positions, shifted on the host from the whole target. */
  private decoderInputRows(run: Omit<RunInputs, 'weights'>, name: string, B: number, P: number, L: number): Int32Array {
    const inp = this.model.inputs.get(name)!;
    const target = run.inputs[inp.shiftedFrom!];
    if (!(target instanceof Int32Array)) throw new ProgramLimitError(`input ${inp.shiftedFrom} is needed to build ${name}`);
    return sliceRows(shiftRight(target, B, L, { bos: inp.bos ?? 0, pad: inp.pad ?? 0, eos: inp.eos }), B, L, P, L) as Int32Array;
  }

  /** Makes room for `n` more key rows in each of B batch rows, dropping first the keys no query from position P on can see. */
  private reserve(st: SiteState, B: number, n: number, P: number, env: MaskEnv, encoder: GPUCommandEncoder, retired: GPUBuffer[]): void {
    if (st.live + n <= st.capacity) return;
    const drop = st.site.droppable ? this.droppableKeys(st, P, env) - st.dropped : 0;
    const keep = st.live - drop;
    const capacity = Math.max(MIN_CAPACITY, 2 * (keep + n));
    const rowBytes = st.site.rowWidth * 4;
    const limit = Math.min(this.gpu.limits.maxStorageBufferBindingSize, this.gpu.limits.maxBufferSize);
    if (B * capacity * rowBytes > limit) throw new ProgramLimitError(`the KV cache of ${st.node} needs ${B * capacity * rowBytes} bytes, above this adapter's ${limit}`);
    const grown = [st.k, st.v].map((old, j) => {
      const b = this.gpu.device.createBuffer({ label: `kv cache ${j ? 'v' : 'k'} ${st.site.step}`, size: B * capacity * rowBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      if (old) {
        for (let r = 0; r < B && keep > 0; r++) encoder.copyBufferToBuffer(old, (r * st.capacity + drop) * rowBytes, b, r * capacity * rowBytes, keep * rowBytes);
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
    const a = st.attention;
    const pred = a.mask!.predicate;
    const bound = this.lowered.program.dims.find((d) => d.name === this.lowered.cache.axis)?.bound ?? 2 ** 30;
    const hidden = (k0: number) => k0 <= st.dropped || everyHeadHidden(pred, this.batch, a.heads, { lo: P, hi: Math.max(P, bound - 1) }, { lo: st.dropped, hi: k0 - 1 }, env);
    let [lo, hi] = [st.dropped, P];
    while (lo < hi) {
      const mid = Math.ceil((lo + hi) / 2);
      if (hidden(mid)) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Copies each batch row's new K/V rows after its cached ones, before the attention that reads them. */
  private append(st: SiteState, encoder: GPUCommandEncoder, buffers: Map<string, GPUBuffer>, B: number, n: number): void {
    const rowBytes = st.site.rowWidth * 4;
    for (let r = 0; r < B; r++) {
      const to = (r * st.capacity + st.live) * rowBytes;
      encoder.copyBufferToBuffer(buffers.get(st.site.k)!, r * n * rowBytes, st.k!, to, n * rowBytes);
      encoder.copyBufferToBuffer(buffers.get(st.site.v)!, r * n * rowBytes, st.v!, to, n * rowBytes);
    }
  }
}

function everyHeadHidden(pred: BoolExpr, batch: number, heads: number, q: { lo: number; hi: number }, k: { lo: number; hi: number }, env: MaskEnv): boolean {
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < (readsHead(pred) ? heads : 1); h++) if (truthOver(pred, { b, h, q, k }, env) !== 0) return false;
  }
  return true;
}

/** Values `from` to `to` of each of B rows `stride` values long, one row after another. */
function sliceRows(data: Int32Array | Float32Array, B: number, stride: number, from: number, to: number): Int32Array | Float32Array {
  if (B === 1) return data.slice(from, to);
  const out = data instanceof Int32Array ? new Int32Array(B * (to - from)) : new Float32Array(B * (to - from));
  for (let b = 0; b < B; b++) out.set(data.subarray(b * stride + from, b * stride + to), b * (to - from));
  return out;
}
