// Interval arithmetic over a tile's index ranges: bounds of every integer subexpression of a mask predicate, and the
// three-valued truth of a comparison (always / never / maybe) that tile classification builds on.
//
// Bounds are sound for the i32 semantics of fold.ts: an interval that could have wrapped is widened to everything.

import { I32_MAX, I32_MIN } from './fold.ts';
import type { MaskEnv } from './kernel-contract.ts';
import { floorDiv, floorMod, type BoolExpr, type IntExpr } from './predicate.ts';

export interface Interval {
  lo: number;
  hi: number;
}

/** Index ranges of one tile (inclusive), and the exact batch row and head. */
export interface TileBox {
  b: number;
  h: number;
  q: Interval;
  k: Interval;
}

const WIDE: Interval = { lo: -Infinity, hi: Infinity };

/** Bounds of an integer expression over every pair of a tile. */
export function intervalOf(e: IntExpr, box: TileBox, env: MaskEnv): Interval {
  switch (e.kind) {
    case 'var':
      return e.name === 'q' ? box.q : e.name === 'k' ? box.k : { lo: box[e.name], hi: box[e.name] };
    case 'const':
      return { lo: e.value, hi: e.value };
    case 'param': {
      const v = env.dims[e.name];
      return v === undefined ? WIDE : { lo: v, hi: v };
    }
    case 'load':
      // Without looking at the data a read is unbounded; the exact fallback handles data-dependent tiles.
      return WIDE;
    case 'abs': {
      const a = intervalOf(e.a, box, env);
      if (a.lo >= 0) return a;
      if (a.hi <= 0) return inI32({ lo: -a.hi, hi: -a.lo });
      return inI32({ lo: 0, hi: Math.max(-a.lo, a.hi) });
    }
    case 'bin':
      return inI32(binInterval(e.op, intervalOf(e.a, box, env), intervalOf(e.b, box, env)));
  }
}

/**
 * Mask arithmetic wraps like WGSL's i32 (fold.ts). An interval that leaves the i32 range may have wrapped anywhere,
 * so it says nothing: it becomes unbounded, which keeps the analysis sound.
 */
function inI32(iv: Interval): Interval {
  return iv.lo < I32_MIN || iv.hi > I32_MAX ? WIDE : iv;
}

function binInterval(op: Extract<IntExpr, { kind: 'bin' }>['op'], a: Interval, b: Interval): Interval {
  switch (op) {
    case '+':
      return { lo: a.lo + b.lo, hi: a.hi + b.hi };
    case '-':
      return { lo: a.lo - b.hi, hi: a.hi - b.lo };
    case '*':
      return corners(a, b, (x, y) => x * y);
    case '/':
      return divInterval(a, b);
    case '%':
      return modInterval(a, b);
    case 'min':
      return { lo: Math.min(a.lo, b.lo), hi: Math.min(a.hi, b.hi) };
    case 'max':
      return { lo: Math.max(a.lo, b.lo), hi: Math.max(a.hi, b.hi) };
  }
}

/** Extremes of a function monotone in each argument over a box: they lie at its corners. */
function corners(a: Interval, b: Interval, f: (x: number, y: number) => number): Interval {
  if (![a.lo, a.hi, b.lo, b.hi].every(Number.isFinite)) return WIDE;
  const vals = [f(a.lo, b.lo), f(a.lo, b.hi), f(a.hi, b.lo), f(a.hi, b.hi)];
  return { lo: Math.min(...vals), hi: Math.max(...vals) };
}

function union(parts: Interval[]): Interval {
  return { lo: Math.min(...parts.map((p) => p.lo)), hi: Math.max(...parts.map((p) => p.hi)) };
}

/**
 * Floor division is monotone in each argument wherever the divisor keeps one sign, so each sign's part of the
 * divisor range is bounded by its corners; a divisor of 0 yields 0 by convention.
 */
function divInterval(a: Interval, b: Interval): Interval {
  const parts: Interval[] = [];
  if (b.lo <= -1) parts.push(corners(a, { lo: b.lo, hi: Math.min(b.hi, -1) }, floorDiv));
  if (b.lo <= 0 && b.hi >= 0) parts.push({ lo: 0, hi: 0 });
  if (b.hi >= 1) parts.push(corners(a, { lo: Math.max(b.lo, 1), hi: b.hi }, floorDiv));
  return union(parts);
}

/** The floored modulo takes the divisor's sign and is smaller in size; 0 for a 0 divisor. */
function modInterval(a: Interval, b: Interval): Interval {
  if (b.lo === b.hi && b.lo > 0 && Number.isFinite(a.lo) && Number.isFinite(a.hi)) {
    const d = b.lo;
    // Within one period the floored modulo is a shift of the numerator.
    if (Math.floor(a.lo / d) === Math.floor(a.hi / d)) return { lo: floorMod(a.lo, d), hi: floorMod(a.hi, d) };
    return { lo: 0, hi: d - 1 };
  }
  // A non-negative numerator with a positive divisor is its own remainder when smaller than it.
  if (b.lo > 0 && a.lo >= 0) return { lo: 0, hi: Math.min(b.hi - 1, a.hi) };
  return { lo: b.lo < 0 ? b.lo + 1 : 0, hi: b.hi > 0 ? b.hi - 1 : 0 };
}

/** Three-valued truth: 1 always, 0 never, 0.5 maybe. */
export type Tri = 0 | 0.5 | 1;

/** Three-valued truth of one comparison over a tile. */
export function compareOver(e: Extract<BoolExpr, { kind: 'cmp' }>, box: TileBox, env: MaskEnv): Tri {
  const a = intervalOf(e.a, box, env);
  const b = intervalOf(e.b, box, env);
  switch (e.op) {
    case '<':
      return a.hi < b.lo ? 1 : a.lo >= b.hi ? 0 : 0.5;
    case '<=':
      return a.hi <= b.lo ? 1 : a.lo > b.hi ? 0 : 0.5;
    case '>':
      return a.lo > b.hi ? 1 : a.hi <= b.lo ? 0 : 0.5;
    case '>=':
      return a.lo >= b.hi ? 1 : a.hi < b.lo ? 0 : 0.5;
    case '==':
      return a.lo === a.hi && b.lo === b.hi && a.lo === b.lo ? 1 : a.hi < b.lo || b.hi < a.lo ? 0 : 0.5;
    case '!=':
      return a.lo === a.hi && b.lo === b.hi && a.lo === b.lo ? 0 : a.hi < b.lo || b.hi < a.lo ? 1 : 0.5;
  }
}
