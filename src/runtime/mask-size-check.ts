// Run-time sizes of a compiled program's masks (src/masks/sizes.ts), checked at the dims of one full pass before
// anything is dispatched: every attention site's mask with that site's Lq and Lk.

import type { CheckedModel } from '../check/model.ts';
import { formula } from '../lower/formula.ts';
import { inlineMask } from '../check/inline-mask.ts';
import type { Program } from '../lower/program.ts';
import { checkMaskSizes } from '../masks/sizes.ts';

export function checkProgramMaskSizes(model: CheckedModel, program: Program, dims: Record<string, number>): void {
  for (const s of program.steps) {
    const mask = s.kind === 'attention' ? s.attention?.mask : undefined;
    if (!mask) continue;
    const policy = (model.masks.get(mask.name) ?? inlineMask(model, mask.name))?.policy;
    const lq = formula.evaluate(formula.of(s.attention!.lq), dims);
    const lk = formula.evaluate(formula.of(s.attention!.lk), dims);
    if (lq === undefined || lk === undefined) continue;
    checkMaskSizes(mask.name, policy, { ...dims, Lq: lq, Lk: lk });
  }
}
