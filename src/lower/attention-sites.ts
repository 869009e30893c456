// What an attention site needs from the checked model: its compiled mask and its score modifiers. Shared by the
// schedule and the CPU reference interpreter, which must read a site exactly as the kernels do.

import type { CheckedModel, MaskInfo, ScoreMod } from '../check/model.ts';
import { emitMaskWgsl } from '../masks/emit-wgsl.ts';
import { printPolicy, toPredicate } from '../masks/policy.ts';
import { alibiSlopes, type ScoreModifier } from '../wgsl/score-modifiers.ts';
import type { MaskSite } from './program.ts';

export class ScheduleError extends Error {}

/** The compiled mask of a named mask (declared, or written inline at its attention site); undefined when all-visible. */
export function maskSiteOf(m: CheckedModel, name: string): MaskSite | undefined {
  const info = m.masks.get(name) ?? inlineMask(m, name);
  if (!info?.policy) throw new ScheduleError(`mask ${name} has no lowered policy`);
  const predicate = toPredicate(info.policy);
  if (predicate.kind === 'true') return undefined;
  return { name, normalForm: printPolicy(info.policy), predicate, wgsl: emitMaskWgsl(predicate) };
}

export function inlineMask(m: CheckedModel, name: string): MaskInfo | undefined {
  for (const s of m.stacks) for (const l of s.layers) if (l.kind === 'attention' && l.mask?.name === name) return l.mask;
  return undefined;
}

/** The score modifiers of a named score declaration, as the attention kernel and its CPU oracle take them. */
export function scoreModifiers(m: CheckedModel, scoreName: string, heads: number): ScoreModifier[] {
  const score = scoreName ? m.scores.get(scoreName) : undefined;
  return (score?.mods ?? []).map((s) => modifierOf(s, heads));
}

function modifierOf(s: ScoreMod, heads: number): ScoreModifier {
  // Slopes are 2^(-maxBias·i/n); the table for the usual maxBias of 8, raised to maxBias / 8, gives any other.
  if (s.kind === 'alibi') return { kind: 'alibi', slopes: alibiSlopes(heads).map((x) => x ** (s.maxBias / 8)) };
  if (s.kind === 'softcap') return { kind: 'softcap', cap: s.cap };
  return { kind: 'relative_bias', heads, buckets: s.buckets, maxDistance: s.maxDistance, bidirectional: s.bidirectional };
}
