// Parsing a large spec one declaration at a time.
//
// Tokens and the concrete syntax tree are big: a token per word, and about ten CST nodes per operand (one per
// precedence level). A spec with a hundred thousand masks would hold millions of each at once. For a large file the
// text is cut before each top-level declaration, and each piece is lexed, parsed and turned into AST on its own, so
// only one declaration's tokens and CST are alive at a time.
//
// This is only a faster route to the same tree: when the cut is unclear or any piece has a problem (a lexing or
// parsing error, nesting past the limits), the caller parses the whole file the ordinary way, so diagnostics never
// depend on the route. A test compares both routes on the same files.

import type { IToken } from 'chevrotain';
import { parser } from '../../grammar/parser.ts';
import { MdlLexer } from '../../grammar/tokens.ts';
import type { ItemCstNode } from '../../generated/cst.d.ts';
import type * as A from './ast.ts';
import { AstBuilder } from './cst-to-ast.ts';
import { findNestingProblem } from './nesting.ts';

/** Files shorter than this (in UTF-16 units) are parsed whole: it is cheap enough. */
export const PARSE_BY_ITEM_ABOVE_CHARS = 256 * 1024;

const ITEM_WORDS = new Set(['dim', 'input', 'decoder_input', 'mask', 'score', 'embed', 'stack', 'output', 'loss']);

/**
 * The model parsed declaration by declaration, or undefined when the file is not a clean `model NAME { … }` with one
 * declaration keyword at the start of each declaration's first line (the caller then parses it whole).
 */
export function parseByItem(text: string, path: string): A.Model | undefined {
  const starts = declarationLines(text);
  if (!starts || starts.length === 0) return undefined;
  const builder = new AstBuilder(path);
  let line = 1;
  let lexedTo = 0;
  /** Tokens of text[from, to), with offsets and lines of the whole file; undefined on a lexing error. */
  const lex = (from: number, to: number): IToken[] | undefined => {
    for (let i = text.indexOf('\n', lexedTo); i !== -1 && i < from; i = text.indexOf('\n', i + 1)) line++;
    lexedTo = from;
    const r = MdlLexer.tokenize(text.slice(from, to));
    if (r.errors.length > 0) return undefined;
    for (const t of r.tokens) {
      t.startOffset += from;
      t.endOffset = (t.endOffset ?? t.startOffset) + from;
      t.startLine = (t.startLine ?? 1) + line - 1;
      t.endLine = (t.endLine ?? 1) + line - 1;
    }
    return r.tokens;
  };

  const head = lex(0, starts[0]);
  if (!head || head.length !== 3 || head[0].tokenType.name !== 'Kw_model' || head[1].tokenType.name !== 'Identifier' || head[2].tokenType.name !== 'LCurly') return undefined;
  const items: A.Item[] = [];
  let close: IToken | undefined;
  for (let s = 0; s < starts.length; s++) {
    const last = s + 1 === starts.length;
    const tokens = lex(starts[s], last ? text.length : starts[s + 1]);
    if (!tokens) return undefined;
    if (last) {
      close = tokens.pop();
      if (close?.tokenType.name !== 'RCurly') return undefined;
    }
    // The model's brace encloses every declaration: one level of nesting before the first token.
    if (findNestingProblem(tokens, 1)) return undefined;
    parser.input = tokens;
    const cst = parser.item() as ItemCstNode;
    if (parser.errors.length > 0) return undefined;
    const item = builder.itemOf(cst);
    if (!item) return undefined;
    items.push(item);
  }
  const name = builder.nameOf(head[1]);
  if (!name || !close) return undefined;
  return { kind: 'model', name, items, span: builder.spanOfTokens(head[0], close) };
}

/**
 * Offsets of the lines that start a declaration directly inside the model's braces: the line's first word is a
 * declaration keyword, outside comments and brackets. Undefined when a block comment does not end.
 */
function declarationLines(text: string): number[] | undefined {
  const starts: number[] = [];
  let depth = 0;
  let lineStart = 0;
  let atLineStart = true;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      atLineStart = true;
      lineStart = ++i;
      continue;
    }
    if (c === 32 || c === 9 || c === 13) {
      i++;
      continue;
    }
    if (c === 47 && text.charCodeAt(i + 1) === 47) {
      const nl = text.indexOf('\n', i);
      i = nl === -1 ? text.length : nl;
      continue;
    }
    if (c === 47 && text.charCodeAt(i + 1) === 42) {
      const end = text.indexOf('*/', i + 2);
      if (end === -1) return undefined;
      if (text.lastIndexOf('\n', end) > i) atLineStart = false;
      i = end + 2;
      continue;
    }
    const wasAtLineStart = atLineStart;
    atLineStart = false;
    if (c === 123 || c === 40 || c === 91) depth++;
    else if (c === 125 || c === 41 || c === 93) depth--;
    else if (wasAtLineStart && depth === 1 && isWordChar(c)) {
      let j = i;
      while (j < text.length && isWordChar(text.charCodeAt(j))) j++;
      // A word going on in a non-ASCII letter (`mask翻译`) is some other name: no cut there.
      if (ITEM_WORDS.has(text.slice(i, j)) && !(text.charCodeAt(j) > 127)) starts.push(lineStart);
      i = j;
      continue;
    }
    i++;
  }
  return starts;
}

function isWordChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || (c >= 48 && c <= 57) || c === 95;
}
