// The render pass: program → WGSL files and a manifest. Output is deterministic (same spec, same bytes): kernels are
// generated for the WebGPU default limits, which every adapter meets, files are numbered in first-use order, and the
// manifest lists everything in program order. The program runner executes exactly these kernels.

import { classifierWgsl, MASK_KERNEL_WORKGROUP } from '../masks/classify-wgsl.ts';
import { argmaxKernel, elementwiseKernel, embedKernel, matmulKernel, normKernel, ropeKernel, shiftRightKernel, type WgslKernel } from '../wgsl/kernels.ts';
import { needsScoreTable } from '../wgsl/score-modifiers.ts';
import { attentionKernelOf } from './attention-kernels.ts';
import { formula } from './formula.ts';
import type { Program, Step, Word } from './schedule.ts';

export type Access = 'uniform' | 'read' | 'read_write';

export interface RenderedKernel {
  file: string;
  family: string;
  entryPoint: string;
  wgsl: string;
  workgroupSize: number;
  workgroupStorageBytes: number;
  /** Binding 0 is the uniform block; the rest are storage buffers bound to the step's buffers in order. */
  bindings: { binding: number; access: Access }[];
}

export interface Rendered {
  kernels: RenderedKernel[];
  /** The kernel file of each step, in step order. */
  stepKernels: string[];
  manifest: string;
}

interface KernelSource {
  family: string;
  wgsl: string;
  entryPoint: string;
  workgroupSize: number;
  workgroupStorageBytes: number;
  bindings: { binding: number; access: Access }[];
}

/** The WGSL kernel of a step other than attention and classification. */
export function kernelForStep(step: Step): WgslKernel {
  switch (step.kind) {
    case 'matmul':
      return matmulKernel(step.options!);
    case 'embed':
      return embedKernel(step.family.replace('embed_', '') as 'none' | 'sinusoidal' | 'learned');
    case 'norm':
      return normKernel(step.family === 'norm_rms' ? 'rms' : 'layer');
    case 'elementwise':
      return elementwiseKernel(step.family.replace('elementwise_', '') as 'add');
    case 'rope':
      return ropeKernel();
    case 'shift_right':
      return shiftRightKernel();
    case 'argmax':
      return argmaxKernel();
    case 'classify':
    case 'attention':
      throw new Error(`${step.kind} kernels come from the mask and attention generators`);
  }
}

function sourceOf(step: Step): KernelSource {
  if (step.kind === 'attention') {
    const k = attentionKernelOf(step);
    // The order the schedule binds in (schedule.ts, attentionSteps).
    const a = step.attention!;
    const roles = ['params', 'q', 'k', 'v', 'out', 'tileClass', ...(a.mask ? ['maskParams', 'maskData'] : []), ...(needsScoreTable(a.modifiers) ? ['scoreTable'] : [])];
    k.bindings.forEach((b, i) => {
      if (b.binding !== i || b.role !== roles[i]) throw new Error(`attention binding ${b.binding} is ${b.role}; the schedule binds ${roles[i]} there`);
    });
    const bindings = k.bindings.map((b) => ({ binding: b.binding, access: (b.type === 'uniform' ? 'uniform' : b.type === 'storage' ? 'read_write' : 'read') as Access }));
    return { family: 'attention', wgsl: k.wgsl, entryPoint: k.entryPoint, workgroupSize: k.workgroupSize, workgroupStorageBytes: k.workgroupStorageBytes, bindings };
  }
  if (step.kind === 'classify') {
    // Layout fixed by classify-wgsl.ts: grid uniform, tile classes written, mask params and data read.
    const bindings: KernelSource['bindings'] = [
      { binding: 0, access: 'uniform' },
      { binding: 1, access: 'read_write' },
      { binding: 2, access: 'read' },
      { binding: 3, access: 'read' },
    ];
    return { family: 'classify', wgsl: classifierWgsl(step.attention!.mask!.wgsl), entryPoint: 'mdl_classify', workgroupSize: MASK_KERNEL_WORKGROUP, workgroupStorageBytes: 0, bindings };
  }
  const k = kernelForStep(step);
  const bindings = [{ binding: 0, access: 'uniform' as Access }, ...k.bindings.map((b, i) => ({ binding: i + 1, access: b.access }))];
  return { family: k.family, wgsl: k.wgsl.endsWith('\n') ? k.wgsl : `${k.wgsl}\n`, entryPoint: k.entryPoint, workgroupSize: k.workgroup, workgroupStorageBytes: k.workgroupStorageBytes, bindings };
}

export function render(p: Program): Rendered {
  const kernels: RenderedKernel[] = [];
  const bySource = new Map<string, RenderedKernel>();
  // A kernel's source depends only on the step's kind, family, options and attention site, which repeat layer
  // after layer: generate each distinct one once, so that rendering stays linear in the steps with a small constant.
  const sources = new Map<string, KernelSource>();
  const stepKernels = p.steps.map((step) => {
    const key = JSON.stringify([step.kind, step.family, step.options ?? null, step.attention ?? null]);
    let src = sources.get(key);
    if (!src) {
      src = sourceOf(step);
      sources.set(key, src);
    }
    if (src.bindings.length !== step.buffers.length + 1) {
      throw new Error(`${step.node}: the ${src.family} kernel has ${src.bindings.length - 1} storage bindings, the step binds ${step.buffers.length} buffers`);
    }
    let k = bySource.get(src.wgsl);
    if (!k) {
      k = { file: `${String(kernels.length).padStart(2, '0')}-${src.family}.wgsl`, ...src };
      kernels.push(k);
      bySource.set(src.wgsl, k);
    }
    return k.file;
  });
  return { kernels, stepKernels, manifest: manifestJson(p, kernels, stepKernels) };
}

