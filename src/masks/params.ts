// Parameters of built-in masks: whole numbers fixed before attention runs — literals, dims of the spec, `Lq`/`Lk`,
// and integer arithmetic on them (`window(S / 4)`, `monotonic(S / T, 1, 1)`).
//
// A parameter may not depend on positions or data (`window(q)` means nothing as a policy: write a raw predicate).
// Concrete values are range-checked now, with a diagnostic at the parameter; symbolic ones are dispatch-time params.

import type { DiagnosticBag } from '../lang/diagnostics.ts';
import type { Expr, NumberLit } from '../lang/ast.ts';
import { fitsI32, foldInt } from './fold.ts';
import { bin, C, P, type IntExpr } from './predicate.ts';
import { printInt } from './print-predicate.ts';

export interface ParamScope {
  dim(name: string): { concrete?: number } | undefined;
}

export interface ParamValue {
  /** The value for the predicate: concrete dims substituted, constants folded. */
  expr: IntExpr;
  /** The parameter with dims by name, as the user wrote it. */
  named: IntExpr;
  /** How the normal form prints it. */
  text: string;
  /** Its value when known now. */
  value?: number;
}

/** Whether a literal is written as a whole number (`2.0` is not: it reads as a real number). */
export function isWholeLiteral(n: NumberLit): boolean {
  return Number.isInteger(n.value) && !/[.]/.test(n.text);
}

/**
 * Lowers an integer parameter. `min` is the smallest allowed value (checked when the value is known now);
 * `policy` and `key` name it in messages. Returns undefined after reporting a diagnostic.
 */
export function lowerParam(e: Expr, policy: string, key: string, min: number, scope: ParamScope, bag: DiagnosticBag): ParamValue | undefined {
  const named = paramExpr(e, policy, key, scope, bag);
  if (!named) return undefined;
  const expr = foldInt(substitute(named, scope));
  const value = expr.kind === 'const' ? expr.value : undefined;
  // Dims stay by name in the normal form; pure arithmetic on literals prints as its value.
  const text = value !== undefined && !mentionsParam(named) ? String(value) : printInt(named);
  if (value !== undefined && !fitsI32(value)) {
    bag.error('E403', e.span, `${policy}: ${key} = ${value} does not fit mask arithmetic (32-bit integers)`);
    return undefined;
  }
  if (value !== undefined && value < min) {
    const want = min === 1 ? 'positive' : min === 0 ? 'zero or more' : `at least ${min}`;
    const shown = text === String(value) ? `got ${value}` : `${text} = ${value}`;
    bag.error('E403', e.span, `${policy}: ${key} must be ${want}, ${shown}`, min === 1 ? `a ${key} of ${value} would leave nothing to attend to; use 1 or more` : undefined);
    return undefined;
  }
  return { expr, named, text, value };
}

/** The parameter with dims kept as named params (for printing), or undefined after a diagnostic. */
function paramExpr(e: Expr, policy: string, key: string, scope: ParamScope, bag: DiagnosticBag): IntExpr | undefined {
  const bad = (message: string, hint?: string): undefined => {
    bag.error('E403', e.span, `${policy}: ${key} ${message}`, hint);
    return undefined;
  };
  const sub = (x: Expr) => paramExpr(x, policy, key, scope, bag);
  switch (e.kind) {
    case 'number':
      if (!isWholeLiteral(e)) {
        bag.error('E409', e.span, `${policy}: ${key} must be a whole number, found ${e.text}`);
        return undefined;
      }
      if (!fitsI32(e.value)) return bad(`= ${e.text} does not fit mask arithmetic (32-bit integers)`);
      return C(e.value);
    case 'paren':
      return sub(e.inner);
    case 'ref': {
      if (e.name === 'Lq' || e.name === 'Lk') return P(e.name);
      if (scope.dim(e.name)) return P(e.name);
      if (['b', 'h', 'q', 'k'].includes(e.name)) return bad(`cannot depend on the position '${e.name}'`, 'a mask that varies with positions is a raw predicate, e.g. `k <= q + 2`');
      return bad(`must be a whole number or a dim; '${e.name}' is not a dim`);
    }
    case 'unary': {
      if (e.op !== '-') return bad('must be a whole number, not a mask');
      const x = sub(e.operand);
      return x && bin('-', C(0), x);
    }
    case 'binary': {
      if (!['+', '-', '*', '/', '%'].includes(e.op)) return bad('must be a whole number, not a mask');
      const l = sub(e.left);
      const r = sub(e.right);
      return l && r && bin(e.op as '+', l, r);
    }
    case 'call': {
      const name = e.callee.text;
      const want = name === 'abs' ? 1 : name === 'min' || name === 'max' ? 2 : 0;
      if (!want || e.args.length !== want || e.args.some((a) => a.name)) return bad('must be a whole number or arithmetic on dims (+ - * / % min max abs)');
      const args = e.args.map((a) => sub(a.value));
      if (args.some((a) => !a)) return undefined;
      return name === 'abs' ? { kind: 'abs', a: args[0]! } : bin(name as 'min', args[0]!, args[1]!);
    }
    case 'index':
      return bad('cannot read input data', 'a mask that varies with data is a raw predicate, e.g. `k < lens[b]`');
  }
}

function mentionsParam(e: IntExpr): boolean {
  return e.kind === 'param' || (e.kind === 'bin' && (mentionsParam(e.a) || mentionsParam(e.b))) || (e.kind === 'abs' && mentionsParam(e.a));
}

/** Concrete dims become constants; symbolic dims and Lq/Lk stay dispatch-time params. */
function substitute(e: IntExpr, scope: ParamScope): IntExpr {
  switch (e.kind) {
    case 'param': {
      const v = e.name === 'Lq' || e.name === 'Lk' ? undefined : scope.dim(e.name)?.concrete;
      return v === undefined ? e : C(v);
    }
    case 'bin':
      return bin(e.op, substitute(e.a, scope), substitute(e.b, scope));
    case 'abs':
      return { kind: 'abs', a: substitute(e.a, scope) };
    default:
      return e;
  }
}
