// Running a compiled program on a WebGPU device: the rendered kernels — the same WGSL `mdl compile` writes — launched
// in manifest order over buffers sized from the dims, every launch encoded into one command buffer, the outputs read
// back once. Sizes, workgroups and dispatch counts are checked against the device before anything is created, so a
// spec too large for the adapter fails with a sentence, not a lost device.

import type { CheckedModel } from '../check/model.ts';
import { sym } from '../check/sym.ts';
import { formula, type Formula } from '../lower/formula.ts';
import type { GradGraph } from '../lower/grad.ts';
import { kernelsOf, type Lowered } from '../lower/passes.ts';
import { packStepUniforms, uniformValues, type Program, type ProgramBuffer, type ScalarValue, type Step } from '../lower/program.ts';
import type { Rendered, RenderedKernel } from '../lower/render.ts';
import { lossBuffers, lowerTraining } from '../lower/train-schedule.ts';
import { TileClass, type MaskEnv } from '../masks/kernel-contract.ts';
import type { BoolExpr } from '../masks/predicate.ts';
import { classifyTiles, readsHead, type TileGrid } from '../masks/tiles.ts';
import { ROW_WINDOW } from '../wgsl/attention.ts';
import { evalDim, type RunInputs, type Tensor } from './cpu-interpreter.ts';
import { labelsOf } from './cpu-training.ts';
import { shiftRight } from './decoder-input.ts';
import type { GpuContext } from './device.ts';
import { outputBuffer, readBack, uploadBuffer, withErrorScopes } from './gpu-buffers.ts';
import { bindKernel, kernelPipeline } from './kernel-binding.ts';
import { packMaskBuffers } from './mask-buffers.ts';
import { checkProgramMaskSizes } from './mask-size-check.ts';

export class ProgramLimitError extends Error {}

/**
 * Weights stay on the device between runs of the same weights map (generation runs the program once per token):
 * uploaded once per device, freed with the device.
 */
const weightBuffers = new WeakMap<GPUDevice, WeakMap<Map<string, Float32Array>, Map<string, GPUBuffer>>>();

function weightBuffer(gpu: GpuContext, weights: Map<string, Float32Array>, name: string, data: () => Float32Array): GPUBuffer {
  let perDevice = weightBuffers.get(gpu.device);
  if (!perDevice) weightBuffers.set(gpu.device, (perDevice = new WeakMap()));
  let perWeights = perDevice.get(weights);
  if (!perWeights) perDevice.set(weights, (perWeights = new Map()));
  let buffer = perWeights.get(name);
  if (!buffer) perWeights.set(name, (buffer = uploadBuffer(gpu, name, data())));
  return buffer;
}

/** The device buffer of a weight, or of projections packed together, with `n` values; uploaded once per device. */
export function paramBuffer(gpu: GpuContext, weights: Map<string, Float32Array>, b: ProgramBuffer, n: number): GPUBuffer {
  if (b.role === 'packed_param') {
    const parts = b.packs!.map((id) => weights.get(id.slice(1)) ?? missingWeight(id));
    return weightBuffer(gpu, weights, b.id, () => concat(parts, n));
  }
  const w = weights.get(b.id.slice(1));
  if (!w || w.length !== n) throw new ProgramLimitError(`weight ${b.id.slice(1)} needs ${n} values, got ${w?.length ?? 'none'}`);
  return weightBuffer(gpu, weights, b.id, () => w);
}

/** Sizes at these dims and each step's kernel, after checking everything against the device's limits. */
export function prepareRun(gpu: GpuContext, program: Program, rendered: Rendered, dims: Record<string, number>): { size: (f: Formula) => number; stepKernel: (i: number) => RenderedKernel } {
  const size = (f: Formula) => {
    const v = formula.evaluate(f, dims);
    if (v === undefined) throw new ProgramLimitError(`no value given for a dim of ${formula.print(f)}`);
    return v;
  };
  const stepKernel = kernelsOf(rendered);
  checkLimits(gpu, program, stepKernel, size);
  return { size, stepKernel };
}

/** Buffers a caller keeps between runs (weights and optimizer state on the device), by program buffer. */
export type ExternalBuffer = (b: ProgramBuffer, elements: number) => GPUBuffer | undefined;