const word = (w: Word) => ('f32' in w ? { f32: w.f32 } : formula.print(w));

function manifestJson(p: Program, kernels: RenderedKernel[], stepKernels: string[]): string {
  const kernelOf = new Map(kernels.map((k) => [k.file, k]));
  const writer = new Map<string, number>();
  p.steps.forEach((s, i) => {
    const k = kernelOf.get(stepKernels[i])!;
    s.buffers.forEach((id, j) => {
      if (k.bindings[j + 1].access === 'read_write' && !writer.has(id)) writer.set(id, i);
    });
  });
  // Each attention step's tile classes (its fifth buffer), found once rather than by a scan per buffer.
  const siteOfTiles = new Map<string, NonNullable<Program['steps'][number]['attention']>>();
  for (const s of p.steps) if (s.kind === 'attention' && s.attention && s.buffers[4] !== undefined && !siteOfTiles.has(s.buffers[4])) siteOfTiles.set(s.buffers[4], s.attention);
  const filledBy = (b: Program['buffers'][number]): string => {
    switch (b.role) {
      case 'input':
        return 'host: model input';
      case 'param':
        return 'host: weight of the same name (without %)';
      case 'packed_param':
        return `host: ${b.packs!.map((id) => id.slice(1)).join(', ')}, one after another`;
      case 'mask_params':
      case 'mask_data':
        return "host: packed from the mask's inputs at dispatch (src/masks/kernel-contract.ts)";
      case 'tile_classes': {
        const site = siteOfTiles.get(b.id)!;
        if (site.tileFill === 'full') return 'host: every tile FULL (2), no mask';
        if (site.tileFill === 'host') return "host: interval analysis of the mask's predicate at dispatch";
        return `step ${writer.get(b.id)}`;
      }
      case 'value':
        return writer.has(b.id) ? `step ${writer.get(b.id)}` : 'never written';
    }
  };
  const manifest = {
    format: 'mdl-program/2',
    model: p.model,
    dims: p.dims,
    conventions: {
      layouts: 'row-major; activations [B, L, width]; attention Q and output [B, Lq, heads, head_dim], K and V [B, Lk, kv_heads, head_dim]; linear weights [out, in]',
      sizes: 'formulas of the dims; ceil(x / n) rounds up',
      uniforms: "binding 0 of every step: its uniform words as u32 (f32 values as their bit pattern), padded with zeros to a multiple of 4 words",
      tileClasses: 'u32 [B, tile heads, query tiles, key tiles]: 0 EMPTY, 1 PARTIAL, 2 FULL',
      dispatch: 'workgroup counts per dimension; a 1-D count above 65535 is split as (65535, ceil(count / 65535), 1)',
      memory: 'buffers with a slot share that slot\'s device buffer; their lifetimes (first write to last use) never overlap',
    },
    buffers: p.buffers.map((b) => ({ id: b.id, role: b.role, dtype: b.dtype, bytes: formula.print(b.elements, 4), filledBy: filledBy(b), ...(b.slot === undefined ? {} : { slot: b.slot }) })),
    slots: p.slots.map((s) => ({ slot: s.id, dtype: s.dtype, bytes: formula.print(s.elements, 4), values: s.values.length })),
    kernels: kernels.map((k) => ({ file: k.file, entryPoint: k.entryPoint, workgroupSize: k.workgroupSize, workgroupStorageBytes: k.workgroupStorageBytes, bindings: k.bindings })),
    steps: p.steps.map((s, i) => {
      const k = kernelOf.get(stepKernels[i])!;
      const base = {
        node: s.node,
        kind: s.kind,
        kernel: k.file,
        uniforms: s.words.map(word),
        bindings: s.buffers.map((buffer, j) => ({ binding: j + 1, buffer, access: k.bindings[j + 1].access })),
        dispatch: s.grid.map((g) => formula.print(g)),
      };
      const a = s.attention;
      if (!a) return base;
      return {
        ...base,
        attention: {
          heads: a.heads,
          kvHeads: a.kvHeads,
          headDim: a.headDim,
          queryAxis: a.queryAxis,
          keyAxis: a.keyAxis,
          tiles: a.tiles,
          modifiers: a.modifiers.map((m) => m.kind),
          tileClasses: a.tileFill,
          mask: a.mask ? { name: a.mask.name, normalForm: a.mask.normalForm, params: a.mask.wgsl.params, inputs: a.mask.wgsl.inputs, perHead: a.mask.wgsl.perHead } : null,
        },
      };
    }),
    outputs: p.outputs,
  };
  return JSON.stringify(manifest, null, 2) + '\n';
}
