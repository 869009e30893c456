// What an attention site needs from the checked model: its compiled mask. Its score modifiers come from
// src/wgsl/score-modifiers.ts, where the CPU reference interpreter reads them too, without going through lowering.

import type { CheckedModel } from '../check/model.ts';
import { inlineMask } from '../check/inline-mask.ts';
import { emitMaskWgsl } from '../masks/emit-wgsl.ts';
import { printPolicy, toPredicate } from '../masks/policy.ts';
import { scoreModifiers } from '../wgsl/score-modifiers.ts';
import { sym, type Poly } from '../check/sym.ts';
import type { Rotary } from '../ir/ir.ts';
import { positionRateWords } from '../wgsl/positions.ts';
import { formula } from './formula.ts';
import type { MaskSite, Word } from './program.ts';

export class ScheduleError extends Error {}

/** The compiled mask of a named mask (declared, or written inline at its attention site); undefined when all-visible. */
export function maskSiteOf(m: CheckedModel, name: string): MaskSite | undefined {
  const info = m.masks.get(name) ?? inlineMask(m, name);
  if (!info?.policy) throw new ScheduleError(`mask ${name} has no lowered policy`);
  const predicate = toPredicate(info.policy);
  if (predicate.kind === 'true') return undefined;
  return { name, normalForm: printPolicy(info.policy), predicate, wgsl: emitMaskWgsl(predicate) };
}

export { inlineMask, scoreModifiers };

/** The rotary kernels' uniforms but `rows` (the forward rotation and its inverse take the same ones). */
export function ropeUniforms(r: Rotary, heads: number, headDim: number, length: Poly): Record<string, Word> {
  const fc = (v: number): Word => formula.constant(v);
  const f = (p: Poly): Word => formula.of(p);
  const [lo, hi] = positionRateWords(r.dims, r.theta);
  return { heads: fc(heads), hd: fc(headDim), rd: fc(r.dims), T: f(length), start: fc(0), rate_lo: fc(lo), rate_hi: fc(hi) };
}

