// Mask checks that need the whole model: every mask is lowered once (reporting its own errors), and every attention
// site is checked for data read along the wrong axis — the classic mistake of applying the target's padding to
// cross-attention keys, which come from the source.

import { MaskLowering } from '../masks/lower.ts';
import type { MaskScope } from '../masks/scope.ts';
import { dataReads } from '../masks/policy.ts';
import type { DiagnosticBag } from '../lang/diagnostics.ts';
import type { AttentionInfo, CheckedModel, MaskInfo } from './model.ts';
import type { Declaration } from './scope.ts';

export function maskScope(m: CheckedModel, names: Map<string, Declaration>): MaskScope {
  return {
    dim: (name) => {
      const d = m.dims.get(name);
      return d ? { concrete: d.concrete } : undefined;
    },
    input: (name) => {
      const i = m.inputs.get(name);
      return i ? { kind: i.kind, axis: i.axis, pad: i.pad } : undefined;
    },
    mask: (name) => m.masks.get(name)?.expr,
    maskSpan: (name) => m.masks.get(name)?.span,
    kindOf: (name) => names.get(name)?.kind,
  };
}

export function checkMasks(m: CheckedModel, names: Map<string, Declaration>, bag: DiagnosticBag): void {
  const lowering = new MaskLowering(maskScope(m, names), bag);
  for (const mask of m.masks.values()) mask.policy = lowering.named(mask.name, mask.span);
  for (const stack of m.stacks) {
    for (const layer of stack.layers) {
      if (layer.kind !== 'attention' || !layer.mask) continue;
      // Named masks were lowered above; inline ones are lowered here, once per site.
      if (!m.masks.has(layer.mask.name)) layer.mask.policy = lowering.policy(layer.mask.expr);
      checkAxes(m, layer, layer.mask, bag);
    }
  }
}

/** Each input a mask reads must run along the axis it is compared with at this site. */
function checkAxes(m: CheckedModel, site: AttentionInfo, mask: MaskInfo, bag: DiagnosticBag): void {
  if (!mask.policy) return;
  const reported = new Set<string>();
  for (const read of dataReads(mask.policy)) {
    const input = m.inputs.get(read.input);
    const axis = input?.axis;
    const want = read.along === 'q' ? site.queryAxis : site.keyAxis;
    if (!axis || axis === want) continue;
    const key = read.input; // one report per input and site, even when it is read along both axes
    if (reported.has(key)) continue;
    reported.add(key);
    const role = read.along === 'q' ? 'queries' : 'keys';
    const fix = [...m.inputs.values()].find((i) => i.axis === want && i.kind === input?.kind && !i.shiftedFrom);
    // Point at the attention line; for a named mask, say which mask and where the read is.
    const where = m.masks.has(mask.name) ? ` (mask '${mask.name}', line ${read.span.line})` : '';
    bag.error(
      'E410',
      m.masks.has(mask.name) ? site.span : read.span,
      `'${read.input}' runs along ${axis}, but this ${site.mode}-attention's ${role} run along ${want}${where}`,
      fix ? `use an input along ${want}, such as '${fix.name}'` : `read an input whose positions run along ${want}`,
    );
  }
}
