// The render pass: program → WGSL files and a manifest. Output is deterministic (same spec, same bytes): kernels are
// generated for the WebGPU default limits, which every adapter meets, files are numbered in first-use order, and the
// manifest lists everything in program order. The program runner executes exactly these kernels. Rendering
// verifies the program first (verify-program.ts): a step that disagrees with its kernel is a compiler bug.

import type { Kernel } from '../wgsl/kernel.ts';
import { formula } from './formula.ts';
import type { Program, Step } from './program.ts';
import { kernelOfStep } from './step-kernels.ts';
import { assertValidProgram, type ProgramLimits } from './verify-program.ts';

export interface RenderedKernel extends Kernel {
  file: string;
}

export interface Rendered {
  kernels: RenderedKernel[];
  /** The kernel file of each step, in step order. */
  stepKernels: string[];
  manifest: string;
}

/**
 * `prefix` starts every kernel's file name (the decode programs' kernels sit beside the full pass's). A kernel whose
 * WGSL equals one of `shared` (the full pass's, for the prefill, which mostly runs the same kernels) is that kernel,
 * file name included, so a compiled folder holds each distinct kernel once.
 */
export function render(p: Program, prefix = '', limits?: ProgramLimits, shared: readonly RenderedKernel[] = []): Rendered {
  const kernels: RenderedKernel[] = [];
  const bySource = new Map<string, RenderedKernel>(shared.map((k) => [k.wgsl, k]));
  const used = new Set<RenderedKernel>();
  let own = 0;
  // A kernel's source depends only on the step's kind, family, options and attention site, which repeat layer
  // after layer: generate each distinct one once, so that rendering stays linear in the steps with a small constant.
  const sources = new Map<string, Kernel>();
  const stepKernels = p.steps.map((step) => {
    const key = JSON.stringify([step.kind, step.kernel, step.attention ?? null]);
    let src = sources.get(key);
    if (!src) {
      src = kernelOfStep(step);
      sources.set(key, src);
    }
    let k = bySource.get(src.wgsl);
    if (!k) {
      k = { file: `${prefix}${String(own++).padStart(2, '0')}-${src.family}.wgsl`, ...src };
      bySource.set(src.wgsl, k);
    }
    if (!used.has(k)) {
      used.add(k);
      kernels.push(k);
    }
    return k;
  });
  // Every step against its kernel before anything is written of it.
  assertValidProgram(p, (i) => stepKernels[i], 'render', limits);
  const files = stepKernels.map((k) => k.file);
  // The manifest is text for `mdl compile` and `mdl dump` only; running a program never reads it, so it is written
  // when first asked for (for a deep stack it is tens of megabytes, in three programs).
  let manifest: string | undefined;
  return {
    kernels,
    stepKernels: files,
    get manifest() {
      return (manifest ??= manifestJson(p, kernels, files));
    },
  };
}

const word = (w: Step['uniforms'][string]) => ('f32' in w ? { f32: w.f32 } : 'scalar' in w ? { scalar: w.scalar } : formula.print(w));

function manifestJson(p: Program, kernels: RenderedKernel[], stepKernels: string[]): string {
  const kernelOf = new Map(kernels.map((k) => [k.file, k]));
  const writer = new Map<string, number>();
  p.steps.forEach((s, i) => {
    const k = kernelOf.get(stepKernels[i])!;
    for (const b of k.bindings) if (b.access === 'read_write' && !writer.has(s.bind[b.role])) writer.set(s.bind[b.role], i);
  });
  // Each attention step's tile classes, found once rather than by a scan per buffer.
  const siteOfTiles = new Map<string, NonNullable<Program['steps'][number]['attention']>>();
  for (const s of p.steps) if (s.kind === 'attention' && s.attention && s.bind.tileClass !== undefined && !siteOfTiles.has(s.bind.tileClass)) siteOfTiles.set(s.bind.tileClass, s.attention);
  const filledBy = (b: Program['buffers'][number]): string => {
    switch (b.role) {
      case 'input':
        return 'host: model input';
      case 'param':
        return 'host: weight of the same name (without %)';
      case 'packed_param':
        return `host: ${b.packs!.map((id) => id.slice(1)).join(', ')}, one after another`;
      case 'mask':
        return "host: the mask's parameter slots, then its inputs, packed at dispatch (src/masks/kernel-contract.ts)";
      case 'tile_classes': {
        const site = siteOfTiles.get(b.id)!;
        if (site.tileFill === 'full') return 'host: every tile FULL (2), no mask';
        if (site.tileFill === 'host') return "host: interval analysis of the mask's predicate at dispatch";
        return `step ${writer.get(b.id)}`;
      }
      case 'value':
        return writer.has(b.id) ? `step ${writer.get(b.id)}` : 'never written';
      case 'kv_cache':
        return 'host: the key/value cache of this attention, grown by the runtime';
      case 'kept':
        return 'kept from the first call (written by its once-per-source steps)';
      case 'row_positions':
        return "host: each batch row's start position, or its q_offset, k_offset and key count (rows at different positions)";
      case 'state':
        return 'device: kept between runs (the host uploads it once and reads it back for checkpoints)';
    }
  };
  const manifest = {
    format: 'mdl-program/3',
    model: p.model,
    dims: p.dims,
    conventions: {
      layouts: 'row-major; activations [B, L, width]; attention Q and output [B, Lq, heads, head_dim], K and V [B, Lk, kv_heads, head_dim]; linear weights [out, in]',
      sizes: 'formulas of the dims; ceil(x / n) rounds up',
      uniforms: "binding 0 of every step: the kernel's uniform fields in order, u32 or f32, padded with zeros to a multiple of 16 bytes",
      bindings: 'storage buffers at bindings 1, 2, … in the order the kernel lists them; a step names its buffer for each role',
      tileClasses: 'u32 [B, tile heads, query tiles, key tiles]: 0 EMPTY, 1 PARTIAL, 2 FULL',
      dispatch: 'workgroup counts per dimension; a 1-D count above 65535 is split as (65535, ceil(count / 65535), 1)',
      memory: 'buffers with a slot share that slot\'s device buffer; their lifetimes (first write to last use) never overlap',
    },
    buffers: p.buffers.map((b) => ({ id: b.id, role: b.role, dtype: b.dtype, bytes: formula.print(b.elements, 4), filledBy: filledBy(b), ...(b.slot === undefined ? {} : { slot: b.slot }) })),
    slots: p.slots.map((s) => ({ slot: s.id, dtype: s.dtype, bytes: formula.print(s.elements, 4), values: s.values.length })),
    kernels: kernels.map((k) => ({
      file: k.file,
      entryPoint: k.entryPoint,
      workgroupSize: k.workgroupSize,
      workgroupStorageBytes: k.workgroupStorageBytes,
      uniforms: k.uniforms,
      bindings: k.bindings.map((b, i) => ({ binding: i + 1, role: b.role, access: b.access, element: b.element })),
    })),
    steps: p.steps.map((s, i) => {
      const k = kernelOf.get(stepKernels[i])!;
      const base = {
        node: s.node,
        kind: s.kind,
        kernel: k.file,
        uniforms: Object.fromEntries(k.uniforms.map((u) => [u.name, word(s.uniforms[u.name])])),
        bindings: k.bindings.map((b, j) => ({ binding: j + 1, role: b.role, buffer: s.bind[b.role], access: b.access })),
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
    ...(p.scalars ? { scalars: p.scalars } : {}),
  };
  return JSON.stringify(manifest, null, 2) + '\n';
}
