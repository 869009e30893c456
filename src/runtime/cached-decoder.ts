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
// A decoder holds B sequences (the batch axis of the programs): each batch row has its own region of every cache
// buffer, `capacity` key rows long (the attention kernel's kv_rows), holding its keys from the site's first kept
// position on. Rows may stand at different positions: the decode step reads each row's position and attention window
// from small per-row buffers (ROW_BUFFERS), so `nextEach` decodes rows of different lengths in one run, after
// prefills of each length are joined by `merge`. `select` gathers rows on the device, which drops finished sequences
// from a batch and reorders beams.
//
// The decode step's device objects (buffers, uniform blocks, bind groups) live in a DecodeProgramRun kept from one call
// to the next (decode-run.ts); when the cache grows or is gathered they follow it. Which keys may be dropped and when
// the cache stays exact is cache-exactness.ts; how a cache region grows is cache-sites.ts.

import type { CheckedModel } from '../check/model.ts';
import { CACHE_DIMS, DECODE_STEP_ROWS, ROW_BUFFERS, type DecodeProgram } from '../lower/decode-program.ts';
import { formula } from '../lower/formula.ts';
import { ROW_WINDOW } from '../wgsl/attention.ts';
import type { CacheSite } from '../lower/kv-cache.ts';
import type { Lowered } from '../lower/passes.ts';
import { uniformValues, type AttentionSite } from '../lower/program.ts';
import type { MaskEnv } from '../masks/kernel-contract.ts';
import type { RunInputs } from './cpu-interpreter.ts';
import { decoderInputRows, newRows, padRuns } from './cached-rows.ts';
import type { GpuContext } from './device.ts';
import { outputBuffer } from './gpu-buffers.ts';
import { DecodeProgramRun, type DecodeCallResult } from './decode-run.ts';
import { checkProgramMaskSizes } from './mask-size-check.ts';
import { appendRows, MIN_CAPACITY, regrowSite, type CacheSiteStats, type SiteState } from './cache-sites.ts';
import { CacheInexactError, checkEarlierRowsUnchanged, checkLengthsUnchanged, droppableKeys } from './cache-exactness.ts';
import { attentionHostData, maskEnv, paramBuffer, ProgramLimitError } from './program.ts';

export { CacheInexactError, type CacheSiteStats };

type Run = Omit<RunInputs, 'weights'>;

