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
  /**
   * Bounds on q - k known for the pairs under consideration (from comparisons assumed to hold, tiles.ts), beyond
   * those of the ranges themselves. The differences of a rectangle form a whole interval, and bounds on q - k cut
   * it to a whole interval again, so every value of `diffOf` is the difference of some pair considered.
   */
  diff?: Interval;
}

/** The values q - k takes over the pairs of a box: exact, by the note on `TileBox.diff`. */
export function diffOf(box: TileBox): Interval {
  const rect = { lo: box.q.lo - box.k.hi, hi: box.q.hi - box.k.lo };
  return box.diff ? { lo: Math.max(rect.lo, box.diff.lo), hi: Math.min(rect.hi, box.diff.hi) } : rect;
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
    case 'bin': {
      // q - k and k - q are bounded as one quantity, not as two independent ranges (dilated's (q - k) % d).
      if (e.op === '-' && e.a.kind === 'var' && e.b.kind === 'var' && box.diff) {
        const d = diffOf(box);
        if (e.a.name === 'q' && e.b.name === 'k') return d;
        if (e.a.name === 'k' && e.b.name === 'q') return { lo: -d.hi, hi: -d.lo };
      }
      return inI32(binInterval(e.op, intervalOf(e.a, box, env), intervalOf(e.b, box, env)));
    }
  }
}

/** `c·q - c·k + c0` (c = ±1) as [c, c0], when an expression is that linear form over the box's fixed b, h and dims. */
function diffForm(e: IntExpr, box: TileBox, env: MaskEnv): [number, number, number] | undefined {
  // [coefficient of q, coefficient of k, constant]
  switch (e.kind) {
    case 'var':
      return e.name === 'q' ? [1, 0, 0] : e.name === 'k' ? [0, 1, 0] : [0, 0, box[e.name]];
    case 'const':
      return [0, 0, e.value];
    case 'param': {
      const v = env.dims[e.name];
      return v === undefined ? undefined : [0, 0, v];
    }
    case 'bin': {
      const a = diffForm(e.a, box, env);
      const b = diffForm(e.b, box, env);
      if (!a || !b) return undefined;
      if (e.op === '+') return [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
      if (e.op === '-') return [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
      if (e.op === '*' && a[0] === 0 && a[1] === 0) return [a[2] * b[0], a[2] * b[1], a[2] * b[2]];
      if (e.op === '*' && b[0] === 0 && b[1] === 0) return [b[2] * a[0], b[2] * a[1], b[2] * a[2]];
      return undefined;
    }
    default:
      return undefined;
  }
}

/**
 * The bounds on q - k that a comparison puts on the pairs where it holds (`holds`) or fails, when it compares
 * ±(q - k) with something fixed (`k <= q`, `q - W < k`); otherwise none. Values stay far inside f64's exact integers.
 */
export function diffBound(e: Extract<BoolExpr, { kind: 'cmp' }>, holds: boolean, box: TileBox, env: MaskEnv): Interval | undefined {
  // The linear form is exact arithmetic; it is only the kernel's value where no step of either side wraps.
  if (!exactOver(e.a, box, env) || !exactOver(e.b, box, env)) return undefined;
  const a = diffForm(e.a, box, env);
  const b = diffForm(e.b, box, env);
  if (!a || !b) return undefined;
  const [cq, ck, c0] = [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
  if (!(cq === -ck && Math.abs(cq) === 1) || !Number.isFinite(c0)) return undefined;
  // a - b = s·d + c0 with d = q - k; the comparison is (s·d + c0) OP 0, negated when it fails.
  const negated = { '<': '>=', '<=': '>', '>': '<=', '>=': '<', '==': '!=', '!=': '==' } as const;
  let op: keyof typeof negated = holds ? e.op : negated[e.op];
  let c = c0;
  if (cq === -1) {
    // -d + c0 OP 0  ⇔  d - c0 OP' 0 with the comparison mirrored.
    op = ({ '<': '>', '<=': '>=', '>': '<', '>=': '<=', '==': '==', '!=': '!=' } as const)[op];
    c = -c0;
  }
  // d + c OP 0
  switch (op) {
    case '<':
      return { lo: -Infinity, hi: -c - 1 };
    case '<=':
      return { lo: -Infinity, hi: -c };
    case '>':
      return { lo: -c + 1, hi: Infinity };
    case '>=':
      return { lo: -c, hi: Infinity };
    case '==':
      return { lo: -c, hi: -c };
    case '!=':
      return undefined;
  }
}

/**
 * The range of `e` over the box when no step of it leaves i32 (so no step wraps), else undefined. `intervalOf`
 * widens a wrapped step to everything, which bounds the value soundly but hides that exact arithmetic would differ.
 */
function exactOver(e: IntExpr, box: TileBox, env: MaskEnv): Interval | undefined {
  let iv: Interval;
  if (e.kind === 'bin') {
    const a = exactOver(e.a, box, env);
    const b = exactOver(e.b, box, env);
    if (!a || !b) return undefined;
    iv = binInterval(e.op, a, b);
  } else {
    iv = intervalOf(e, box, env);
  }
  return iv.lo < I32_MIN || iv.hi > I32_MAX ? undefined : iv;
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
