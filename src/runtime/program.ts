// Running a lowered program on a WebGPU device: buffers sized from the dims, every launch encoded into one command
// buffer, the outputs read back once. Limits are checked before anything is dispatched, so a spec too large for the
// adapter fails with a sentence, not a lost device.

import type { CheckedModel } from '../check/model.ts';
import { sym, type Poly } from '../check/sym.ts';
import { classifierWgsl, MASK_KERNEL_WORKGROUP } from '../masks/classify-wgsl.ts';
import type { MaskEnv } from '../masks/kernel-contract.ts';
import { classifyTiles } from '../masks/tiles.ts';
import { attentionKernelOf } from '../lower/attention-kernels.ts';
import type { Lowered } from '../lower/passes.ts';
import { kernelForStep } from '../lower/render.ts';
import type { Program, Step, Word } from '../lower/schedule.ts';
import { attentionGrid, attentionParams } from '../wgsl/attention.ts';
import type { RunInputs } from './cpu-interpreter.ts';
import { shiftRight } from './decoder-input.ts';
import type { GpuContext } from './device.ts';
import { computePipeline, outputBuffer, readBack, uploadBuffer, withErrorScopes } from './gpu-buffers.ts';
import { packMaskBuffers } from './mask-buffers.ts';

export class ProgramLimitError extends Error {}

/**
 * Weights stay on the device between runs of the same weights map (generation runs the program once per token):
 * uploaded once per device, freed with the device.
 */
const weightBuffers = new WeakMap<GPUDevice, WeakMap<Map<string, Float32Array>, Map<string, GPUBuffer>>>();

function weightBuffer(gpu: GpuContext, weights: Map<string, Float32Array>, name: string, data: Float32Array): GPUBuffer {
  let perDevice = weightBuffers.get(gpu.device);
  if (!perDevice) weightBuffers.set(gpu.device, (perDevice = new WeakMap()));
  let perWeights = perDevice.get(weights);
  if (!perWeights) perDevice.set(weights, (perWeights = new Map()));
  let buffer = perWeights.get(name);
  if (!buffer) perWeights.set(name, (buffer = uploadBuffer(gpu, name, data)));
  return buffer;
}

type Entry = { binding: number; type: GPUBufferBindingType };

