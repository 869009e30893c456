// The attention sites of a compiled spec that tuning has to cover: one per distinct kernel signature, since sites
// that share a signature (the layers of a stack) share the kernel and therefore the tuning result.

import type { Program } from '../lower/program.ts';
import { attentionSignature, signatureKey } from './signature.ts';
import type { TuneSite } from './tuner.ts';

export interface SiteGroup {
  site: TuneSite;
  /** Every attention node with this signature, in launch order. */
  nodes: string[];
}

export function tuneSitesOf(program: Program): SiteGroup[] {
  const groups = new Map<string, SiteGroup>();
  for (const step of program.steps) {
    const a = step.attention;
    if (step.kind !== 'attention' || !a) continue;
    const signature = attentionSignature({ headDim: a.headDim, heads: a.heads, kvHeads: a.kvHeads, mask: a.mask?.wgsl, modifiers: a.modifiers });
    const key = signatureKey(signature);
    const group = groups.get(key);
    if (group) {
      group.nodes.push(step.node);
      continue;
    }
    groups.set(key, {
      nodes: [step.node],
      site: {
        label: a.mask ? `${step.node} (mask ${a.mask.name})` : step.node,
        signature,
        headDim: a.headDim,
        heads: a.heads,
        kvHeads: a.kvHeads,
        scale: a.scale,
        mask: a.mask?.wgsl ?? null,
        predicate: a.mask?.predicate,
        modifiers: a.modifiers,
      },
    });
  }
  return [...groups.values()];
}
