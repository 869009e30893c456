// Tile classification: for tiles of Tq queries × Tk keys, is every pair hidden (EMPTY), every pair visible (FULL), or
// some of each (PARTIAL)? The attention kernel skips EMPTY tiles and drops the predicate on FULL ones.
//
// Index-only predicates are classified statically by interval analysis (intervals.ts): each integer subexpression is
// bounded over the tile's index ranges, and comparisons become three-valued (always / never / maybe). Conjunctions and
// disjunctions are evaluated path-sensitively: inside `A & B`, B is judged only where A holds, so the repeated
// comparison in `causal & !(causal & …)` is known there. This is sound — `always` means every pair satisfies it —
// but not complete: correlated terms (`(q - k) % 3`) can leave a decidable tile PARTIAL, which costs speed, never
// correctness. Data-dependent predicates are classified with the data known, by exact evaluation over the tile when
// intervals cannot decide (the same answer as the dispatch-time GPU classifier of src/wgsl/mask-kernels.ts).

import { evalBool } from './evaluate.ts';
import { keepThreshold } from './hash.ts';
import { compareOver, diffBound, diffOf, type Interval, type TileBox, type Tri } from './intervals.ts';
import { TileClass, type MaskEnv } from './kernel-contract.ts';
import type { BoolExpr, IntExpr } from './predicate.ts';

export { intervalOf, type Interval, type TileBox } from './intervals.ts';

type Cmp = Extract<BoolExpr, { kind: 'cmp' }>;

const MAX_CONDITIONAL_LEVEL = 8;

/** Comparisons known to hold (true) or fail (false) on every pair under consideration, by structure. */
type Assumptions = ReadonlyMap<string, boolean>;

const keys = new WeakMap<Cmp, string>();
function keyOf(c: Cmp): string {
  let key = keys.get(c);
  if (key === undefined) keys.set(c, (key = JSON.stringify(c)));
  return key;
}

/** The comparison an argument pins down when it holds (`k <= q` → true, `!(k <= q)` → false). */
function atomOf(e: BoolExpr): [Cmp, boolean] | undefined {
  if (e.kind === 'cmp') return [e, true];
  if (e.kind === 'not' && e.a.kind === 'cmp') return [e.a, false];
  return undefined;
}

/**
 * Three-valued truth of a predicate over a tile. `assume` lists comparisons that hold on every pair that matters
 * to the caller; they are answered from it instead of from intervals.
 */
export function truthOver(e: BoolExpr, box: TileBox, env: MaskEnv, assume: Assumptions = new Map(), level = 0): Tri {
  switch (e.kind) {
    case 'true':
      return 1;
    case 'false':
      return 0;
    case 'random': {
      const t = keepThreshold(e.rate);
      return t <= 0 ? 1 : t >= 2 ** 32 ? 0 : 0.5;
    }
    case 'not':
      return (1 - truthOver(e.a, box, env, assume, level)) as Tri;
    case 'cmp': {
      const known = assume.get(keyOf(e));
      return known === undefined ? compareOver(e, box, env) : known ? 1 : 0;
    }
    case 'and':
    case 'or':
      return junction(e.kind, e.args, box, env, assume, level);
  }
}

/**
 * `A & B` is never true where B fails wherever A holds, so each argument is also judged under the assumption that
 * the other arguments' comparisons hold; dually for `|` under the assumption that they fail. Those conditional
 * answers are used only to conclude EMPTY (for `&`) or FULL (for `|`), which is what they prove.
 */
