// `mdl dump --stage masks`: every mask of a model in normal form, with the predicate it compiles to and where it is
// used. This is the stage to read when a mask does not do what you meant.

import type { CheckedModel, MaskInfo } from './model.ts';
import { printPolicy, toPredicate } from '../masks/policy.ts';
import { printBool } from '../masks/print-predicate.ts';

export function printMasks(m: CheckedModel): string {
  const out: string[] = [];
  const uses = new Map<string, string[]>();
  const inline: MaskInfo[] = [];
  for (const s of m.stacks) {
    for (const l of s.layers) {
      if (l.kind !== 'attention' || !l.mask) continue;
      const where = `${s.name} ${l.mode}-attention (queries along ${l.queryAxis}, keys along ${l.keyAxis})`;
      uses.set(l.mask.name, [...(uses.get(l.mask.name) ?? []), where]);
      if (!m.masks.has(l.mask.name)) inline.push(l.mask);
    }
  }
  for (const mask of [...m.masks.values(), ...inline]) {
    if (!mask.policy) continue;
    out.push(`mask ${mask.name} = ${printPolicy(mask.policy)}`);
    out.push(`  predicate: ${printBool(toPredicate(mask.policy))}`);
    for (const u of uses.get(mask.name) ?? ['(not used by any attention site)']) out.push(`  used by:   ${u}`);
  }
  return out.join('\n') + '\n';
}
