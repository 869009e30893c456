// Constant folding of mask predicates, and the 32-bit integer semantics every backend shares.
//
// Mask arithmetic is i32 arithmetic: the attention kernel computes it in WGSL `i32`, which wraps on overflow, so the
// CPU evaluator wraps in the same places and the two agree bit for bit even on absurd inputs. Folding follows the same
// rules, so a folded predicate means exactly what the unfolded one meant.

import { keepThreshold } from './hash.ts';
import { floorDiv, floorMod, type BoolExpr, type CmpOp, type IntExpr, type IntOp } from './predicate.ts';

export const I32_MIN = -(2 ** 31);
export const I32_MAX = 2 ** 31 - 1;

/** Whether a whole number fits an i32 slot (constants outside are rejected when a mask is lowered). */
export function fitsI32(v: number): boolean {
  return Number.isInteger(v) && v >= I32_MIN && v <= I32_MAX;
}

/** One integer operation on i32 values, wrapping like WGSL: `+ - *` wrap, `/` and `%` floor with 0 for a 0 divisor. */
export function intOp(op: IntOp, a: number, b: number): number {
  switch (op) {
    case '+':
      return (a + b) | 0;
    case '-':
      return (a - b) | 0;
    case '*':
      return Math.imul(a, b);
    // floor(-2^31 / -1) = 2^31 wraps to -2^31, as WGSL's i32 division of those operands yields its numerator.
    case '/':
      return floorDiv(a, b) | 0;
    case '%':
      return floorMod(a, b) | 0;
    case 'min':
      return Math.min(a, b);
    case 'max':
      return Math.max(a, b);
  }
}

/** `abs` on i32: abs(-2^31) wraps to -2^31, as in WGSL. */
export function intAbs(a: number): number {
  return Math.abs(a) | 0;
}

export function compare(op: CmpOp, a: number, b: number): boolean {
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '==':
      return a === b;
    case '!=':
      return a !== b;
    case '>':
      return a > b;
    case '>=':
      return a >= b;
  }
}

/**
 * Folds constant subexpressions and drops identities that hold for every i32 (`x + 0`, `x - 0`, `x * 1`, `x / 1`).
 * Only constants are folded: `q - q` stays, since proving such identities buys nothing the tile classifier needs.
 */
export function foldInt(e: IntExpr): IntExpr {
  switch (e.kind) {
    case 'abs': {
      const a = foldInt(e.a);
      return a.kind === 'const' ? { kind: 'const', value: intAbs(a.value) } : { kind: 'abs', a };
    }
    case 'bin': {
      const a = foldInt(e.a);
      const b = foldInt(e.b);
      if (a.kind === 'const' && b.kind === 'const') return { kind: 'const', value: intOp(e.op, a.value, b.value) };
      // (x ± c1) ± c2 → x ± c: exact, since wrapping addition is associative.
      if (b.kind === 'const' && (e.op === '+' || e.op === '-') && a.kind === 'bin' && (a.op === '+' || a.op === '-') && a.b.kind === 'const') {
        const c = intOp('+', a.op === '+' ? a.b.value : intOp('-', 0, a.b.value), e.op === '+' ? b.value : intOp('-', 0, b.value));
        if (c === 0) return a.a;
        return c < 0 && c !== I32_MIN ? { kind: 'bin', op: '-', a: a.a, b: { kind: 'const', value: -c } } : { kind: 'bin', op: '+', a: a.a, b: { kind: 'const', value: c } };
      }
      if (b.kind === 'const') {
        if (b.value === 0 && (e.op === '+' || e.op === '-')) return a;
        if (b.value === 1 && (e.op === '*' || e.op === '/')) return a;
      }
      if (a.kind === 'const' && a.value === 0 && e.op === '+') return b;
      if (a.kind === 'const' && a.value === 1 && e.op === '*') return b;
      return { kind: 'bin', op: e.op, a, b };
    }
    default:
      return e;
  }
}

/** Folds a predicate: constant comparisons become true/false, and true/false settle `and`, `or`, `not`. */
export function foldBool(e: BoolExpr): BoolExpr {
  switch (e.kind) {
    case 'cmp': {
      const a = foldInt(e.a);
      const b = foldInt(e.b);
      if (a.kind === 'const' && b.kind === 'const') return compare(e.op, a.value, b.value) ? { kind: 'true' } : { kind: 'false' };
      return { kind: 'cmp', op: e.op, a, b };
    }
    case 'not': {
      const a = foldBool(e.a);
      if (a.kind === 'true') return { kind: 'false' };
      if (a.kind === 'false') return { kind: 'true' };
      if (a.kind === 'not') return a.a;
      return { kind: 'not', a };
    }
    case 'and':
    case 'or': {
      const unit = e.kind === 'and' ? 'true' : 'false';
      const zero = e.kind === 'and' ? 'false' : 'true';
      const args: BoolExpr[] = [];
      for (const raw of e.args) {
        const a = foldBool(raw);
        if (a.kind === zero) return a;
        if (a.kind === unit) continue;
        if (a.kind === e.kind) args.push(...a.args);
        else args.push(a);
      }
      if (args.length === 0) return { kind: unit };
      return args.length === 1 ? args[0] : { kind: e.kind, args };
    }
    case 'random':
      // A rate whose threshold is 0 hides nothing; one whose threshold is 2^32 hides everything (see hash.ts).
      if (keepThreshold(e.rate) <= 0) return { kind: 'true' };
      if (keepThreshold(e.rate) >= 2 ** 32) return { kind: 'false' };
      return e;
    default:
      return e;
  }
}
