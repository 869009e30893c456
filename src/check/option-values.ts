// Values of the spec's numeric and word options (`scale = 1`, `eps = 1e-6`, `bias = false`, `style = halves`).
//
// A numeric option is a real number, not a dim: it may be a fraction (`1e-6`), and it may be written as arithmetic
// of numbers, concrete dims and `sqrt(…)` (`scale = 1 / sqrt(d_head)`), so a spec can say where a constant comes from.
// Each reader reports its own option's code, so every wrong value points at the value with a hint of what fits.

import type { Expr, Option } from '../lang/ast.ts';
import type { DiagnosticBag } from '../lang/diagnostics.ts';
import type { DimInfo } from './model.ts';

export type DimLookup = (name: string) => DimInfo | undefined;

/** The value of a constant expression, or a message saying why it has none. */
export function constantValue(e: Expr, dims: DimLookup): number | string {
  switch (e.kind) {
    case 'number':
      return e.value;
    case 'paren':
      return constantValue(e.inner, dims);
    case 'ref': {
      const d = dims(e.name);
      if (d?.concrete !== undefined) return d.concrete;
      return d ? `'${e.name}' is known only at run time` : `'${e.name}' is not a number or a dim`;
    }
    case 'unary': {
      if (e.op !== '-') return `'!' is not arithmetic`;
      const v = constantValue(e.operand, dims);
      return typeof v === 'number' ? -v : v;
    }
    case 'binary': {
      const a = constantValue(e.left, dims);
      const b = constantValue(e.right, dims);
      if (typeof a === 'string') return a;
      if (typeof b === 'string') return b;
      if (e.op === '+') return a + b;
      if (e.op === '-') return a - b;
      if (e.op === '*') return a * b;
      if (e.op === '/') return b === 0 ? 'division by zero' : a / b;
      return `'${e.op}' is not arithmetic`;
    }
    case 'call': {
      if (e.callee.text !== 'sqrt' || e.args.length !== 1 || e.args[0].name) return `'${e.callee.text}(…)' is not a number (only sqrt(X) is)`;
      const v = constantValue(e.args[0].value, dims);
      if (typeof v === 'string') return v;
      return v < 0 ? 'the square root of a negative number' : Math.sqrt(v);
    }
    default:
      return 'expected a number';
  }
}

export interface NumberRule {
  code: string;
  /** What the option is, for the message: "the embedding scale". */
  what: string;
  hint: string;
  /** The accepted range; the value must be finite. */
  min?: number;
  max?: number;
  /** Exclusive lower bound. */
  above?: number;
  integer?: boolean;
}

/** A numeric option value checked against its rule; undefined (after a diagnostic) when it does not fit. */
export function numberValue(e: Expr, dims: DimLookup, bag: DiagnosticBag, rule: NumberRule): number | undefined {
  const v = constantValue(e, dims);
  const fail = (why: string) => void bag.error(rule.code, e.span, `${rule.what} ${why}`, rule.hint);
  if (typeof v === 'string') return fail(`must be a number: ${v}`);
  if (!Number.isFinite(v)) return fail(`must be finite, got ${v}`);
  if (rule.integer && !Number.isInteger(v)) return fail(`must be a whole number, got ${v}`);
  if (rule.above !== undefined && !(v > rule.above)) return fail(`must be greater than ${rule.above}, got ${v}`);
  if (rule.min !== undefined && v < rule.min) return fail(`must be at least ${rule.min}, got ${v}`);
  if (rule.max !== undefined && v > rule.max) return fail(`must be at most ${rule.max}, got ${v}`);
  return v;
}

/** A one-word option value from a fixed set (`true`/`false`, `pairs`/`halves`). */
export function wordValue<W extends string>(o: { values: Expr[]; span: Option['span'] }, words: readonly W[], bag: DiagnosticBag, code: string, what: string): W | undefined {
  const [v] = o.values;
  const word = o.values.length === 1 && v.kind === 'ref' ? v.name : undefined;
  if (word !== undefined && (words as readonly string[]).includes(word)) return word as W;
  bag.error(code, (v ?? o).span, `${what} is ${words.join(' or ')}${word === undefined ? '' : `, not '${word}'`}`, `write ${words.map((w) => `\`${w}\``).join(' or ')}`);
  return undefined;
}

/** `bias = true | false` (E521). */
export function boolValue(o: Option, bag: DiagnosticBag, what: string): boolean | undefined {
  const w = wordValue(o, ['true', 'false'] as const, bag, 'E521', what);
  return w === undefined ? undefined : w === 'true';
}

/** A named argument of a call (`scale = 1` in `learned(vocab, d_model, scale = 1)`), as an option. */
export function namedArgs(e: Expr): Option[] {
  if (e.kind !== 'call') return [];
  return e.args.flatMap((a) => (a.name ? [{ key: a.name, values: [a.value], span: a.span }] : []));
}
