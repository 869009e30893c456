// Source text → AST, with every lexing and parsing problem turned into a diagnostic.
//
// Chevrotain reports errors in its own words ("Expecting token of type --> RCurly <--"); users should read ours:
// what was expected, in the language's own spelling, and what was found instead.

import type { IRecognitionException, IToken, ILexingError } from 'chevrotain';
import { MdlLexer } from '../../grammar/tokens.ts';
import { parser } from '../../grammar/parser.ts';
import type { FileCstNode } from '../../generated/cst.d.ts';
import { DiagnosticBag, type Diagnostic } from './diagnostics.ts';
import type { Model, SourceFile, Span } from './ast.ts';
import { AstBuilder } from './cst-to-ast.ts';
import { PARSE_BY_ITEM_ABOVE_CHARS, parseByItem } from './parse-by-item.ts';
import { binaryReason, lineIndexOf } from './source-text.ts';
import { findNestingProblem, MAX_ARITHMETIC_TERMS, MAX_NESTING, type NestingProblem } from './nesting.ts';
import { describeExpected, describeToken } from './syntax-messages.ts';

/** Past this many characters the lexer could not read, the file is not parsed (its errors are already plenty). */
const MAX_LEX_ERRORS_BEFORE_PARSE = 200;

export interface ParseResult {
  file: SourceFile;
  diagnostics: Diagnostic[];
}

export function parseSource(text: string, path: string, options: { byItem?: boolean } = {}): ParseResult {
  const bag = new DiagnosticBag();
  const binary = binaryReason(text);
  if (binary) {
    // One error for the whole file instead of one per stray byte.
    bag.error('E109', { ...spanAt(text, path, 0, 0), wholeFile: true }, `this looks like a binary file, not a .mdl spec (${binary})`, 'pass the .mdl spec; weights and other data files are given with their own options');
    return { file: { path, text, model: undefined, brokenNames: [] }, diagnostics: bag.sorted() };
  }
  // A large file that is a clean model is read declaration by declaration, holding one declaration's tokens and CST
  // at a time; anything else (or any problem on that route) is read whole, below.
  if (text.length > PARSE_BY_ITEM_ABOVE_CHARS || options.byItem) {
    const model = parseByItem(text, path);
    if (model) return finish(bag, text, path, model, []);
  }
  const lexed = MdlLexer.tokenize(text);
  for (const e of lexed.errors) reportLexError(bag, e, text, path);

  // So many stray characters that this is not a spec: parsing would only add errors that follow from these.
  if (lexed.errors.length > MAX_LEX_ERRORS_BEFORE_PARSE) {
    return { file: { path, text, model: undefined, brokenNames: [] }, diagnostics: bag.sorted() };
  }

  // Too deep to parse safely: one error at the place it happens, and no tree for the later stages.
  const tooDeep = findNestingProblem(lexed.tokens);
  if (tooDeep) {
    reportNesting(bag, tooDeep, text, path);
    return { file: { path, text, model: undefined, brokenNames: [] }, diagnostics: bag.sorted() };
  }

  parser.input = lexed.tokens;
  const cst = parser.file() as FileCstNode;
  const seen = new Set<number>();
  for (const e of parser.errors) {
    // Recovery can report the same place twice (once per enclosing rule); one message per position is enough.
    const at = e.token.startOffset;
    if (seen.has(at)) continue;
    seen.add(at);
    reportParseError(bag, e, text, path);
  }

  const builder = new AstBuilder(path);
  const model = builder.model(cst);
  return finish(bag, text, path, model, builder.brokenNames);
}

/** Checks on the parsed model that the grammar does not make (the words of a stack header), and the result. */
function finish(bag: DiagnosticBag, text: string, path: string, model: Model | undefined, brokenNames: string[]): ParseResult {
  if (!model && !bag.hasErrors) {
    bag.error('E106', spanAt(text, path, 0, 0), 'the file declares no model', 'a spec is one `model NAME { … }` block');
  }
  if (model) {
    for (const item of model.items) {
      if (item.kind !== 'stack') continue;
      if (item.times.text !== 'x') {
        bag.error('E105', item.times.span, `expected 'x' after the stack name, found '${item.times.text}'`, `write \`stack ${item.name.text} x N on INPUT\``);
      }
      if (item.on.text !== 'on') {
        bag.error('E105', item.on.span, `expected 'on' before the stack's input, found '${item.on.text}'`, `write \`stack ${item.name.text} x N on INPUT\``);
      }
    }
  }
  return { file: { path, text, model, brokenNames }, diagnostics: bag.sorted() };
}

