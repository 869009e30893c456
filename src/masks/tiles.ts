// Tile classification: for tiles of Tq queries × Tk keys, is every pair hidden (EMPTY), every pair visible (FULL), or
// some of each (PARTIAL)? The attention kernel skips EMPTY tiles and drops the predicate on FULL ones.
//
// Index-only predicates are classified statically by interval analysis: each integer subexpression is bounded over
// the tile's index ranges, and comparisons become three-valued (always / never / maybe). This is sound — `always`
// means every pair satisfies it — but not complete: correlated terms (`(q - k) % 3`) can leave a decidable tile
// PARTIAL, which costs speed, never correctness. Data-dependent predicates are classified with the data known, by
// exact evaluation over the tile when intervals cannot decide.

import { evalBool } from './evaluate.ts';
import { I32_MAX, I32_MIN } from './fold.ts';
import { TileClass, type MaskEnv } from './kernel-contract.ts';
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

/** Three-valued truth: 1 always, 0 never, 0.5 maybe. */
type Tri = 0 | 0.5 | 1;

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

/** Three-valued evaluation of a predicate over a tile. */
export function truthOver(e: BoolExpr, box: TileBox, env: MaskEnv): Tri {
  switch (e.kind) {
    case 'true':
      return 1;
    case 'false':
      return 0;
    case 'random':
      return e.rate <= 0 ? 1 : e.rate >= 1 ? 0 : 0.5;
    case 'not':
      return (1 - truthOver(e.a, box, env)) as Tri;
    case 'and': {
      let t: Tri = 1;
      for (const a of e.args) {
        const v = truthOver(a, box, env);
        if (v === 0) return 0;
        if (v === 0.5) t = 0.5;
      }
      return t;
    }
    case 'or': {
      let t: Tri = 0;
      for (const a of e.args) {
        const v = truthOver(a, box, env);
        if (v === 1) return 1;
        if (v === 0.5) t = 0.5;
      }
      return t;
    }
    case 'cmp': {
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
  }
}

/** Whether a predicate reads input data or random bits (then tiles depend on more than indices). */
export function isIndexOnly(e: BoolExpr): boolean {
  const intOk = (x: IntExpr): boolean =>
    x.kind === 'load' ? false : x.kind === 'bin' ? intOk(x.a) && intOk(x.b) : x.kind === 'abs' ? intOk(x.a) : true;
  switch (e.kind) {
    case 'random':
      return false;
    case 'cmp':
      return intOk(e.a) && intOk(e.b);
    case 'not':
      return isIndexOnly(e.a);
    case 'and':
    case 'or':
      return e.args.every(isIndexOnly);
    default:
      return true;
  }
}

/** Whether the predicate depends on the head index (then tile classes are kept per head). */
export function readsHead(e: BoolExpr): boolean {
  const intH = (x: IntExpr): boolean => (x.kind === 'var' ? x.name === 'h' : x.kind === 'bin' ? intH(x.a) || intH(x.b) : x.kind === 'abs' ? intH(x.a) : false);
  switch (e.kind) {
    case 'random':
      return true;
    case 'cmp':
      return intH(e.a) || intH(e.b);
    case 'not':
      return readsHead(e.a);
    case 'and':
    case 'or':
      return e.args.some(readsHead);
    default:
      return false;
  }
}

export interface TileGrid {
  batch: number;
  heads: number;
  lq: number;
  lk: number;
  tileQ: number;
  tileK: number;
}

/**
 * Classes of every tile, in the kernel's layout `[(b * Hc + hc) * nQT + qt] * nKT + kt` (Hc = heads when the
 * predicate reads `h` or is random, else 1). Out-of-range positions are excluded from each tile's box.
 */
export function classifyTiles(pred: BoolExpr, grid: TileGrid, env: MaskEnv): Uint32Array {
  const nQT = Math.ceil(grid.lq / grid.tileQ);
  const nKT = Math.ceil(grid.lk / grid.tileK);
  const hc = readsHead(pred) ? grid.heads : 1;
  const exact = !isIndexOnly(pred);
  const out = new Uint32Array(grid.batch * hc * nQT * nKT);
  const dims = { ...env.dims, Lq: grid.lq, Lk: grid.lk };
  const full = { ...env, dims };
  for (let b = 0; b < grid.batch; b++) {
    for (let h = 0; h < hc; h++) {
      for (let qt = 0; qt < nQT; qt++) {
        for (let kt = 0; kt < nKT; kt++) {
          const box: TileBox = {
            b,
            h,
            q: { lo: qt * grid.tileQ, hi: Math.min(grid.lq, (qt + 1) * grid.tileQ) - 1 },
            k: { lo: kt * grid.tileK, hi: Math.min(grid.lk, (kt + 1) * grid.tileK) - 1 },
          };
          let t = truthOver(pred, box, full);
          if (t === 0.5 && exact) t = exactTruth(pred, box, full);
          out[((b * hc + h) * nQT + qt) * nKT + kt] = t === 1 ? TileClass.Full : t === 0 ? TileClass.Empty : TileClass.Partial;
        }
      }
    }
  }
  return out;
}

/** Exact classification by evaluating every pair of the tile (data-dependent predicates, with the data known). */
function exactTruth(pred: BoolExpr, box: TileBox, env: MaskEnv): Tri {
  let any = false;
  let all = true;
  for (let q = box.q.lo; q <= box.q.hi; q++) {
    for (let k = box.k.lo; k <= box.k.hi; k++) {
      if (evalBool(pred, { b: box.b, h: box.h, q, k }, env)) any = true;
      else all = false;
      if (any && !all) return 0.5;
    }
  }
  return all ? 1 : any ? 0.5 : 0;
}

export interface Tightness {
  tiles: number;
  partial: number;
  /** Tiles called PARTIAL whose pairs are in fact all hidden or all visible (work the kernel could have skipped). */
  loose: number;
}

/** How tight a classification is, against dense evaluation (for tests and the mask guide). */
export function measureTightness(pred: BoolExpr, classes: Uint32Array, grid: TileGrid, env: MaskEnv): Tightness {
  const nQT = Math.ceil(grid.lq / grid.tileQ);
  const nKT = Math.ceil(grid.lk / grid.tileK);
  const hc = classes.length / (grid.batch * nQT * nKT);
  const full = { ...env, dims: { ...env.dims, Lq: grid.lq, Lk: grid.lk } };
  const result: Tightness = { tiles: classes.length, partial: 0, loose: 0 };
  classes.forEach((cls, i) => {
    if (cls !== TileClass.Partial) return;
    result.partial++;
    const kt = i % nKT;
    const qt = Math.floor(i / nKT) % nQT;
    const bh = Math.floor(i / (nKT * nQT));
    const box: TileBox = {
      b: Math.floor(bh / hc),
      h: bh % hc,
      q: { lo: qt * grid.tileQ, hi: Math.min(grid.lq, (qt + 1) * grid.tileQ) - 1 },
      k: { lo: kt * grid.tileK, hi: Math.min(grid.lk, (kt + 1) * grid.tileK) - 1 },
    };
    if (exactTruth(pred, box, full) !== 0.5) result.loose++;
  });
  return result;
}
