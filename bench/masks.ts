// The masks the attention benchmarks run, compiled by mdl's own mask pipeline (policy → predicate → WGSL, interval
// tile classifier), exactly as a spec's masks are. The comparators that cannot skip work get the same mask
// materialised: a dense 0/1 matrix from the CPU evaluator.

import { TileClass, type MaskEnv, type MaskWgsl } from '../src/masks/kernel-contract.ts';
import { emitMaskWgsl } from '../src/masks/emit-wgsl.ts';
import { evalBool } from '../src/masks/evaluate.ts';
import { policyOf } from '../test/support/mask-scope.ts';
import { toPredicate } from '../src/masks/policy.ts';
import type { BoolExpr } from '../src/masks/predicate.ts';
import { classifyTiles } from '../src/masks/tiles.ts';
import type { AttentionKernel } from '../src/wgsl/attention.ts';

export interface BenchMask {
  id: string;
  /** What the table calls it. */
  label: string;
  /** The mask as written in a spec. */
  expr: string;
  pred: BoolExpr;
  /** Null for the unmasked case: the kernel is generated without a predicate. */
  wgsl: MaskWgsl | null;
  /** Inputs the mask reads, for Lq queries against Lk keys (batch of 1). */
  env(lq: number, lk: number): MaskEnv;
}

/** Documents packed per row in the `docs` case. */
export const DOCUMENTS = 4;
export const WINDOW = 128;

function compile(id: string, label: string, expr: string | null, env: BenchMask['env']): BenchMask {
  const pred = expr ? toPredicate(policyOf(expr)) : ({ kind: 'true' } as BoolExpr);
  return { id, label, expr: expr ?? 'none', pred, wgsl: expr ? emitMaskWgsl(pred) : null, env };
}

const dimsOnly = (lq: number, lk: number): MaskEnv => ({ dims: { Lq: lq, Lk: lk }, data: {} });

/** The five masks of the comparison, in table order. The names of inputs come from `MASK_SCOPE_SPEC`. */
export function benchMasks(): BenchMask[] {
  return [
    compile('none', 'none', null, dimsOnly),
    compile('causal', 'causal', 'causal', dimsOnly),
    compile('window', `window(${WINDOW})`, `window(${WINDOW})`, dimsOnly),
    compile('padding', '50% key padding', 'key_padding(tgt_len)', (lq, lk) => ({
      dims: { Lq: lq, Lk: lk },
      data: { tgt_len: Int32Array.of(Math.floor(lk / 2)) },
    })),
    compile('docs', `${DOCUMENTS} packed documents`, 'document(docs) & causal', (lq, lk) => {
      const length = Math.max(lq, lk);
      const per = Math.ceil(length / DOCUMENTS);
      return {
        dims: { Lq: lq, Lk: lk },
        data: { docs: Int32Array.from({ length }, (_, i) => Math.floor(i / per)) },
        strides: { docs: length },
      };
    }),
  ];
}

/** The bottom-right causal mask of a decode step: the new query sees every cached key and itself. */
export function decodeMask(): BenchMask {
  return compile('decode', 'causal (bottom-right)', 'causal(align = bottom_right)', dimsOnly);
}

/** Tile classes from mdl's classifier, for this kernel's tile shape. */
export function tileClassesFor(mask: BenchMask, kernel: AttentionKernel, lq: number, lk: number): Uint32Array {
  const grid = { batch: 1, heads: kernel.heads, lq, lk, tileQ: kernel.tileQ, tileK: kernel.tileK };
  return classifyTiles(mask.pred, grid, mask.env(lq, lk));
}

export interface TileCounts {
  total: number;
  empty: number;
  full: number;
  partial: number;
}

export function countTiles(classes: Uint32Array): TileCounts {
  const c: TileCounts = { total: classes.length, empty: 0, full: 0, partial: 0 };
  for (const x of classes) {
    if (x === TileClass.Empty) c.empty++;
    else if (x === TileClass.Full) c.full++;
    else c.partial++;
  }
  return c;
}

/** The mask materialised for one (batch row, head): `[Lq * Lk]`, 1 where the query may see the key. */
export function denseMask(mask: BenchMask, lq: number, lk: number): Uint8Array {
  const env = mask.env(lq, lk);
  const out = new Uint8Array(lq * lk);
  for (let q = 0; q < lq; q++) for (let k = 0; k < lk; k++) out[q * lk + k] = evalBool(mask.pred, { b: 0, h: 0, q, k }, env) ? 1 : 0;
  return out;
}

/** Share of (query, key) pairs the mask lets through. */
export function visibleShare(dense: Uint8Array): number {
  let n = 0;
  for (const x of dense) n += x;
  return n / dense.length;
}
