// Mask checks that need the whole model: every mask is lowered once (reporting its own errors), and every attention
// site is checked for data read along the wrong axis.

import type { DiagnosticBag } from './diagnostics.ts';
import type { CheckedModel } from './model.ts';
import type { Declaration } from './scope.ts';

export function checkMasks(_m: CheckedModel, _names: Map<string, Declaration>, _bag: DiagnosticBag): void {
  // Filled in with the mask lowering from src/masks.
}
