// The kernel of a step: its typed description (`Step.kernel`) handed to the generator it names. Attention kernels are
// generated with exactly the tile shape the step's site was sized for (the tile-class buffer and the dispatch).

import { DEFAULT_KERNEL_LIMITS, generateAttentionKernel, type AttentionKernel } from '../wgsl/attention.ts';
import { trainingKernel } from '../wgsl/backward-kernels.ts';
import type { Kernel } from '../wgsl/kernel.ts';
import { optimizerKernel } from '../wgsl/optimizer-kernels.ts';
import { argmaxKernel, elementwiseKernel, embedKernel, shiftRightKernel, skinnyMatmulKernel } from '../wgsl/kernels.ts';
import { tiledMatmulKernel } from '../wgsl/matmul-tilings.ts';
import { inferenceNormKernel } from '../wgsl/norm-training.ts';
import { ropeKernel } from '../wgsl/positions.ts';
import { classifierKernel } from '../wgsl/mask-kernels.ts';
import { attentionBackwardKernels } from './attention-grad-steps.ts';
import type { Step } from './program.ts';

export function kernelOfStep(step: Step): Kernel {
  const k = step.kernel;
  switch (k.kind) {
    case 'matmul':
      return k.shape === 'skinny' ? skinnyMatmulKernel(k.options) : tiledMatmulKernel(k.options, k.tiling);
    case 'embed':
      return embedKernel(k.positions, k.layout, !!k.rowStarts);
    case 'norm':
      return inferenceNormKernel(k.rows ? 'rows' : 'workgroup', k.type, k.bias);
    case 'elementwise':
      return elementwiseKernel(k.op);
    case 'rope':
      return ropeKernel(k.style, !!k.rowStarts);
    case 'shift_right':
      return shiftRightKernel();
    case 'argmax':
      return argmaxKernel();
    case 'classify': {
      const mask = step.attention?.mask;
      if (!mask) throw new Error(`classify step ${step.node} has no mask`);
      return classifierKernel(mask.wgsl, !!step.attention?.rowWindows);
    }
    case 'attention':
      return attentionKernelOf(step);
    case 'train':
      return trainingKernel(k.op);
    case 'optimizer':
      return optimizerKernel(k.op);
    case 'attention_backward': {
      const kernel = attentionBackwardKernels(step.attention!)[k.part];
      if (!kernel) throw new Error(`${step.node}: the attention backward has no ${k.part} kernel`);
      return kernel;
    }
  }
}

export function attentionKernelOf(step: Step): AttentionKernel {
  const a = step.attention;
  if (!a || step.kernel.kind !== 'attention') throw new Error(`step ${step.node} (${step.kind}) is not an attention step`);
  const kernel = generateAttentionKernel({
    headDim: a.headDim,
    heads: a.heads,
    kvHeads: a.kvHeads,
    scale: a.scale,
    mask: a.mask?.wgsl ?? null,
    modifiers: a.modifiers,
    limits: DEFAULT_KERNEL_LIMITS,
    tiles: { q: a.tiles.q, k: a.tiles.k, lanes: a.tiles.lanes, staged: a.tiles.staged, ...(a.tiles.rowwise ? { rowwise: true } : {}), ...(a.tiles.subgroups ? { subgroups: true } : {}), ...(a.tiles.splitKeys ? { splitKeys: true } : {}) },
    ...(a.lse ? { lse: true } : {}),
    ...(a.rowWindows ? { rowWindows: true } : {}),
  });
  if (kernel.tileHeads !== a.tiles.heads) throw new Error(`${step.node}: the kernel keeps tile classes for ${kernel.tileHeads} heads, the schedule for ${a.tiles.heads}`);
  return kernel;
}