function junction(kind: 'and' | 'or', args: BoolExpr[], box: TileBox, env: MaskEnv, assume: Assumptions, level: number): Tri {
  const decisive: Tri = kind === 'and' ? 0 : 1;
  let all = true;
  const plain = args.map((a) => truthOver(a, box, env, assume, level + 1));
  if (plain.includes(decisive)) return decisive;
  for (const v of plain) if (v !== 1 - decisive) all = false;
  if (all) return (1 - decisive) as Tri;
  // Each conditional pass may evaluate an argument twice; past a few nested levels that could grow exponentially
  // with the depth of a pathological predicate, so deep junctions settle for plain intervals.
  const atoms = args.map(atomOf);
  if (level >= MAX_CONDITIONAL_LEVEL || !atoms.some(Boolean)) return 0.5;
  for (let i = 0; i < args.length; i++) {
    if (plain[i] !== 0.5) continue;
    const given = new Map(assume);
    let diff = box.diff ?? { lo: -Infinity, hi: Infinity };
    for (let j = 0; j < args.length; j++) {
      const atom = atoms[j];
      // Inside `&` the other arguments hold; inside `|` (where this one must make up for them) they fail.
      if (j !== i && atom && plain[j] === 0.5) {
        const holds = kind === 'and' ? atom[1] : !atom[1];
        given.set(keyOf(atom[0]), holds);
        // What they say about q - k narrows the pairs considered (window(W) → 0 <= q - k < W).
        const bound = diffBound(atom[0], holds, box, env);
        if (bound) diff = { lo: Math.max(diff.lo, bound.lo), hi: Math.min(diff.hi, bound.hi) };
      }
    }
    if (given.size === assume.size) continue;
    const narrowed: TileBox = { ...box, diff };
    const d = diffOf(narrowed);
    // No pair of the tile satisfies the assumptions: under `&` nothing is visible, under `|` another argument holds.
    if (d.lo > d.hi) return decisive;
    if (truthOver(args[i], narrowed, env, given, level + 1) === decisive) return decisive;
  }
  return 0.5;
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
/**
 * Whether the predicate depends on the batch row's index itself (`b` in arithmetic, or random bits, which hash it),
 * as opposed to reading per-row data at `b`: such a mask gives a sequence different keys depending on where in a
 * batch it sits.
 */
export function readsBatchIndex(e: BoolExpr): boolean {
  const intB = (x: IntExpr): boolean => (x.kind === 'var' ? x.name === 'b' : x.kind === 'bin' ? intB(x.a) || intB(x.b) : x.kind === 'abs' ? intB(x.a) : false);
  switch (e.kind) {
    case 'random':
      return true;
    case 'cmp':
      return intB(e.a) || intB(e.b);
    case 'not':
      return readsBatchIndex(e.a);
    case 'and':
    case 'or':
      return e.args.some(readsBatchIndex);
    default:
      return false;
  }
}

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
  /** Rows q and k of the grid are positions q + qOffset and k + kOffset of the whole sequence (decoding with a cache). */
  qOffset?: number;
  kOffset?: number;
  /** Classify batch row `batchRow` only (its tiles alone, as batch 1 of the layout), with the row's own offsets. */
  batchRow?: number;
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
  const rows = grid.batchRow === undefined ? Array.from({ length: grid.batch }, (_, b) => b) : [grid.batchRow];
  const out = new Uint32Array(rows.length * hc * nQT * nKT);
  const [qo, ko] = [grid.qOffset ?? 0, grid.kOffset ?? 0];
  // The mask's lengths are those of the whole sequence, as in a full pass (the grid's rows are its last ones).
  const dims = { ...env.dims, Lq: grid.lq + qo, Lk: grid.lk + ko };
  const full = { ...env, dims };
  for (const [at, b] of rows.entries()) {
    for (let h = 0; h < hc; h++) {
      for (let qt = 0; qt < nQT; qt++) {
        for (let kt = 0; kt < nKT; kt++) {
          const box: TileBox = {
            b,
            h,
            q: { lo: qo + qt * grid.tileQ, hi: qo + Math.min(grid.lq, (qt + 1) * grid.tileQ) - 1 },
            k: { lo: ko + kt * grid.tileK, hi: ko + Math.min(grid.lk, (kt + 1) * grid.tileK) - 1 },
          };
          let t = truthOver(pred, box, full);
          if (t === 0.5 && exact) t = exactTruth(pred, box, full);
          out[((at * hc + h) * nQT + qt) * nKT + kt] = t === 1 ? TileClass.Full : t === 0 ? TileClass.Empty : TileClass.Partial;
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
