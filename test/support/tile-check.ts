// Tile classes checked against every (q, k) pair, in both directions: an EMPTY tile must hide every pair, a FULL
// tile must show every pair (safety: otherwise the kernel skips keys it needs, or ignores the mask), and a PARTIAL
// tile should hold both (tightness: a uniform PARTIAL tile only costs time). A classifier that always says PARTIAL
// is safe but never tight; one that never says PARTIAL is tight but unsafe wherever a tile is mixed.

import type { MaskEnv } from '../../src/masks/kernel-contract.ts';
import { evalBool } from '../../src/masks/evaluate.ts';
import type { BoolExpr } from '../../src/masks/predicate.ts';
import { readsHead, type TileGrid } from '../../src/masks/tiles.ts';
import { TileClass } from '../../src/masks/kernel-contract.ts';

export interface TileCheck {
  tiles: number;
  empty: number;
  partial: number;
  full: number;
  /** EMPTY tiles that show a pair or FULL tiles that hide one, described. */
  unsafe: string[];
  /** PARTIAL tiles whose pairs are really all hidden or all shown. */
  loose: number;
}

/** Checks `classes` (in classifyTiles' layout) against the predicate evaluated at every pair of every tile. */
export function checkTileClasses(pred: BoolExpr, classes: ArrayLike<number>, grid: TileGrid, env: MaskEnv): TileCheck {
  const [qo, ko] = [grid.qOffset ?? 0, grid.kOffset ?? 0];
  const full = { ...env, dims: { ...env.dims, Lq: grid.lq + qo, Lk: grid.lk + ko } };
  return checkTileClassesOf((b, h, q, k) => evalBool(pred, { b, h, q, k }, full), readsHead(pred), classes, grid);
}

/**
 * The same for a predicate given as a function of whole-sequence positions; `perHead` says whether the classes are
 * per head (the kernel's tileHeads = heads) or shared by all heads.
 */
export function checkTileClassesOf(visible: (b: number, h: number, q: number, k: number) => boolean, perHead: boolean, classes: ArrayLike<number>, grid: TileGrid): TileCheck {
  const nQT = Math.ceil(grid.lq / grid.tileQ);
  const nKT = Math.ceil(grid.lk / grid.tileK);
  const hc = perHead ? grid.heads : 1;
  const [qo, ko] = [grid.qOffset ?? 0, grid.kOffset ?? 0];
  if (classes.length !== grid.batch * hc * nQT * nKT) throw new Error(`expected ${grid.batch * hc * nQT * nKT} tile classes, got ${classes.length}`);
  const result: TileCheck = { tiles: classes.length, empty: 0, partial: 0, full: 0, unsafe: [], loose: 0 };
  for (let b = 0; b < grid.batch; b++) {
    for (let h = 0; h < grid.heads; h++) {
      const hIndex = hc > 1 ? h : 0;
      for (let qt = 0; qt < nQT; qt++) {
        for (let kt = 0; kt < nKT; kt++) {
          const cls = classes[((b * hc + hIndex) * nQT + qt) * nKT + kt];
          let shown = 0;
          let pairs = 0;
          for (let q = qo + qt * grid.tileQ; q < qo + Math.min(grid.lq, (qt + 1) * grid.tileQ); q++) {
            for (let k = ko + kt * grid.tileK; k < ko + Math.min(grid.lk, (kt + 1) * grid.tileK); k++) {
              pairs++;
              if (visible(b, h, q, k)) shown++;
            }
          }
          // Heads that share one class are counted once.
          const counted = hc > 1 || h === 0;
          const where = `b=${b} h=${h} tile (${qt}, ${kt})`;
          if (cls === TileClass.Empty) {
            if (counted) result.empty++;
            if (shown > 0) result.unsafe.push(`EMPTY ${where} shows ${shown} of ${pairs} pairs`);
          } else if (cls === TileClass.Full) {
            if (counted) result.full++;
            if (shown < pairs) result.unsafe.push(`FULL ${where} hides ${pairs - shown} of ${pairs} pairs`);
          } else if (cls === TileClass.Partial) {
            if (counted) result.partial++;
            if (counted && (shown === 0 || shown === pairs)) result.loose++;
          } else {
            result.unsafe.push(`${where} has no class (${cls})`);
          }
        }
      }
    }
  }
  return result;
}

/** What a classifier that always answers PARTIAL would produce. */
export const allPartial = (classes: ArrayLike<number>) => Uint32Array.from(classes, () => TileClass.Partial);

/** What a classifier that never answers PARTIAL would produce: each PARTIAL tile guessed EMPTY or FULL. */
export const nonePartial = (classes: ArrayLike<number>, guess: TileClass.Empty | TileClass.Full) =>
  Uint32Array.from(classes, (c) => (c === TileClass.Partial ? guess : c));
