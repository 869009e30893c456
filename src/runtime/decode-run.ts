// One decode program (prefill or decode step, src/lower/decode-program.ts) run call after call with the device objects
// it needs kept from one call to the next: generating a token runs the decode step once, and creating its buffers,
// uniform blocks and bind groups anew every time was host work on every token.
//
// Every buffer the run owns (inputs, per-row positions, mask tables, tile classes, the memory plan's slots, each
// step's uniform block, the readback buffer) is created once, at the size its formula gives with every cache's key
// count at the cache's capacity, and written with `queue.writeBuffer` at each call; a buffer is replaced only when a
// call needs more (a cache grew, or a mask's data outgrew its table). A step's bind group is reused as long as the
// buffers it binds are the same objects, so it is rebuilt exactly when one of them was replaced: a cache that grew,
// compacted or was gathered (`select`), or an owned buffer that grew.

import type { DecodeProgram } from '../lower/decode-program.ts';
import { formula, type Formula } from '../lower/formula.ts';
import { boundBuffers, packStepUniforms, type ProgramBuffer, type Step } from '../lower/program.ts';
import type { GpuContext } from './device.ts';
import { withErrorScopes, type BufferData } from './gpu-buffers.ts';
import { bindKernel, kernelPipeline } from './kernel-binding.ts';
import { dispatchOf, prepareRun } from './program.ts';

export interface DecodeCall {
  /** The call's dims, and the same dims with every cache's keys at its capacity (they size the owned buffers). */
  dims: Record<string, number>;
  sizeDims: Record<string, number>;
  /** Steps to run, in order (the once-per-source steps left out after the first call). */
  order: number[];
  /** Buffers the caller keeps (caches, kept values, weights), or undefined for one the run owns. */
  external(b: ProgramBuffer, elements: number): GPUBuffer | undefined;
  /** Values of a buffer the host fills (inputs, per-row positions), or undefined. */
  hostValues(b: ProgramBuffer, elements: number): BufferData | undefined;
  /** The host-filled mask table and tile classes of an attention step. */
  attentionValues(s: Step): { table?: BufferData; classes?: BufferData };
  /** Encodes work due before step i (appending new K/V rows to a cache before the attention that reads them). */
  beforeStep(i: number, encoder: GPUCommandEncoder, buffers: Map<string, GPUBuffer>): void;
}

export interface DecodeCallResult {
  /** The program's first output, read back. */
  output: Float32Array;
  /** Milliseconds from the start of the call until its work was submitted: host work (values, writes, encoding). */
  hostMs: number;
  /** Milliseconds from the submit until the logits were readable on the host: the device's work and the handover. */
  waitMs: number;
}

/** What a run has created so far, for tests and reports: it should stop growing once a decode loop is under way. */
export interface DecodeRunCounts {
  buffers: number;
  bindGroups: number;
}

/** Storage buffers the host writes and copies from (the WebGPU globals exist only once a device module has loaded). */
const storage = () => GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;

export class DecodeProgramRun {
  private readonly owned = new Map<string, GPUBuffer>();
  private readonly groups = new Map<number, { group: GPUBindGroup; bound: GPUBuffer[] }>();
  private retired: GPUBuffer[] = [];
  readonly created: DecodeRunCounts = { buffers: 0, bindGroups: 0 };

  constructor(
    private readonly gpu: GpuContext,
    readonly decode: DecodeProgram,
  ) {}

  /** The buffer `key`, at least `bytes` long: the last call's when it is large enough, else a new one of `alloc` bytes. */
  private own(key: string, bytes: number, usage: GPUBufferUsageFlags, alloc = bytes): GPUBuffer {
    const have = this.owned.get(key);
    if (have && have.size >= bytes) return have;
    if (have) this.retired.push(have);
    const b = this.gpu.device.createBuffer({ label: key, size: Math.max(4, Math.ceil(Math.max(bytes, alloc) / 4) * 4), usage });
    this.created.buffers++;
    this.owned.set(key, b);
    return b;
  }

  /**
   * Writes `data` to the buffer `key`, which must hold `bytes` (at least the data; a buffer sized for the whole
   * cache is replaced when the cache grows); one that must be made is made `alloc` bytes long.
   */
  private write(key: string, data: BufferData, usage: GPUBufferUsageFlags = storage(), bytes = 0, alloc = 0): GPUBuffer {
    const b = this.own(key, Math.max(bytes, data.byteLength), usage, alloc);
    if (data.byteLength > 0) this.gpu.device.queue.writeBuffer(b, 0, data.buffer, data.byteOffset, data.byteLength);
    return b;
  }