/** A program's buffers and launches, ready to be encoded into a command buffer; `release` frees what it created. */
export interface EncodedProgram {
  buffers: Map<string, GPUBuffer>;
  /** Encodes every step in order, or only step `only` (a profile times the steps one by one). */
  encode(encoder: GPUCommandEncoder, only?: number): void;
  /** How many steps `encode` launches. */
  steps: number;
  /** Bytes of the device buffers created for this run (not counting external ones). */
  bytes: number;
  /** Reads back the buffer of `id` (f32 or i32 as the program declares it). */
  read(id: string): Promise<Float32Array | Int32Array>;
  release(): void;
}

/**
 * Creates the buffers of one run of a program and prepares its launches. `external` supplies buffers the caller
 * keeps (consulted first for every buffer); weights otherwise come from `run.weights`, inputs from `run.inputs`.
 * `separate` gives every value its own buffer instead of the memory plan's shared slots (to read intermediates).
 */
export async function encodeProgram(
  gpu: GpuContext,
  lowered: Pick<Lowered, 'program' | 'rendered'>,
  model: CheckedModel,
  run: RunInputs,
  options: { external?: ExternalBuffer; scalar?: ScalarValue; separate?: boolean } = {},
): Promise<EncodedProgram> {
  gpu.checkHealthy();
  const p = lowered.program;
  const dims = { ...run.dims };
  checkDims(p, dims);
  checkProgramMaskSizes(model, p, dims);
  const { size, stepKernel } = prepareRun(gpu, p, lowered.rendered, dims);

  const created: GPUBuffer[] = [];
  let bytes = 0;
  const track = (b: GPUBuffer) => (created.push(b), (bytes += b.size), b);
  const release = () => {
    for (const b of created) b.destroy();
  };
  const buffers = new Map<string, GPUBuffer>();
  const slots = new Map<number, GPUBuffer>();
  const slotBuffer = (slot: number) => {
    let b = slots.get(slot);
    if (!b) slots.set(slot, (b = track(outputBuffer(gpu, `slot ${slot}`, size(p.slots[slot].elements) * 4))));
    return b;
  };
  try {
    for (const b of p.buffers) {
      const n = size(b.elements);
      const kept = options.external?.(b, n);
      if (kept) {
        buffers.set(b.id, kept);
      } else if (b.role === 'input') {
        const data = run.inputs[b.id.slice(1)];
        if (!data || data.length !== n) throw new ProgramLimitError(`input ${b.id.slice(1)} needs ${n} values, got ${data?.length ?? 0}`);
        buffers.set(b.id, track(uploadBuffer(gpu, b.id, data instanceof Int32Array ? data : Float32Array.from(data))));
      } else if (b.role === 'param' || b.role === 'packed_param') {
        buffers.set(b.id, paramBuffer(gpu, run.weights, b, n));
      } else if (b.role === 'state') {
        throw new Error(`${b.id}: a state buffer the caller did not supply`);
      } else if (b.slot !== undefined) {
        buffers.set(b.id, options.separate ? track(outputBuffer(gpu, b.id, n * 4)) : slotBuffer(b.slot));
      }
    }
    if (p.steps.some((s) => s.kind === 'attention')) {
      const env = maskEnv(model, run);
      for (const s of p.steps) if (s.kind === 'attention') uploadAttentionInputs(gpu, s, env, dims, buffers, track);
    }
    const launches: ((pass: GPUComputePassEncoder) => void)[] = [];
    for (const [i, s] of p.steps.entries()) launches.push(await launch(gpu, s, stepKernel(i), buffers, size, track, options.scalar));
    return {
      buffers,
      bytes,
      steps: launches.length,
      encode(encoder, only) {
        for (const l of only === undefined ? launches : [launches[only]]) {
          const pass = encoder.beginComputePass();
          l(pass);
          pass.end();
        }
      },
      async read(id) {
        const b = p.buffers.find((x) => x.id === id);
        if (!b || !buffers.has(id)) throw new Error(`no buffer ${id}`);
        const raw = await readBack(gpu, buffers.get(id)!, size(b.elements) * 4);
        return b.dtype === 'f32' ? new Float32Array(raw) : new Int32Array(raw);
      },
      release,
    };
  } catch (e) {
    release();
    throw e;
  }
}

