// Infix text of a predicate, in the .mdl expression syntax: `k <= q + (Lk - Lq)`, `docs[q] == docs[k]`.
// Parentheses follow the language's precedence, so the text parses back to the same tree.

import type { BoolExpr, IntExpr } from './predicate.ts';

const PREC: Record<string, number> = { '+': 1, '-': 1, '*': 2, '/': 2, '%': 2 };

export function printInt(e: IntExpr, parent = 0): string {
  switch (e.kind) {
    case 'var':
      return e.name;
    case 'const':
      return e.value < 0 && parent > 0 ? `(${e.value})` : String(e.value);
    case 'param':
      return e.name;
    case 'abs':
      return `abs(${printInt(e.a)})`;
    case 'load':
      return `${e.input}[${e.at}]`;
    case 'bin': {
      if (e.op === 'min' || e.op === 'max') return `${e.op}(${printInt(e.a)}, ${printInt(e.b)})`;
      const p = PREC[e.op];
      // Left-associative: the right operand needs parentheses at equal precedence.
      const text = `${printInt(e.a, p)} ${e.op} ${printInt(e.b, p + 0.5)}`;
      return p < parent ? `(${text})` : text;
    }
  }
}

/** `parent`: 0 top level, 1 inside `|`, 2 inside `&`, 3 under `!`. */
export function printBool(e: BoolExpr, parent = 0): string {
  switch (e.kind) {
    case 'true':
      return 'none';
    case 'false':
      return '!none';
    case 'random':
      return `random(${e.rate}, ${e.seed})`;
    case 'cmp': {
      const text = `${printInt(e.a)} ${e.op} ${printInt(e.b)}`;
      return parent >= 3 ? `(${text})` : text;
    }
    case 'not':
      return `!${printBool(e.a, 3)}`;
    case 'and': {
      const text = e.args.map((a) => printBool(a, 2)).join(' & ');
      return parent >= 3 ? `(${text})` : text;
    }
    case 'or': {
      const text = e.args.map((a) => printBool(a, 1)).join(' | ');
      return parent >= 2 ? `(${text})` : text;
    }
  }
}