  async run(call: DecodeCall): Promise<DecodeCallResult> {
    const t0 = performance.now();
    const { gpu } = this;
    const p = this.decode.program;
    const { size, stepKernel } = prepareRun(gpu, p, this.decode.rendered, call.dims);
    const bound = (f: Formula) => Math.max(size(f), formula.evaluate(f, call.sizeDims) ?? 0);
    const buffers = new Map<string, GPUBuffer>();
    const needed = new Set(call.order.flatMap((i) => boundBuffers(p.steps[i])));
    for (const b of p.buffers) {
      if (!needed.has(b.id)) continue;
      const n = size(b.elements);
      const external = call.external(b, n);
      const values = external ? undefined : call.hostValues(b, n);
      if (external) buffers.set(b.id, external);
      else if (values) buffers.set(b.id, this.write(b.id, values, storage(), bound(b.elements) * 4));
      else if (b.slot !== undefined) buffers.set(b.id, this.own(`slot ${b.slot}`, bound(p.slots[b.slot].elements) * 4, storage()));
    }
    for (const i of call.order) {
      const s = p.steps[i];
      if (s.kind !== 'attention') continue;
      const { table, classes } = call.attentionValues(s);
      // A table grows with the mask's data (the sequence so far): made twice as large, it is replaced at doublings.
      if (table) buffers.set(s.bind.mask, this.write(s.bind.mask, table, storage(), 0, 2 * table.byteLength));
      if (classes) buffers.set(s.bind.tileClass, this.write(s.bind.tileClass, classes, storage(), bound(p.buffers.find((b) => b.id === s.bind.tileClass)!.elements) * 4));
    }
    const launches: { i: number; pipeline: GPUComputePipeline; group: GPUBindGroup; dispatch: [number, number, number] }[] = [];
    for (const i of call.order) {
      const s = p.steps[i];
      const k = stepKernel(i);
      const pipeline = await kernelPipeline(gpu, k);
      const uniform = this.write(`uniforms ${i}`, packStepUniforms(s, k.uniforms, size), GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      launches.push({ i, pipeline, group: this.bindGroup(i, s, k, pipeline, uniform, buffers), dispatch: dispatchOf(s, size) });
    }
    const out = p.outputs[0];
    const outBytes = size(p.buffers.find((b) => b.id === out)!.elements) * 4;
    const readback = this.own('readback', outBytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, bound(p.buffers.find((b) => b.id === out)!.elements) * 4);
    let hostMs = 0;
    let mapped: Promise<void> | undefined;
    await withErrorScopes(gpu, `decoding ${p.model}`, () => {
      const encoder = gpu.device.createCommandEncoder({ label: `${p.model} ${this.decode.name}` });
      for (const { i, pipeline, group, dispatch } of launches) {
        call.beforeStep(i, encoder, buffers);
        const pass = encoder.beginComputePass();
        pass.setPipeline(pipeline);
        pass.setBindGroup(0, group);
        pass.dispatchWorkgroups(...dispatch);
        pass.end();
      }
      // The logits come back with the same submit.
      encoder.copyBufferToBuffer(buffers.get(out)!, 0, readback, 0, outBytes);
      gpu.device.queue.submit([encoder.finish()]);
      hostMs = performance.now() - t0;
      // Mapping starts now, so waiting for the error scopes overlaps the device's work instead of preceding it.
      mapped = readback.mapAsync(GPUMapMode.READ, 0, outBytes);
      // A failed map is reported by the error scopes first.
      mapped.catch(() => {});
    });
    await mapped;
    const waitMs = performance.now() - t0 - hostMs;
    const output = new Float32Array(readback.getMappedRange(0, outBytes).slice(0));
    readback.unmap();
    for (const b of this.retired) b.destroy();
    this.retired = [];
    return { output, hostMs, waitMs };
  }

  /** The step's bind group from the last call if it binds the same buffers, else a new one. */
  private bindGroup(i: number, s: Step, k: Parameters<typeof bindKernel>[1], pipeline: GPUComputePipeline, uniform: GPUBuffer, buffers: Map<string, GPUBuffer>): GPUBindGroup {
    const byRole = (role: string) => buffers.get(s.bind[role]);
    const now = [uniform, ...k.bindings.map((b) => byRole(b.role)!)];
    const last = this.groups.get(i);
    if (last && last.bound.length === now.length && last.bound.every((b, j) => b === now[j])) return last.group;
    const group = bindKernel(this.gpu, k, pipeline, uniform, byRole);
    this.created.bindGroups++;
    this.groups.set(i, { group, bound: now });
    return group;
  }

  destroy(): void {
    for (const b of [...this.owned.values(), ...this.retired]) b.destroy();
    this.owned.clear();
    this.groups.clear();
    this.retired = [];
  }
}