/** Runs the program; returns the graph outputs (or the buffers named in `want`) by id. */
export async function runProgram(gpu: GpuContext, lowered: Pick<Lowered, 'program' | 'rendered'>, model: CheckedModel, run: RunInputs, want?: string[]): Promise<Map<string, Float32Array | Int32Array>> {
  const p = lowered.program;
  // Values share device buffers by the memory plan, unless the caller wants to read back an intermediate value,
  // which a later value may have overwritten.
  const separate = !(want ?? p.outputs).every((id) => p.outputs.includes(id));
  const encoded = await encodeProgram(gpu, lowered, model, run, { separate });
  try {
    await withErrorScopes(gpu, `running ${p.model}`, () => {
      const encoder = gpu.device.createCommandEncoder({ label: p.model });
      encoded.encode(encoder);
      gpu.device.queue.submit([encoder.finish()]);
    });
    const out = new Map<string, Float32Array | Int32Array>();
    for (const id of want ?? p.outputs) out.set(id, await encoded.read(id));
    gpu.checkHealthy();
    return out;
  } finally {
    encoded.release();
  }
}

function checkDims(p: Program, dims: Record<string, number>): void {
  for (const d of p.dims) {
    const v = dims[d.name];
    if (v === undefined) throw new ProgramLimitError(`dim ${d.name} needs a value`);
    if (!Number.isInteger(v) || v < 1) throw new ProgramLimitError(`dim ${d.name} must be a positive integer, got ${v}`);
    if (d.bound !== undefined && v > d.bound) throw new ProgramLimitError(`dim ${d.name} = ${v} exceeds its bound ${d.bound} in the spec`);
  }
}

/** Everything the device must allow, checked before any buffer exists. */
export function checkLimits(gpu: GpuContext, p: Program, stepKernel: (i: number) => RenderedKernel, size: (f: Formula) => number): void {
  const l = gpu.limits;
  const maxBinding = Math.min(l.maxStorageBufferBindingSize, l.maxBufferSize);
  for (const b of p.buffers) {
    const bytes = size(b.elements) * 4;
    if (bytes > maxBinding) {
      throw new ProgramLimitError(`buffer ${b.id} needs ${bytes} bytes at these dims, above this adapter's ${maxBinding}-byte storage binding limit; reduce the batch or the lengths`);
    }
  }
  p.steps.forEach((s, i) => {
    const k = stepKernel(i);
    const what = `step ${i} (${k.file})`;
    if (k.workgroupSize > l.maxComputeInvocationsPerWorkgroup) throw new ProgramLimitError(`${what} needs ${k.workgroupSize} invocations per workgroup; this adapter allows ${l.maxComputeInvocationsPerWorkgroup}`);
    if (k.workgroupStorageBytes > l.maxComputeWorkgroupStorageSize) throw new ProgramLimitError(`${what} needs ${k.workgroupStorageBytes} bytes of workgroup memory; this adapter allows ${l.maxComputeWorkgroupStorageSize}`);
    const storage = k.bindings.length;
    if (storage > l.maxStorageBuffersPerShaderStage) throw new ProgramLimitError(`${what} binds ${storage} storage buffers; this adapter allows ${l.maxStorageBuffersPerShaderStage}`);
    const grid = dispatchOf(s, size);
    if (grid.some((g) => g > l.maxComputeWorkgroupsPerDimension)) {
      throw new ProgramLimitError(`${what} needs ${grid.join(' × ')} workgroups at these dims; this adapter allows ${l.maxComputeWorkgroupsPerDimension} per dimension`);
    }
  });
}

/** Workgroup counts; one-dimensional launches over 65535 groups are folded into two dimensions, as the kernels expect. */
export function dispatchOf(s: Step, size: (f: Formula) => number): [number, number, number] {
  const g = s.grid.map(size) as [number, number, number];
  const folds = s.kind !== 'matmul' && s.kind !== 'attention' && s.kind !== 'attention_backward' && s.kind !== 'classify';
  if (folds && g[0] > 65535) return [65535, Math.ceil(g[0] / 65535), 1];
  return g;
}

