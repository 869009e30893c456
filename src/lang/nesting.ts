// Limits on how deep an expression may nest, checked on the token stream before parsing.
//
// The parser and every later pass walk nested expressions recursively, so `((((…))))` two hundred levels deep would
// overflow the JavaScript stack. Real specs nest a handful of levels; a file past these limits gets one positioned
// error instead of a crash.
//
// Long flat chains are not limited the same way: `a | b | … ` and `a & b & …` of any length are read as one n-ary
// composition by the mask lowering (src/masks/lower.ts), so they never recurse per term. Arithmetic chains
// (`1 + 1 + …`) stay binary trees down to the predicate, so their length is limited instead.

import type { IToken } from 'chevrotain';

/** Parentheses, brackets, braces and prefix `!`/`-` operators, counted together along one path. */
export const MAX_NESTING = 64;
/** Arithmetic and comparison operators along one path (summed over the enclosing parentheses). */
export const MAX_ARITHMETIC_TERMS = 1000;

export interface NestingProblem {
  kind: 'nesting' | 'arithmetic';
  token: IToken;
}

const OPEN = new Set(['LParen', 'LBracket', 'LCurly']);
const CLOSE = new Set(['RParen', 'RBracket', 'RCurly']);
const ARITHMETIC = new Set(['Plus', 'Minus', 'Star', 'Slash', 'Percent', 'Less', 'LessEq', 'Greater', 'GreaterEq', 'EqEq', 'NotEq']);
/** After these a `-` is a negation, not a subtraction. */
const OPERAND_END = new Set(['Identifier', 'NumberLiteral', 'RParen', 'RBracket']);

interface Frame {
  /** Nesting depth of this frame's content (enclosing brackets and prefix operators). */
  depth: number;
  /** Arithmetic terms in the enclosing frames. */
  outerTerms: number;
  /** Arithmetic operators seen in this frame since the last `&`, `|`, `,` or declaration. */
  terms: number;
  /** Prefix operators read since the last operand. */
  prefix: number;
}

/**
 * The first token at which an expression nests deeper than MAX_NESTING or grows longer than MAX_ARITHMETIC_TERMS,
 * or undefined when the file is within both limits. One linear pass over the tokens; `startDepth` is the nesting
 * they start at (1 for a declaration inside the model's braces).
 */
export function findNestingProblem(tokens: IToken[], startDepth = 0): NestingProblem | undefined {
  const stack: Frame[] = [{ depth: startDepth, outerTerms: 0, terms: 0, prefix: 0 }];
  let prev: string | undefined;
  for (const tok of tokens) {
    const type = tok.tokenType.name;
    const top = stack[stack.length - 1];
    if (OPEN.has(type)) {
      const depth = top.depth + top.prefix + 1;
      if (depth > MAX_NESTING) return { kind: 'nesting', token: tok };
      stack.push({ depth, outerTerms: top.outerTerms + top.terms, terms: 0, prefix: 0 });
    } else if (CLOSE.has(type)) {
      if (stack.length > 1) stack.pop();
      stack[stack.length - 1].prefix = 0;
    } else if (type === 'Bang' || (type === 'Minus' && !OPERAND_END.has(prev ?? ''))) {
      top.prefix++;
      if (top.depth + top.prefix > MAX_NESTING) return { kind: 'nesting', token: tok };
    } else if (ARITHMETIC.has(type)) {
      top.terms++;
      top.prefix = 0;
      if (top.outerTerms + top.terms > MAX_ARITHMETIC_TERMS) return { kind: 'arithmetic', token: tok };
    } else if (type === 'Amp' || type === 'Pipe' || type === 'Comma' || type === 'Equals' || type === 'Colon' || type.startsWith('Kw_')) {
      top.terms = 0;
      top.prefix = 0;
    } else {
      top.prefix = 0;
    }
    prev = type;
  }
  return undefined;
}
