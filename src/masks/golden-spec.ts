// A small spec that gives mask expressions a scope (dims and inputs of every kind, and the stack every model needs),
// so a single mask can be lowered on its own: used by the golden mask cases and by tools that draw a mask written on
// the command line.

import { checkSource } from '../check/check.ts';
import { renderDiagnostics } from '../check/render.ts';
import type { Policy } from './policy.ts';

export const MASK_SCOPE_SPEC = `model masks {
  dim vocab = 16, d_model = 8, heads = 2
  dim B, S <= 4096, T <= 4096
  input tgt: tokens[B, T] pad 0
  input src: tokens[B, S] pad 0
  input src_len: lengths[B] of S
  input tgt_len: lengths[B] of T
  input prefix_len: lengths[B] of T
  input docs: segments[B, T]
  embed tokens: learned(vocab, d_model), positions: none
  stack s x 1 on tgt { ffn 8 relu }
  mask m = `;

/** Lowers one mask expression in the scope above; throws with rendered diagnostics when it does not check. */
export function policyOf(expr: string): Policy {
  const text = `${MASK_SCOPE_SPEC}${expr}\n}\n`;
  const r = checkSource(text, '<mask>');
  const policy = r.model?.masks.get('m')?.policy;
  if (!policy) throw new Error(`mask '${expr}' does not check:\n${renderDiagnostics(r.diagnostics, text)}`);
  return policy;
}
