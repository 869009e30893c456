// Dense CPU evaluation of a mask predicate: the oracle every other implementation is compared with.
//
// It is deliberately the most direct reading of predicate.ts: a recursive interpreter, no tiling, no shortcuts.
// Arithmetic is i32 and wraps where WGSL's does (fold.ts), so the GPU reproduces it bit for bit.

import { pairHash, keepThreshold } from './hash.ts';
import type { MaskEnv } from './kernel-contract.ts';
import { compare, intAbs, intOp } from './fold.ts';
import type { BoolExpr, IntExpr } from './predicate.ts';

export interface Indices {
  b: number;
  h: number;
  q: number;
  k: number;
}

/** Evaluates an integer expression at one (b, h, q, k). Throws on a missing param or input (a caller's bug). */
function evalInt(e: IntExpr, at: Indices, env: MaskEnv): number {
  switch (e.kind) {
    case 'var':
      return at[e.name];
    case 'const':
      return e.value;
    case 'param': {
      const v = env.dims[e.name];
      if (v === undefined) throw new Error(`mask needs the value of '${e.name}'`);
      return v;
    }
    case 'abs':
      return intAbs(evalInt(e.a, at, env));
    case 'load':
      return load(e.input, e.at, at, env);
    case 'bin':
      return intOp(e.op, evalInt(e.a, at, env), evalInt(e.b, at, env));
  }
}

function load(input: string, where: 'b' | 'q' | 'k', at: Indices, env: MaskEnv): number {
  const data = env.data[input];
  if (!data) throw new Error(`mask reads input '${input}', but no data was given for it`);
  if (where === 'b') return data[at.b];
  const stride = env.strides?.[input] ?? Math.floor(data.length / Math.max(1, batchOf(env, input)));
  return data[at.b * stride + at[where]];
}

function batchOf(env: MaskEnv, input: string): number {
  return env.dims.B ?? Math.max(1, Math.round(env.data[input].length / Math.max(1, env.strides?.[input] ?? 1)));
}

export function evalBool(e: BoolExpr, at: Indices, env: MaskEnv): boolean {
  switch (e.kind) {
    case 'true':
      return true;
    case 'false':
      return false;
    case 'not':
      return !evalBool(e.a, at, env);
    case 'and':
      return e.args.every((a) => evalBool(a, at, env));
    case 'or':
      return e.args.some((a) => evalBool(a, at, env));
    case 'random':
      return pairHash(e.seed, at.b, at.h, at.q, at.k) >= keepThreshold(e.rate);
    case 'cmp':
      return compare(e.op, evalInt(e.a, at, env), evalInt(e.b, at, env));
  }
}

/** The dense matrix of one (b, h): `rows[q][k]`, with Lq and Lk taken from `env.dims`. */
export function denseMask(pred: BoolExpr, env: MaskEnv, b = 0, h = 0): boolean[][] {
  const lq = env.dims.Lq;
  const lk = env.dims.Lk;
  const rows: boolean[][] = [];
  for (let q = 0; q < lq; q++) {
    const row: boolean[] = [];
    for (let k = 0; k < lk; k++) row.push(evalBool(pred, { b, h, q, k }, env));
    rows.push(row);
  }
  return rows;
}

/** A JS predicate for the CPU attention oracle. */
export function maskFunction(pred: BoolExpr, env: MaskEnv): (b: number, h: number, q: number, k: number) => boolean {
  return (b, h, q, k) => evalBool(pred, { b, h, q, k }, env);
}
