// The mask of an attention site written inline (`mask = causal & window(4)`), found by the name the checker gave it.
// Shared by the schedule and the CPU reference interpreter, which must find a site's mask the same way.

import type { MaskInfo, CheckedModel } from './model.ts';

export function inlineMask(m: CheckedModel, name: string): MaskInfo | undefined {
  for (const s of m.stacks) for (const l of s.layers) if (l.kind === 'attention' && l.mask?.name === name) return l.mask;
  return undefined;
}