/** Integer model inputs and decoder inputs, as masks read them. */
export function maskEnv(model: CheckedModel, run: RunInputs): MaskEnv {
  const env: MaskEnv = { dims: { ...run.dims }, data: {}, strides: {} };
  for (const inp of model.inputs.values()) {
    const len = inp.axis ? (run.dims[inp.axis] ?? model.dims.get(inp.axis)?.concrete ?? 1) : 1;
    if (inp.shiftedFrom) {
      const src = run.inputs[inp.shiftedFrom];
      const batch = sym.evaluate(inp.shape[0], run.dims) ?? 1;
      if (src instanceof Int32Array) env.data[inp.name] = shiftRight(src, batch, len, { bos: inp.bos ?? 0, pad: inp.pad ?? 0, eos: inp.eos });
    } else if (run.inputs[inp.name] instanceof Int32Array) {
      env.data[inp.name] = run.inputs[inp.name] as Int32Array;
    }
    if (inp.kind !== 'lengths') env.strides![inp.name] = len;
  }
  return env;
}

/**
 * The host-filled buffers of one attention step: mask parameters and data, and tile classes unless a step computes
 * them. Its rows are those of its uniforms (the new rows of a decode call at their offsets); the mask sees the
 * lengths of the whole sequence up to them.
 *
 * `windows`: each batch row's q_offset, k_offset and key count (ROW_WINDOW), for a step with per-row windows; host
 * tile classes are then worked out row by row, tiles past a row's keys EMPTY.
 */
export function uploadAttentionInputs(gpu: GpuContext, s: Step, env: MaskEnv, dims: Record<string, number>, buffers: Map<string, GPUBuffer>, track: (b: GPUBuffer) => GPUBuffer, windows?: Uint32Array): void {
  const { table, classes } = attentionHostData(s, env, dims, windows);
  if (table) buffers.set(s.bind.mask, track(uploadBuffer(gpu, 'mask table', table)));
  if (classes) buffers.set(s.bind.tileClass, track(uploadBuffer(gpu, 'tile classes', classes)));
}

/** What `uploadAttentionInputs` uploads, as host arrays: the mask table (with a mask) and the tile classes (host-filled). */
export function attentionHostData(s: Step, env: MaskEnv, dims: Record<string, number>, windows?: Uint32Array): { table?: Int32Array; classes?: Uint32Array } {
  const a = s.attention!;
  const value = (f: Formula) => formula.evaluate(f, dims)!;
  const u = uniformValues(s, value);
  const batch = value(formula.of(a.batch));
  const siteEnv: MaskEnv = { ...env, dims: { ...env.dims, Lq: u.lq + u.q_offset, Lk: u.lk + u.k_offset } };
  const table = a.mask ? packMaskBuffers(a.mask.wgsl, siteEnv, batch).table : undefined;
  if (a.tileFill === 'device') return { table };
  const grid = { batch, heads: a.tiles.heads, lq: u.lq, lk: u.lk, tileQ: a.tiles.q, tileK: a.tiles.k, qOffset: u.q_offset, kOffset: u.k_offset };
  const count = batch * a.tiles.heads * u.n_q_tiles * u.n_k_tiles;
  const classes = a.tileFill !== 'host' ? new Uint32Array(count).fill(TileClass.Full) : windows ? rowTileClasses(a.mask!.predicate, grid, siteEnv, u.n_k_tiles, windows) : classifyTiles(a.mask!.predicate, grid, siteEnv);
  if (classes.length !== count) throw new Error(`${s.node}: ${classes.length} tile classes for a grid of ${count} tiles`);
  return { table, classes };
}

