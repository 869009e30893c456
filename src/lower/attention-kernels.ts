// The attention kernel of a scheduled attention step, generated with exactly the tile shape the schedule sized the
// tile-class buffer and the dispatch for.

import { DEFAULT_KERNEL_LIMITS, generateAttentionKernel, type AttentionKernel } from '../wgsl/attention.ts';
import type { Step } from './schedule.ts';

export function attentionKernelOf(step: Step): AttentionKernel {
  const a = step.attention;
  if (!a || step.kind !== 'attention') throw new Error(`step ${step.node} (${step.kind}) is not an attention step`);
  const kernel = generateAttentionKernel({
    headDim: a.headDim,
    heads: a.heads,
    kvHeads: a.kvHeads,
    scale: a.scale,
    mask: a.mask?.wgsl ?? null,
    modifiers: a.modifiers,
    limits: DEFAULT_KERNEL_LIMITS,
    tiles: { q: a.tiles.q, k: a.tiles.k, lanes: a.tiles.lanes, staged: a.tiles.staged },
  });
  if (kernel.tileHeads !== a.tiles.heads) throw new Error(`${step.node}: the kernel keeps tile classes for ${kernel.tileHeads} heads, the schedule for ${a.tiles.heads}`);
  return kernel;
}
