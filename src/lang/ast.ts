// The abstract syntax tree of a .mdl spec.
//
// The tree mirrors what the user wrote, not what it means: names are unresolved strings, expressions keep their
// shape, options keep their order. Meaning is given later (src/check resolves names and shapes, src/masks lowers mask
// expressions, src/ir builds the graph). Every node carries the span of source text it came from, so that every later
// stage can point at the user's text when it complains.

/** A range of source text. Lines and columns are 1-based; `end` is exclusive (offset just past the last character). */
export interface Span {
  file: string;
  start: number;
  end: number;
  line: number;
  col: number;
  endLine: number;
  endCol: number;
  /** The span stands for the whole file (a binary file, say): diagnostics show no source line for it. */
  wholeFile?: boolean;
}

interface Node {
  span: Span;
}

/** A name as written, with its own span (used in diagnostics such as "unknown name"). */
export interface Name extends Node {
  text: string;
}

// ---------------------------------------------------------------------------------------------------------------
// Expressions: one syntax for dims, mask predicates, parameters and option values. Which forms are allowed where is
// decided by the stage that reads them, so that a misplaced form gets a precise message instead of a parse error.

export type Expr = NumberLit | Ref | Unary | Binary | Call | Index | Paren;

export interface NumberLit extends Node {
  kind: 'number';
  value: number;
  /** The literal as written, e.g. `0.50`: integers are checked by text so `2.0` is not mistaken for an int. */
  text: string;
}

/** A bare name: a dim, an input, a mask, a score, an index variable (b, h, q, k) or a keyword-like value (`bottom_right`). */
export interface Ref extends Node {
  kind: 'ref';
  name: string;
}

export interface Unary extends Node {
  kind: 'unary';
  op: '-' | '!';
  operand: Expr;
}

export type BinaryOp = '|' | '&' | '==' | '!=' | '<' | '<=' | '>' | '>=' | '+' | '-' | '*' | '/' | '%';

export interface Binary extends Node {
  kind: 'binary';
  op: BinaryOp;
  left: Expr;
  right: Expr;
}

/** An argument of a call: positional (`window(64)`) or named (`causal(align = bottom_right)`). */
export interface Arg extends Node {
  name?: Name;
  value: Expr;
}

/** `f(args)`: a built-in mask policy, score modifier, initialiser or arithmetic function (min, max, abs). */
export interface Call extends Node {
  kind: 'call';
  callee: Name;
  args: Arg[];
}

/** `data[i]`: a read of input data in a mask predicate, e.g. `docs[q]`, `src_len[b]`. */
export interface Index extends Node {
  kind: 'index';
  target: Name;
  indices: Expr[];
}

/** Parentheses are kept so that printers and spans reproduce what was written. */
export interface Paren extends Node {
  kind: 'paren';
  inner: Expr;
}

// ---------------------------------------------------------------------------------------------------------------
// Declarations

export interface Model extends Node {
  kind: 'model';
  name: Name;
  items: Item[];
}

export type Item = DimDecl | InputDecl | DecoderInputDecl | MaskDecl | ScoreDecl | EmbedDecl | StackDecl | OutputDecl | LossDecl;

/** One name of a `dim` line: concrete (`d_model = 512`), derived (`d_head = d_model / heads`), symbolic (`T`) with an optional bound (`T <= 4096`). */
export interface DimDef extends Node {
  name: Name;
  value?: Expr;
  bound?: Expr;
}

export interface DimDecl extends Node {
  kind: 'dim';
  dims: DimDef[];
}

/** `pad 0`, `bos 1`, `eos 2`, `of src`: attributes after an input's shape. */
export interface InputAttr extends Node {
  key: Name;
  value: Expr;
}

export interface InputDecl extends Node {
  kind: 'input';
  name: Name;
  type: Name;
  shape: Expr[];
  attrs: InputAttr[];
}

/** `decoder_input dec_in = shift_right(tgt, bos = 1)`: the decoder input built from a target. */
export interface DecoderInputDecl extends Node {
  kind: 'decoder_input';
  name: Name;
  build: Call;
}

export interface MaskDecl extends Node {
  kind: 'mask';
  name: Name;
  expr: Expr;
}

/** `score s = alibi, softcap(30)`: score modifiers applied to attention logits, in order. */
export interface ScoreDecl extends Node {
  kind: 'score';
  name: Name;
  mods: Expr[];
}

/** `embed tokens: learned(vocab, d_model), positions: sinusoidal` */
export interface EmbedDecl extends Node {
  kind: 'embed';
  fields: Option[];
}

/** `key = value` (or `key: value`) in option lists, layers and stack headers. A value may be several words (`pre layer`). */
export interface Option extends Node {
  key: Name;
  values: Expr[];
}

export interface StackDecl extends Node {
  kind: 'stack';
  name: Name;
  repeat: Expr;
  /** The words `x` and `on` as written (checked by the parser front end; kept for their spans). */
  times: Name;
  on: Name;
  /** The sequence the stack runs over: a tokens input, a decoder input or a features input. */
  source: Name;
  options: Option[];
  layers: Layer[];
}

export type Layer = AttentionLayer | FfnLayer | NormLayer;

export interface AttentionLayer extends Node {
  kind: 'attention';
  mode: Name; // self | cross
  options: Option[];
}

export interface FfnLayer extends Node {
  kind: 'ffn';
  width: Expr;
  activation: Name;
  options: Option[];
}

/** An explicit norm inside a layer list (only with `norm = none` stacks, for hand-arranged layers). */
export interface NormLayer extends Node {
  kind: 'norm';
  type: Name;
}

/** `output logits = project(decoder, vocab, tied = tokens)` */
export interface OutputDecl extends Node {
  kind: 'output';
  name: Name;
  value: Call;
}

/** `loss xent = cross_entropy(logits, labels = tgt)`: what the model is trained on (labels, counted positions). */
export interface LossDecl extends Node {
  kind: 'loss';
  name: Name;
  value: Call;
}

/** A parsed file: the model (if one could be recovered) and where it came from. */
export interface SourceFile {
  path: string;
  text: string;
  model?: Model;
  /** Names of declarations the parser could not read whole (their errors are already reported). */
  brokenNames?: string[];
}