/** Host tile classes row by row, each at its own window, in the layout of `nKT` key tiles (those past a row's keys EMPTY). */
function rowTileClasses(pred: BoolExpr, grid: TileGrid, env: MaskEnv, nKT: number, windows: Uint32Array): Uint32Array {
  const hc = readsHead(pred) ? grid.heads : 1;
  const nQT = Math.ceil(grid.lq / grid.tileQ);
  const out = new Uint32Array(grid.batch * hc * nQT * nKT).fill(TileClass.Empty);
  for (let b = 0; b < grid.batch; b++) {
    const [qOffset, kOffset, lk] = windows.subarray(b * ROW_WINDOW.stride, (b + 1) * ROW_WINDOW.stride);
    const row = classifyTiles(pred, { ...grid, lk, qOffset, kOffset, batchRow: b }, env);
    const rowKT = Math.ceil(lk / grid.tileK);
    for (let i = 0; i < hc * nQT; i++) out.set(row.subarray(i * rowKT, (i + 1) * rowKT), (b * hc * nQT + i) * nKT);
  }
  return out;
}

export async function launch(gpu: GpuContext, s: Step, k: RenderedKernel, buffers: Map<string, GPUBuffer>, size: (f: Formula) => number, track: (b: GPUBuffer) => GPUBuffer, scalar?: ScalarValue) {
  const pipeline = await kernelPipeline(gpu, k);
  const uniform = track(uploadBuffer(gpu, `${k.file} uniforms`, packStepUniforms(s, k.uniforms, size, scalar), 'uniform'));
  const bindGroup = bindKernel(gpu, k, pipeline, uniform, (role) => buffers.get(s.bind[role]) ?? missing(s.bind[role]));
  const dispatch = dispatchOf(s, size);
  return (pass: GPUComputePassEncoder) => {
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...dispatch);
  };
}

function missingWeight(id: string): never {
  throw new ProgramLimitError(`weight ${id.slice(1)} is missing`);
}

/** Packed projection weights: the parts one after another, as the packed matmul reads them. */
function concat(parts: Float32Array[], total: number): Float32Array {
  const out = new Float32Array(total);
  let at = 0;
  for (const p of parts) {
    if (at + p.length > total) break;
    out.set(p, at);
    at += p.length;
  }
  if (at !== total) throw new ProgramLimitError(`packed weights need ${total} values, the parts hold ${parts.reduce((n, p) => n + p.length, 0)}`);
  return out;
}

function missing(id: string): never {
  throw new Error(`buffer ${id} was never created`);
}

// Gradients: the training program (src/lower/train-schedule.ts), with the labels worked out on the host first exactly
// as the CPU reference does (`labelsOf`: pad, `next`, `within` and the loss's count predicate). The result has the
// CPU reference's shape: the loss, the counted positions and every parameter's gradient by name.

export interface GpuTrainingResult {
  loss: number;
  counted: number;
  grads: Map<string, Float32Array>;
}


/** The run's inputs with the labels the loss counts (worked out on the host), and how many positions count. */
export function withLabels(g: GradGraph, m: CheckedModel, run: RunInputs): { inputs: RunInputs['inputs']; counted: number; labels: Int32Array } {
  const labelsNode = g.nodes.find((n) => n.op === 'labels');
  if (!labelsNode) throw new Error('the training graph has no labels node');
  const get = (id: string): Tensor => {
    const v = run.inputs[id.slice(1)];
    if (!(v instanceof Int32Array)) throw new Error(`the labels read ${id}, which is not a token input`);
    return v;
  };
  for (const d of labelsNode.shape) evalDim(d, run.dims);
  const { labels, counted } = labelsOf(labelsNode, get, m, maskEnv(m, run), run.dims);
  return { inputs: { ...run.inputs, [labelsNode.id.slice(1)]: labels }, counted, labels };
}

export async function runTraining(gpu: GpuContext, g: GradGraph, m: CheckedModel, run: RunInputs, lowered = lowerTraining(g, m)): Promise<GpuTrainingResult> {
  const { inputs, counted } = withLabels(g, m, run);
  const out = await runProgram(gpu, lowered, m, { ...run, inputs });
  const value = (id: string) => out.get(id) as Float32Array;
  const gpuCount = value(lossBuffers(g.loss).count)[0];
  if (gpuCount !== counted) throw new Error(`the device counted ${gpuCount} positions, the host ${counted}`);
  const grads = new Map([...g.grads].map(([name, id]) => [name, value(id)]));
  return { loss: value(g.loss)[0], counted, grads };
}
