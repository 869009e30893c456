// Sizes of built-in masks that are known only at run time (`chunked(S / 4)`, `window(Lk - Lq + 1)`), checked when
// the dims are. The checker refuses a size below its minimum when it is a number; a size computed from symbolic dims
// can still come out too small for the lengths of one run (`S / 4` is 0 at S = 3, which would make `chunked` see
// everything and `window` nothing), and that run is refused with the mask, the size and the dims that made it.

import { evalInt } from './evaluate.ts';
import type { Policy } from './policy.ts';
import type { IntExpr } from './predicate.ts';

/** A parameter of a built-in that the checker could not range-check because it depends on run-time dims. */
export interface SizeParam {
  /** The built-in as written in the normal form, `chunked(S / 4)`. */
  policy: string;
  /** The parameter's name: `size`, `count`, `left`… */
  key: string;
  /** Its value, with symbolic dims and `Lq`/`Lk` as params. */
  expr: IntExpr;
  /** How it prints, `S / 4`. */
  text: string;
  min: number;
}

export class MaskSizeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MaskSizeError';
  }
}

/** Every run-time-sized parameter of a policy's built-ins. */
export function sizeParams(p: Policy | undefined): SizeParam[] {
  if (!p) return [];
  switch (p.kind) {
    case 'builtin':
      return p.sizes ?? [];
    case 'and':
    case 'or':
      return p.parts.flatMap(sizeParams);
    case 'not':
      return sizeParams(p.part);
    default:
      return [];
  }
}

/**
 * Throws a MaskSizeError when a size of mask `name` is below its minimum at these dims (which must hold the dims the
 * sizes read, `Lq` and `Lk` included). Sizes whose dims are not all given are left alone.
 */
export function checkMaskSizes(name: string, p: Policy | undefined, dims: Record<string, number>): void {
  for (const s of sizeParams(p)) {
    const names = paramNames(s.expr);
    if (names.some((n) => dims[n] === undefined)) continue;
    const value = evalInt(s.expr, { b: 0, h: 0, q: 0, k: 0 }, { dims, data: {} });
    if (value >= s.min) continue;
    const at = names.map((n) => `${n} = ${dims[n]}`).join(', ');
    const want = s.min === 1 ? 'at least 1' : `at least ${s.min}`;
    throw new MaskSizeError(`mask '${name}': ${s.policy} has ${s.key} ${s.text} = ${value} at ${at}, but the ${s.key} must be ${want}; choose lengths that make it so, or change the mask`);
  }
}

function paramNames(e: IntExpr, out: string[] = []): string[] {
  if (e.kind === 'param' && !out.includes(e.name)) out.push(e.name);
  else if (e.kind === 'bin') (paramNames(e.a, out), paramNames(e.b, out));
  else if (e.kind === 'abs') paramNames(e.a, out);
  return out;
}