export async function runProgram(gpu: GpuContext, lowered: Lowered, model: CheckedModel, run: RunInputs, want?: string[]): Promise<Map<string, Float32Array | Int32Array>> {
  gpu.checkHealthy();
  const p = lowered.program;
  const dims = { ...run.dims };
  checkDims(p, dims);
  const size = (poly: Poly) => {
    const v = sym.evaluate(poly, dims);
    if (v === undefined) throw new ProgramLimitError(`no value given for ${sym.print(poly)}`);
    return v;
  };
  const maxBinding = gpu.limits.maxStorageBufferBindingSize;
  for (const b of p.buffers) {
    const bytes = size(b.elements) * 4;
    if (bytes > maxBinding) throw new ProgramLimitError(`buffer ${b.id} needs ${bytes} bytes at these dims, above this adapter's ${maxBinding}-byte storage binding limit; reduce the batch or the lengths`);
  }

  const created: GPUBuffer[] = [];
  const track = (b: GPUBuffer) => (created.push(b), b);
  const buffers = new Map<string, GPUBuffer>();
  const env = maskEnv(p, model, run, size);
  try {
    for (const b of p.buffers) {
      const n = size(b.elements);
      if (b.role === 'input') {
        const data = run.inputs[b.id.slice(1)];
        if (!data || data.length !== n) throw new ProgramLimitError(`input ${b.id.slice(1)} needs ${n} values, got ${data?.length ?? 0}`);
        buffers.set(b.id, track(uploadBuffer(gpu, b.id, data instanceof Int32Array ? data : Float32Array.from(data))));
      } else if (b.role === 'param') {
        const w = run.weights.get(b.id.slice(1));
        if (!w || w.length !== n) throw new ProgramLimitError(`weight ${b.id.slice(1)} needs ${n} values, got ${w?.length ?? 'none'}`);
        buffers.set(b.id, weightBuffer(gpu, run.weights, b.id, w));
      } else {
        buffers.set(b.id, track(outputBuffer(gpu, b.id, Math.max(4, n * 4))));
      }
    }
    const passes: ((pass: GPUComputePassEncoder) => void)[] = [];
    for (const step of p.steps) {
      if (step.kind === 'attention') passes.push(...(await attentionLaunch(gpu, step, buffers, env, dims, track)));
      else passes.push(await plainLaunch(gpu, step, buffers, size, track));
    }
    await withErrorScopes(gpu, `running ${p.model}`, () => {
      const encoder = gpu.device.createCommandEncoder({ label: p.model });
      for (const launch of passes) {
        const pass = encoder.beginComputePass();
        launch(pass);
        pass.end();
      }
      gpu.device.queue.submit([encoder.finish()]);
    });
    const out = new Map<string, Float32Array | Int32Array>();
    for (const id of want ?? p.outputs) {
      const b = p.buffers.find((x) => x.id === id);
      if (!b) throw new Error(`no buffer ${id}`);
      const raw = await readBack(gpu, buffers.get(id)!, size(b.elements) * 4);
      out.set(id, b.dtype === 'i32' ? new Int32Array(raw) : new Float32Array(raw));
    }
    gpu.checkHealthy();
    return out;
  } finally {
    for (const b of created) b.destroy();
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

/** Integer model inputs and decoder inputs, as masks read them. */
function maskEnv(p: Program, model: CheckedModel, run: RunInputs, size: (p: Poly) => number): MaskEnv {
  const env: MaskEnv = { dims: { ...run.dims }, data: {}, strides: {} };
  for (const inp of model.inputs.values()) {
    const len = inp.axis ? (run.dims[inp.axis] ?? model.dims.get(inp.axis)?.concrete ?? 1) : 1;
    if (inp.shiftedFrom) {
      const src = run.inputs[inp.shiftedFrom];
      if (src instanceof Int32Array) env.data[inp.name] = shiftRight(src, run.dims.B, len, { bos: inp.bos ?? 0, pad: inp.pad ?? 0, eos: inp.eos });
    } else if (run.inputs[inp.name] instanceof Int32Array) {
      env.data[inp.name] = run.inputs[inp.name] as Int32Array;
    }
    if (inp.kind !== 'lengths') env.strides![inp.name] = len;
  }
  void p;
  void size;
  return env;
}

/** Uniform words, padded to whole vec4s as the kernels declare them. */
function wordsOf(words: Word[], size: (p: Poly) => number): Uint32Array {
  const out = new Uint32Array(Math.ceil(words.length / 4) * 4);
  words.forEach((w, i) => (out[i] = 'f32' in w ? new Uint32Array(new Float32Array([w.f32]).buffer)[0] : size(w.poly) >>> 0));
  return out;
}

function entries(list: Entry[]): GPUBindGroupLayoutEntry[] {
  return list.map((e) => ({ binding: e.binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: e.type } }));
}

/** Splits a one-dimensional launch over two grid dimensions when it exceeds the per-dimension limit (65535). */
function grid1d(groups: number): [number, number, number] {
  return groups <= 65535 ? [Math.max(1, groups), 1, 1] : [65535, Math.ceil(groups / 65535), 1];
}

async function plainLaunch(gpu: GpuContext, step: Step, buffers: Map<string, GPUBuffer>, size: (p: Poly) => number, track: (b: GPUBuffer) => GPUBuffer) {
  const k = kernelForStep(step);
  const list: Entry[] = [{ binding: 0, type: 'uniform' }, ...k.bindings.map((b, i) => ({ binding: i + 1, type: (b.access === 'read' ? 'read-only-storage' : 'storage') as GPUBufferBindingType }))];
  const pipeline = await computePipeline(gpu, k.wgsl, k.entryPoint, entries(list));
  const uniform = track(uploadBuffer(gpu, `${step.node} uniforms`, wordsOf(step.words, size), 'uniform'));
  const bound = [uniform, ...step.buffers.map((id) => buffers.get(id)!)];
  const bindGroup = gpu.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: bound.map((buffer, binding) => ({ binding, resource: { buffer } })) });
  const g = step.grid.map((n) => Math.ceil(size(n.poly) / n.per)) as [number, number, number];
  const dispatch = step.kind === 'matmul' ? g : grid1d(g[0]);
  return (pass: GPUComputePassEncoder) => {
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...dispatch);
  };
}