export class CachedDecoder {
  /** Positions computed so far, by batch row. */
  private positions: number[] = [];
  private readonly kept = new Map<string, GPUBuffer>();
  /** The bytes a kept buffer holds for the whole batch (its buffer may be padded past them). */
  private readonly keptBytes = new Map<string, number>();
  private readonly sites: SiteState[];
  private encoded = false;
  /** Sequences (batch rows) decoded together, fixed by the first call. */
  private batch = 0;
  /** Program runs so far (one per call, whatever the number of rows). */
  programRuns = 0;
  /** Host milliseconds of each program run: from the call until its work was submitted (DecodeCallResult.hostMs). */
  readonly hostMs: number[] = [];
  /** And from its submit until its logits were readable (DecodeCallResult.waitMs). */
  readonly waitMs: number[] = [];
  /** The decode step's device objects, kept across calls. */
  private stepRun?: DecodeProgramRun;
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
        return { site, node: step.node, attention: step.attention!, capacity: 0, dropped: 0 };
      });
  }

  stats(): CacheSiteStats[] {
    return this.sites.map((s) => ({ node: s.node, kind: s.site.kind, capacity: s.capacity, live: this.live(s), dropped: s.dropped }));
  }

  /** Positions computed so far: those of the longest row. */
  get position(): number {
    return Math.max(0, ...this.positions);
  }

  /** Positions computed so far, by batch row. */
  rowPositions(): number[] {
    return [...this.positions];
  }

  /** Keys of row b in use at a site (all rows when b is absent: the most of any). */
  private live(st: SiteState, b?: number): number {
    return b === undefined ? Math.max(0, this.position - st.dropped) : this.positions[b] - st.dropped;
  }

  /**
   * A second decoder holding a copy of this one's state, made on the device: beam search gives each beam that
   * continues the same sequence its own cache. Copies, not shared buffers, so either may be destroyed first.
   */
  fork(): CachedDecoder {
    const twin = new CachedDecoder(this.gpu, this.lowered, this.model, this.weights);
    twin.positions = [...this.positions];
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
      Object.assign(t, { capacity: st.capacity, dropped: st.dropped });
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
    const gather = (from: GPUBuffer, rowBytes: number, usedBytes: (r: number) => number) => {
      const to = device.createBuffer({ label: from.label, size: Math.max(4, rows.length * rowBytes), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
      rows.forEach((r, i) => usedBytes(r) > 0 && encoder.copyBufferToBuffer(from, r * rowBytes, to, i * rowBytes, usedBytes(r)));
      old.push(from);
      return to;
    };
    for (const [id, b] of this.kept) {
      const per = this.keptBytes.get(id)! / this.batch;
      this.kept.set(id, gather(b, per, () => per));
      this.keptBytes.set(id, per * rows.length);
    }
    for (const st of this.sites) {
      if (!st.k || !st.v) continue;
      const region = st.capacity * st.site.rowWidth * 4;
      const used = (r: number) => this.live(st, r) * st.site.rowWidth * 4;
      st.k = gather(st.k, region, used);
      st.v = gather(st.v, region, used);
    }
    device.queue.submit([encoder.finish()]);
    for (const b of old) b.destroy();
    for (const [name, lengths] of this.lengthsSeen) this.lengthsSeen.set(name, rows.map((r) => lengths[r]));
    this.positions = rows.map((r) => this.positions[r]);
    this.batch = rows.length;
  }

  /**
   * One decoder holding the rows of `parts` one after another, copied on the device (the parts stay usable): prefills
   * of different prompt lengths joined so that their rows decode together. Every part must have run its first call,
   * with the same source dims (kept values of one size a row) and no keys dropped yet.
   */
  static merge(parts: readonly CachedDecoder[]): CachedDecoder {
    const first = parts[0];
    if (!first || parts.some((d) => !d.encoded || d.lowered !== first.lowered)) throw new ProgramLimitError('only decoders of one model that have all run a first call can be merged');
    if (!first.lowered.decode!.step.program.buffers.some((b) => b.id === ROW_BUFFERS.start)) throw new ProgramLimitError("this model's decode step has no per-row positions (its attention binds every storage buffer an adapter allows)");
    const joined = new CachedDecoder(first.gpu, first.lowered, first.model, first.weights);
    const { device } = first.gpu;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
    const encoder = device.createCommandEncoder({ label: 'kv cache merge' });
    joined.encoded = true;
    joined.batch = parts.reduce((n, d) => n + d.batch, 0);
    joined.positions = parts.flatMap((d) => d.positions);
    for (const name of first.lengthsSeen.keys()) if (parts.every((d) => d.lengthsSeen.has(name))) joined.lengthsSeen.set(name, parts.flatMap((d) => d.lengthsSeen.get(name)!));
    for (const [id, bytes] of first.keptBytes) {
      const per = bytes / first.batch;
      if (parts.some((d) => d.keptBytes.get(id) !== per * d.batch)) throw new ProgramLimitError(`${id}: rows of different sources cannot be merged`);
      const to = device.createBuffer({ label: id, size: Math.max(4, per * joined.batch), usage });
      let at = 0;
      for (const d of parts) (encoder.copyBufferToBuffer(d.kept.get(id)!, 0, to, at, per * d.batch), (at += per * d.batch));
      joined.kept.set(id, to);
      joined.keptBytes.set(id, per * joined.batch);
    }
    joined.sites.forEach((st, j) => {
      const from = parts.map((d) => d.sites[j]);
      if (from.some((f) => f.dropped !== 0 || !f.k || !f.v)) throw new ProgramLimitError(`${st.node}: only caches that have dropped no keys can be merged`);
      st.capacity = Math.max(...from.map((f) => f.capacity));
      const rowBytes = st.site.rowWidth * 4;
      const [k, v] = ['k', 'v'].map((label) => device.createBuffer({ label: `kv cache ${label} ${st.site.step}`, size: joined.batch * st.capacity * rowBytes, usage }));
      let row = 0;
      parts.forEach((d, i) => {
        for (let b = 0; b < d.batch; b++, row++) {
          const bytes = d.positions[b] * rowBytes;
          encoder.copyBufferToBuffer(from[i].k!, b * from[i].capacity * rowBytes, k, row * st.capacity * rowBytes, bytes);
          encoder.copyBufferToBuffer(from[i].v!, b * from[i].capacity * rowBytes, v, row * st.capacity * rowBytes, bytes);
        }
      });
      [st.k, st.v] = [k, v];
    });
    device.queue.submit([encoder.finish()]);
    return joined;
  }

  destroy(): void {
    this.stepRun?.destroy();
    this.stepRun = undefined;
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
  async nextRows(run: Run): Promise<Float32Array[]> {
    const B = run.dims.B ?? 1;
    return this.compute(run, Array.from({ length: B }, () => run.dims[this.lowered.cache.axis]));
  }

  /**
   * Sequences of different lengths, one run each (batch 1, the whole sequence so far), in batch row order: each
   * row's new positions (the same number for every row) at the row's own positions, in one run of the programs.
   * The result is each row's logits at its last position.
   */
  async nextEach(runs: readonly Run[]): Promise<Float32Array[]> {
    const { axis } = this.lowered.cache;
    if (runs.some((r) => (r.dims.B ?? 1) !== 1)) throw new ProgramLimitError('nextEach() takes one run of one sequence per row');
    return this.compute(padRuns(this.model, axis, runs), runs.map((r) => r.dims[axis]));
  }

  /**
   * `run`: B sequences batch-major, padded along the decoder axis to its dim; `lengths`: each row's own length. Every
   * row brings the same number of new positions.
   */
  private async compute(run: Run, lengths: number[]): Promise<Float32Array[]> {
    const { gpu, lowered, model } = this;
    const { cache: plan } = lowered;
    gpu.checkHealthy();
    const B = run.dims.B ?? 1;
    if (this.batch === 0) (this.batch = B), (this.positions = Array.from({ length: B }, () => 0));
    else if (B !== this.batch) throw new ProgramLimitError(`this cache holds ${this.batch} sequence(s), the call gives ${B}`);
    const starts = this.positions;
    const N = lengths[0] - starts[0];
    if (!(N >= 1)) throw new ProgramLimitError(`no new positions: ${starts[0]} computed, the sequence has ${lengths[0]}`);
    if (lengths.some((l, b) => l - starts[b] !== N)) throw new ProgramLimitError(`every row of a call brings the same number of new positions (${lengths.map((l, b) => l - starts[b]).join(', ')})`);
    const P = Math.max(...starts);
    const mixed = starts.some((p) => p !== P);
    // Masks see the whole sequence, so their sizes are those of a full pass over it.
    checkProgramMaskSizes(model, lowered.program, run.dims);
    const env = maskEnv(model, { ...run, weights: this.weights });
    checkLengthsUnchanged(this.lowered, this.model, run, this.lengthsSeen);
    checkEarlierRowsUnchanged(this.sites, this.batch, env, starts, lengths);

    // The first call runs the prefill program; later ones the decode step when their rows are few enough, else the
    // prefill program without its once-per-source steps. Only the decode step reads each row's own position.
    const d: DecodeProgram = this.encoded && N <= DECODE_STEP_ROWS ? lowered.decode!.step : lowered.decode!.prefill;
    if (mixed && (d.name !== 'step' || !d.program.buffers.some((b) => b.id === ROW_BUFFERS.start))) throw new ProgramLimitError(`rows at different positions decode at most ${DECODE_STEP_ROWS} new positions a call, after a first call, with a decode step that has per-row positions`);
    const p = d.program;
    const skip = new Set(this.encoded ? d.once : []);
    const order = p.steps.flatMap((_, i) => (skip.has(i) ? [] : [i]));

    const retired: GPUBuffer[] = [];
    try {
      if (this.sites.some((st) => this.live(st) + N > st.capacity)) {
        const encoder = gpu.device.createCommandEncoder({ label: 'kv cache grow' });
        for (const st of this.sites) this.reserve(st, B, N, env, encoder, retired);
        gpu.device.queue.submit([encoder.finish()]);
      }
      const dims: Record<string, number> = { ...run.dims, [plan.axis]: N, [CACHE_DIMS.start]: P };
      this.sites.forEach((st, j) => Object.assign(dims, { [CACHE_DIMS.rows(j)]: st.capacity, [CACHE_DIMS.keys(j)]: this.live(st) + N, [CACHE_DIMS.dropped(j)]: st.dropped }));
      // Buffers whose size follows the keys in use are made for the whole cache, so they last until it grows.
      const sizeDims = { ...dims };
      this.sites.forEach((st, j) => (sizeDims[CACHE_DIMS.keys(j)] = st.capacity));
      const caches = new Map(this.sites.flatMap((st) => [[`${st.node}#k_cache`, st.k!], [`${st.node}#v_cache`, st.v!]]));
      const rowValues = this.rowBufferValues(p, dims, N);
      const appendAt = new Map(d.sites.flatMap((x) => (x.cache === undefined ? [] : [[x.step, this.sites[x.cache]]])));
      // The decode step keeps its device objects from call to call; a prefill's are freed after it.
      const runner = d.name === 'step' ? (this.stepRun ??= new DecodeProgramRun(gpu, d)) : new DecodeProgramRun(gpu, d);
      let result: DecodeCallResult;
      try {
        result = await runner.run({
          dims,
          sizeDims,
          order,
          external: (b, n) => {
            if (this.kept.has(b.id)) return this.kept.get(b.id)!;
            if (b.role === 'kv_cache') return caches.get(b.id)!;
            if (b.role === 'param' || b.role === 'packed_param') return paramBuffer(gpu, this.weights, b, n);
            if (b.role === 'kept') throw new Error(`${b.id} is kept from a first call that has not run`);
            if (!plan.kept.includes(b.id)) return undefined;
            const kept = outputBuffer(gpu, b.id, n * 4);
            this.kept.set(b.id, kept);
            this.keptBytes.set(b.id, n * 4);
            return kept;
          },
          hostValues: (b, n) => {
            if (b.role === 'row_positions') return rowValues.get(b.id)!;
            if (plan.hostFilled.includes(b.id)) return decoderInputRows(this.model, plan.axis, run, b.id.slice(1), this.positions, N);
            if (b.role === 'input') return newRows(this.model, plan.axis, run, b.id.slice(1), this.positions, N, n);
            return undefined;
          },
          attentionValues: (s) => attentionHostData(s, env, dims, s.attention?.rowWindows ? rowValues.get(s.bind[ROW_WINDOW.role]) : undefined),
          beforeStep: (i, encoder, buffers) => {
            const st = appendAt.get(i);
            if (st) this.append(st, encoder, buffers, B, N);
          },
        });
      } finally {
        if (runner !== this.stepRun) runner.destroy();
      }
      this.programRuns++;
      this.hostMs.push(result.hostMs);
      this.waitMs.push(result.waitMs);
      const raw = result.output;
      const width = raw.length / (B * N);
      this.positions = starts.map((s) => s + N);
      this.encoded = true;
      gpu.checkHealthy();
      return Array.from({ length: B }, (_, b) => raw.slice((b * N + N - 1) * width, (b * N + N) * width));
    } finally {
      for (const b of retired) b.destroy();
    }
  }

  /**
   * The values of the decode step's per-row buffers (ROW_BUFFERS): each row's first new position, and each
   * attention's window per row (q_offset, k_offset, keys in use once this call's are appended).
   */
  private rowBufferValues(p: DecodeProgram['program'], dims: Record<string, number>, N: number): Map<string, Uint32Array> {
    const out = new Map<string, Uint32Array>();
    const B = this.batch;
    const window = (row: (b: number) => [number, number, number]) => Uint32Array.from({ length: B * ROW_WINDOW.stride }, (_, i) => row(Math.floor(i / ROW_WINDOW.stride))[i % ROW_WINDOW.stride]);
    for (const b of p.buffers) {
      if (b.role !== 'row_positions') continue;
      if (b.id === ROW_BUFFERS.start) out.set(b.id, Uint32Array.from(this.positions));
      else if (b.id === ROW_BUFFERS.cross) {
        // Cross-attention keys are the source's, the same for every row: the step's own key count.
        const s = p.steps.find((x) => x.kind === 'attention' && x.bind[ROW_WINDOW.role] === b.id)!;
        const { lk } = uniformValues(s, (f) => formula.evaluate(f, dims)!);
        out.set(b.id, window((r) => [this.positions[r], 0, lk]));
      } else {
        const st = this.sites.find((_, j) => ROW_BUFFERS.window(j) === b.id);
        if (!st) throw new Error(`no cache for the row buffer ${b.id}`);
        out.set(b.id, window((r) => [this.positions[r], st.dropped, this.live(st, r) + N]));
      }
    }
    return out;
  }

  /**
   * Makes room for `n` more key rows in each of B batch rows, dropping first the keys no row's query from its next
   * position on can see (the least position bounds them all).
   */
  private reserve(st: SiteState, B: number, n: number, env: MaskEnv, encoder: GPUCommandEncoder, retired: GPUBuffer[]): void {
    if (this.live(st) + n <= st.capacity) return;
    const axisBound = this.lowered.program.dims.find((d) => d.name === this.lowered.cache.axis)?.bound;
    const drop = st.site.droppable ? droppableKeys(st.attention, this.batch, st.dropped, Math.min(...this.positions), axisBound, env) - st.dropped : 0;
    const capacity = Math.max(MIN_CAPACITY, 2 * (this.live(st) - drop + n));
    regrowSite(this.gpu, st, B, capacity, drop, (r) => this.live(st, r) - drop, encoder, retired);
  }

  /** Copies each batch row's new K/V rows after its cached ones, before the attention that reads them. */
  private append(st: SiteState, encoder: GPUCommandEncoder, buffers: Map<string, GPUBuffer>, B: number, n: number): void {
    appendRows(st, encoder, buffers.get(st.site.k)!, buffers.get(st.site.v)!, B, n, (r) => this.live(st, r));
  }
}
