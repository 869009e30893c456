// The render pass: program → WGSL files and a manifest. Output is deterministic (same spec, same bytes): kernels are
// generated for the default device limits (16 KiB of workgroup memory, 256 invocations), files are numbered in
// first-use order, and the manifest lists everything in program order.

import { sym, type Poly } from '../check/sym.ts';
import { classifierWgsl } from '../masks/classify-wgsl.ts';
import { attentionKernelOf } from './attention-kernels.ts';
import { countText } from './print-program.ts';
import type { Program, Step, Word } from './schedule.ts';
import { argmaxKernel, elementwiseKernel, embedKernel, matmulKernel, normKernel, ropeKernel, shiftRightKernel, type Activation, type WgslKernel } from '../wgsl/kernels.ts';

export interface RenderedKernel {
  file: string;
  family: string;
  entryPoint: string;
  wgsl: string;
  workgroupSize: number;
}

export interface Rendered {
  kernels: RenderedKernel[];
  /** Kernel file per step, in step order (and the classification kernel file for data-dependent masks). */
  stepKernels: { kernel: string; classifier?: string; tiles?: { q: number; k: number } }[];
  manifest: string;
}

/** The WGSL kernel for a non-attention step. */
export function kernelForStep(step: Step): WgslKernel {
  switch (step.kind) {
    case 'matmul':
      return matmulKernel({ act: (step.options?.act as Activation) ?? 'none', bias: !!step.options?.bias, residual: !!step.options?.residual });
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
    case 'attention':
      throw new Error('attention kernels come from attentionKernelOf');
  }
}

export function render(p: Program): Rendered {
  const kernels: RenderedKernel[] = [];
  const bySource = new Map<string, RenderedKernel>();
  const add = (family: string, wgsl: string, entryPoint: string, workgroupSize: number): string => {
    let k = bySource.get(wgsl);
    if (!k) {
      k = { file: `${String(kernels.length).padStart(2, '0')}-${family}.wgsl`, family, entryPoint, wgsl, workgroupSize };
      kernels.push(k);
      bySource.set(wgsl, k);
    }
    return k.file;
  };
  const stepKernels: Rendered['stepKernels'] = p.steps.map((s) => {
    if (s.kind !== 'attention') {
      const k = kernelForStep(s);
      return { kernel: add(k.family, k.wgsl, k.entryPoint, k.workgroup) };
    }
    const a = attentionKernelOf(s);
    const file = add('attention', a.wgsl, a.entryPoint, a.workgroupSize);
    const mask = s.attention!.mask;
    const classifier = mask && !mask.wgsl.indexOnly ? add('classify', classifierWgsl(mask.wgsl), 'mdl_classify', 64) : undefined;
    return { kernel: file, classifier, tiles: { q: a.tileQ, k: a.tileK } };
  });
  return { kernels, stepKernels, manifest: manifestJson(p, kernels, stepKernels) };
}

const formula = (p: Poly) => sym.print(p);
const word = (w: Word) => ('f32' in w ? { f32: w.f32 } : formula(w.poly));

function manifestJson(p: Program, kernels: RenderedKernel[], stepKernels: Rendered['stepKernels']): string {
  const bytes = (b: Program['buffers'][number]) => formula(sym.mul(b.elements, sym.constant(4)));
  const manifest = {
    format: 'mdl-program/1',
    model: p.model,
    dims: p.dims,
    layouts: 'row-major; activations [B, L, width]; attention Q/out [B, Lq, heads, head_dim], K/V [B, Lk, kv_heads, head_dim]; linear weights [out, in]',
    buffers: p.buffers.map((b) => ({ id: b.id, role: b.role, dtype: b.dtype, bytes: bytes(b) })),
    kernels: kernels.map((k) => ({ file: k.file, entryPoint: k.entryPoint, workgroupSize: k.workgroupSize })),
    steps: p.steps.map((s, i) => {
      const sk = stepKernels[i];
      const base = { node: s.node, kind: s.kind, kernel: sk.kernel, buffers: s.buffers, uniforms: s.words.map(word) };
      if (s.kind !== 'attention') return { ...base, dispatch: s.grid.map(countText) };
      const a = s.attention!;
      const qTiles = countText({ poly: s.grid[0].poly, per: sk.tiles!.q });
      return {
        ...base,
        dispatch: [qTiles, String(a.heads), countText(s.grid[2])],
        attention: {
          heads: a.heads,
          kvHeads: a.kvHeads,
          headDim: a.headDim,
          queryAxis: a.queryAxis,
          keyAxis: a.keyAxis,
          tiles: sk.tiles,
          modifiers: a.modifiers.map((m) => m.kind),
          mask: a.mask
            ? {
                name: a.mask.name,
                normalForm: a.mask.normalForm,
                params: a.mask.wgsl.params,
                inputs: a.mask.wgsl.inputs,
                perHead: a.mask.wgsl.perHead,
                tileClassification: sk.classifier ? { when: 'dispatch', kernel: sk.classifier } : { when: 'host', how: 'interval analysis of the predicate' },
              }
            : null,
        },
      };
    }),
    outputs: p.outputs,
  };
  return JSON.stringify(manifest, null, 2) + '\n';
}
