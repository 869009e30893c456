// Words for syntax errors: how to name a token the user wrote, and what a grammar rule expects, in the language's
// own terms rather than the parser's internal names.

import type { IToken } from 'chevrotain';

const RULES: Record<string, string> = {
  file: "a model ('model NAME { … }')",
  model: "a model ('model NAME { … }')",
  item: 'a declaration (dim, input, decoder_input, mask, score, embed, stack or output)',
  dimDecl: "a dim ('dim NAME = VALUE')",
  dimDef: 'a dim name',
  inputDecl: "an input ('input NAME: tokens[B, T] pad 0')",
  inputAttr: "an input attribute ('pad 0', 'of src')",
  stackDecl: "a stack ('stack NAME x N on INPUT { … }')",
  layer: 'a layer (attention, ffn or norm)',
  keyValue: "an option ('name = value')",
  layerOptions: "an option ('name = value')",
  expr: 'an expression',
  andExpr: 'an expression',
  notExpr: 'an expression',
  cmpExpr: 'an expression',
  addExpr: 'an expression',
  mulExpr: 'an expression',
  unaryExpr: 'an expression',
  primary: 'an expression (a number, a name, a call or parentheses)',
  callArgs: 'arguments',
  arg: 'an argument',
  indexArgs: 'an index',
};

const TOKENS: Record<string, string> = {
  Identifier: 'a name',
  Word: 'a name',
  NumberLiteral: 'a number',
  EOF: 'the end of the file',
};

/** What a rule or token type expects, for "expected X but found Y". */
export function describeExpected(ruleOrToken: string): string {
  return RULES[ruleOrToken] ?? TOKENS[ruleOrToken] ?? ruleOrToken;
}

/** How to show what the user wrote: `'ffn'`, or "the end of the file". */
export function describeToken(tok: IToken): string {
  if (tok.tokenType.name === 'EOF' || !Number.isFinite(tok.startOffset)) return 'the end of the file';
  const image = tok.image.length > 40 ? `${tok.image.slice(0, 37)}…` : tok.image;
  return `'${image}'`;
}
