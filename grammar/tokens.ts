// The tokens of the .mdl language.
//
// Keywords are few on purpose: only the words that open a declaration or a layer are reserved. Words such as `self`,
// `cross`, `x`, `on`, `causal` or `gelu` are ordinary identifiers whose meaning is given by their position, so a
// user may still name a dim `x` or a mask `window`. Every keyword is also a `Word`, so that option keys such as
// `mask = …` or `norm = …` may reuse keyword spellings.

import { createToken, Lexer, type TokenType } from 'chevrotain';

// Chevrotain rebuilds regex patterns without the `u` flag, so the Unicode-aware identifier is matched by a function.
const identifierRegex = /[\p{L}_][\p{L}\p{N}_]*/uy;
function matchIdentifier(text: string, offset: number): RegExpExecArray | null {
  identifierRegex.lastIndex = offset;
  return identifierRegex.exec(text);
}

export const Word = createToken({ name: 'Word', pattern: Lexer.NA });

// Unicode letters are allowed in names (a model may be called `翻译`); the WGSL backend never reuses them.
export const Identifier = createToken({
  name: 'Identifier',
  pattern: matchIdentifier,
  categories: [Word],
  line_breaks: false,
});

function keyword(word: string): TokenType {
  return createToken({ name: `Kw_${word}`, pattern: new RegExp(word), longer_alt: Identifier, categories: [Word], label: `'${word}'` });
}

export const Model = keyword('model');
export const Dim = keyword('dim');
// `decoder_input` must be tried before `input`'s longer_alt check would split it; longer_alt handles `inputs`.
export const DecoderInput = keyword('decoder_input');
export const Input = keyword('input');
export const Mask = keyword('mask');
export const Score = keyword('score');
export const Embed = keyword('embed');
export const Stack = keyword('stack');
export const Attention = keyword('attention');
export const Ffn = keyword('ffn');
export const Norm = keyword('norm');
export const Output = keyword('output');
export const Loss = keyword('loss');

export const NumberLiteral = createToken({ name: 'NumberLiteral', pattern: /\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/, label: 'a number' });

const WhiteSpace = createToken({ name: 'WhiteSpace', pattern: /[ \t\r\n]+/, group: Lexer.SKIPPED });
const LineComment = createToken({ name: 'LineComment', pattern: /\/\/[^\n]*/, group: Lexer.SKIPPED });
const BlockComment = createToken({ name: 'BlockComment', pattern: /\/\*[\s\S]*?\*\//, group: Lexer.SKIPPED, line_breaks: true });

const punct = (name: string, pattern: RegExp, text: string) => createToken({ name, pattern, label: `'${text}'` });
export const LCurly = punct('LCurly', /\{/, '{');
export const RCurly = punct('RCurly', /\}/, '}');
export const LParen = punct('LParen', /\(/, '(');
export const RParen = punct('RParen', /\)/, ')');
export const LBracket = punct('LBracket', /\[/, '[');
export const RBracket = punct('RBracket', /\]/, ']');
export const Comma = punct('Comma', /,/, ',');
export const Colon = punct('Colon', /:/, ':');
export const LessEq = punct('LessEq', /<=/, '<=');
export const GreaterEq = punct('GreaterEq', />=/, '>=');
export const EqEq = punct('EqEq', /==/, '==');
export const NotEq = punct('NotEq', /!=/, '!=');
export const Less = punct('Less', /</, '<');
export const Greater = punct('Greater', />/, '>');
export const Equals = punct('Equals', /=/, '=');
export const Amp = punct('Amp', /&/, '&');
export const Pipe = punct('Pipe', /\|/, '|');
export const Bang = punct('Bang', /!/, '!');
export const Plus = punct('Plus', /\+/, '+');
export const Minus = punct('Minus', /-/, '-');
export const Star = punct('Star', /\*/, '*');
export const Slash = punct('Slash', /\//, '/');
export const Percent = punct('Percent', /%/, '%');

/** Order matters: comments before `/`, two-character operators before one-character ones, keywords before identifiers. */
export const allTokens: TokenType[] = [
  WhiteSpace, LineComment, BlockComment,
  Model, Dim, DecoderInput, Input, Mask, Score, Embed, Stack, Attention, Ffn, Norm, Output, Loss,
  Identifier, Word, NumberLiteral,
  LCurly, RCurly, LParen, RParen, LBracket, RBracket, Comma, Colon,
  LessEq, GreaterEq, EqEq, NotEq, Less, Greater, Equals, Amp, Pipe, Bang, Plus, Minus, Star, Slash, Percent,
];

export const MdlLexer = new Lexer(allTokens, { ensureOptimizations: false, positionTracking: 'full' });