function reportNesting(bag: DiagnosticBag, p: NestingProblem, text: string, path: string): void {
  const span = spanAt(text, path, p.token.startOffset, p.token.image.length);
  if (p.kind === 'nesting') {
    bag.error('E107', span, `nested too deeply (limit ${MAX_NESTING} levels of brackets and prefix operators)`, 'split the expression into named masks or dims');
  } else {
    bag.error('E108', span, `arithmetic too long (limit ${MAX_ARITHMETIC_TERMS} operators in one expression)`, 'split the expression into named dims or masks');
  }
}

function reportLexError(bag: DiagnosticBag, e: ILexingError, text: string, path: string): void {
  const ch = text.slice(e.offset, e.offset + Math.max(1, e.length));
  const first = [...ch][0] ?? ch;
  bag.error(
    'E101',
    spanAt(text, path, e.offset, Math.max(1, e.length)),
    `unexpected character ${JSON.stringify(first)}`,
    'names are letters, digits and _; operators are + - * / % < <= > >= == != & | ! = : , ( ) [ ] { }',
  );
}

function reportParseError(bag: DiagnosticBag, e: IRecognitionException, text: string, path: string): void {
  const tok = e.token;
  const found = describeToken(tok);
  const span = tokenOrEndSpan(tok, text, path, e);
  const rule = e.context?.ruleStack?.at(-1) ?? '';
  switch (e.name) {
    case 'MismatchedTokenException': {
      const expected = /-->\s*(.+?)\s*<--/.exec(e.message)?.[1] ?? 'something else';
      let label = expected.startsWith("'") ? expected : describeExpected(expected);
      // A '}' was expected because nothing else fitted: name what could have stood there too.
      if (label === "'}'" && rule === 'model') label = `${describeExpected('item')} or '}'`;
      if (label === "'}'" && rule === 'stackDecl') label = `${describeExpected('layer')} or '}'`;
      bag.error('E102', span, `expected ${label} but found ${found}`, hintFor(label, rule));
      return;
    }
    case 'NotAllInputParsedException':
      bag.error('E104', span, `unexpected ${found} after the end of the model`, 'a file holds exactly one `model NAME { … }`; move this inside its braces');
      return;
    default:
      bag.error('E103', span, `expected ${describeExpected(rule)} but found ${found}`, hintFor('', rule));
  }
}

function hintFor(expected: string, rule: string): string | undefined {
  if (expected.endsWith("or '}'")) return hintFor('', rule === 'model' ? 'item' : 'layer');
  if (expected === "'}'") return "every '{' needs a matching '}'";
  if (expected === "')'") return "every '(' needs a matching ')'";
  if (expected === "']'") return "every '[' needs a matching ']'";
  if (rule === 'item') return 'declarations start with dim, input, decoder_input, mask, score, embed, stack or output';
  if (rule === 'layer') return 'layers are `attention self|cross …`, `ffn WIDTH ACTIVATION` or `norm layer|rms`';
  if (rule === 'stackDecl') return 'write `stack NAME x N on INPUT (options) { layers }`';
  return undefined;
}

/** A token's span, or for end-of-file errors a one-character span at the last real character. */
function tokenOrEndSpan(tok: IToken, text: string, path: string, e: IRecognitionException): Span {
  if (Number.isFinite(tok.startOffset) && tok.tokenType.name !== 'EOF') {
    return spanAt(text, path, tok.startOffset, Math.max(1, (tok.endOffset ?? tok.startOffset) - tok.startOffset + 1));
  }
  const prev = (e as { previousToken?: IToken }).previousToken;
  const at = prev && Number.isFinite(prev.endOffset) ? (prev.endOffset as number) : Math.max(0, text.trimEnd().length - 1);
  return spanAt(text, path, at, 1);
}

/** A span from an offset and length, computing line and column from the text. */
export function spanAt(text: string, path: string, offset: number, length: number): Span {
  const start = Math.max(0, Math.min(offset, text.length));
  const end = Math.max(start, Math.min(start + length, text.length));
  const lines = lineIndexOf(text);
  const [line, col] = lines.lineCol(start);
  const [endLine, endCol] = lines.lineCol(end);
  return { file: path, start, end, line, col, endLine, endCol };
}
