// The attention kernel of a scheduled attention step, for given device limits (the defaults when compiling to
// files, the device's own when running).

import { DEFAULT_KERNEL_LIMITS, generateAttentionKernel, type AttentionKernel, type KernelLimits } from '../wgsl/attention.ts';
import type { Step } from './schedule.ts';

export function attentionKernelOf(step: Step, limits: KernelLimits = DEFAULT_KERNEL_LIMITS): AttentionKernel {
  const a = step.attention;
  if (!a) throw new Error(`step ${step.node} is not an attention step`);
  return generateAttentionKernel({
    headDim: a.headDim,
    heads: a.heads,
    kvHeads: a.kvHeads,
    mask: a.mask?.wgsl ?? null,
    modifiers: a.modifiers,
    limits,
  });
}