async function attentionLaunch(gpu: GpuContext, step: Step, buffers: Map<string, GPUBuffer>, env: MaskEnv, dims: Record<string, number>, track: (b: GPUBuffer) => GPUBuffer) {
  const a = step.attention!;
  const kernel = attentionKernelOf(step, gpu.limits);
  const batch = dims.B;
  const lq = sym.evaluate((step.words[1] as { poly: Poly }).poly, dims)!;
  const lk = sym.evaluate((step.words[2] as { poly: Poly }).poly, dims)!;
  const grid = attentionGrid(kernel, batch, lq, lk);
  const siteEnv: MaskEnv = { ...env, dims: { ...env.dims, Lq: lq, Lk: lk } };
  const launches: ((pass: GPUComputePassEncoder) => void)[] = [];
  const byRole: Record<string, GPUBuffer> = {
    params: track(uploadBuffer(gpu, 'attention params', attentionParams(kernel, grid, lq, lk), 'uniform')),
    q: buffers.get(step.buffers[0])!,
    k: buffers.get(step.buffers[1])!,
    v: buffers.get(step.buffers[2])!,
    out: buffers.get(step.buffers[3])!,
  };
  if (a.mask) {
    const packed = packMaskBuffers(a.mask.wgsl, siteEnv, batch);
    byRole.maskParams = track(uploadBuffer(gpu, 'mask_params', packed.params));
    byRole.maskData = track(uploadBuffer(gpu, 'mask_data', packed.data));
  }
  const tiles = { batch, heads: kernel.tileHeads, lq, lk, tileQ: kernel.tileQ, tileK: kernel.tileK };
  if (!a.mask) {
    byRole.tileClass = track(uploadBuffer(gpu, 'tile classes', new Uint32Array(grid.tileClassCount).fill(2)));
  } else if (a.mask.wgsl.indexOnly) {
    // Masks of indices only: interval analysis on the host, no data needed.
    byRole.tileClass = track(uploadBuffer(gpu, 'tile classes', classifyTiles(a.mask.predicate, tiles, siteEnv)));
  } else {
    // Masks that read data: classified on the device, by a launch encoded just before the attention.
    byRole.tileClass = track(outputBuffer(gpu, 'tile classes', grid.tileClassCount * 4));
    const list: Entry[] = [
      { binding: 0, type: 'uniform' },
      { binding: 1, type: 'storage' },
      { binding: 2, type: 'read-only-storage' },
      { binding: 3, type: 'read-only-storage' },
    ];
    const pipeline = await computePipeline(gpu, classifierWgsl(a.mask.wgsl), 'mdl_classify', entries(list));
    const words = new Uint32Array([lq, lk, grid.qTiles, grid.kTiles, kernel.tileQ, kernel.tileK, kernel.tileHeads, grid.tileClassCount]);
    const uniform = track(uploadBuffer(gpu, 'classify grid', words, 'uniform'));
    const bound = [uniform, byRole.tileClass, byRole.maskParams, byRole.maskData];
    const bindGroup = gpu.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: bound.map((buffer, binding) => ({ binding, resource: { buffer } })) });
    launches.push((pass) => {
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(...grid1d(Math.ceil(grid.tileClassCount / MASK_KERNEL_WORKGROUP)));
    });
  }
  const layout = kernel.bindings.map((b) => ({ binding: b.binding, type: b.type as GPUBufferBindingType }));
  const pipeline = await computePipeline(gpu, kernel.wgsl, kernel.entryPoint, entries(layout));
  const bindGroup = gpu.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: kernel.bindings.map((b) => ({ binding: b.binding, resource: { buffer: byRole[b.role] } })) });
  launches.push((pass) => {
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(...grid.dispatch);
  });
  return launches;
}
