// CST → AST. The concrete tree from the parser keeps every token; the AST keeps what later stages need, each node
// with its span.
//
// The parser recovers from errors, so a CST may miss tokens or whole subtrees (or hold tokens "inserted" during
// recovery, with no position). Builders here return `undefined` for a node that cannot be built and the caller drops
// it: the syntax error has already been reported, and the later stages see only well-formed nodes.

import type { CstNode, IToken } from 'chevrotain';
import type * as C from '../../generated/cst.d.ts';
import type * as A from './ast.ts';

export class AstBuilder {
  /** Declarations whose name was read but whose body was not: later stages must not report them as unknown. */
  readonly brokenNames: string[] = [];

  constructor(private readonly file: string) {}

  model(cst: C.FileCstNode): A.Model | undefined {
    const m = cst.children.model?.[0];
    if (!m) return undefined;
    const name = this.name(m.children.Identifier?.[0]);
    const span = this.nodeSpan(m);
    if (!name || !span) return undefined;
    const items = (m.children.item ?? [])
      .map((i) => {
        const built = this.item(i);
        if (!built) this.noteBroken(i);
        return built;
      })
      .filter(defined);
    return { kind: 'model', name, items, span };
  }

  /** One declaration, for parsing a file declaration by declaration (parse-by-item.ts). */
  itemOf(cst: C.ItemCstNode): A.Item | undefined {
    return this.item(cst);
  }

  nameOf(tok: IToken): A.Name | undefined {
    return this.name(tok);
  }

  /** The span from the start of one token to the end of another, as a CST node over them would have. */
  spanOfTokens(first: IToken, last: IToken): A.Span {
    return join(this.tokenSpan(first), this.tokenSpan(last));
  }

  private noteBroken(cst: C.ItemCstNode): void {
    const decl = Object.values(cst.children)[0]?.[0] as CstNode | undefined;
    const children = (decl?.children ?? {}) as Record<string, (IToken | CstNode)[] | undefined>;
    const tok = (children.Identifier?.[0] ?? children.name?.[0]) as IToken | undefined;
    if (tok && this.real(tok)) this.brokenNames.push(tok.image);
  }

  private item(cst: C.ItemCstNode): A.Item | undefined {
    const c = cst.children;
    if (c.dimDecl) return this.dimDecl(c.dimDecl[0]);
    if (c.inputDecl) return this.inputDecl(c.inputDecl[0]);
    if (c.decoderInputDecl) return this.namedCall('decoder_input', c.decoderInputDecl[0]);
    if (c.maskDecl) return this.maskDecl(c.maskDecl[0]);
    if (c.scoreDecl) return this.scoreDecl(c.scoreDecl[0]);
    if (c.embedDecl) return this.embedDecl(c.embedDecl[0]);
    if (c.stackDecl) return this.stackDecl(c.stackDecl[0]);
    if (c.outputDecl) return this.namedCall('output', c.outputDecl[0]);
    if (c.lossDecl) return this.namedCall('loss', c.lossDecl[0]);
    return undefined;
  }

  private dimDecl(cst: C.DimDeclCstNode): A.DimDecl | undefined {
    const span = this.nodeSpan(cst);
    if (!span) return undefined;
    const dims = (cst.children.dimDef ?? []).map((d): A.DimDef | undefined => {
      const name = this.name(d.children.Identifier?.[0]);
      const dspan = this.nodeSpan(d);
      if (!name || !dspan) return undefined;
      return { name, span: dspan, value: this.optExpr(d.children.value?.[0]), bound: this.optExpr(d.children.bound?.[0]) };
    });
    return { kind: 'dim', dims: dims.filter(defined), span };
  }

  private inputDecl(cst: C.InputDeclCstNode): A.InputDecl | undefined {
    const c = cst.children;
    const span = this.nodeSpan(cst);
    const name = this.name(c.name?.[0]);
    const type = this.name(c.type?.[0]);
    if (!span || !name || !type) return undefined;
    const shape = (c.shape ?? []).map((e) => this.expr(e)).filter(defined);
    const attrs = (c.inputAttr ?? []).map((a): A.InputAttr | undefined => {
      const key = this.name(a.children.Identifier?.[0]);
      const value = this.optExpr(a.children.expr?.[0]);
      const aspan = this.nodeSpan(a);
      return key && value && aspan ? { key, value, span: aspan } : undefined;
    });
    return { kind: 'input', name, type, shape, attrs: attrs.filter(defined), span };
  }

  /** `decoder_input NAME = call(…)`, `output NAME = call(…)` and `loss NAME = call(…)` share one shape: a name bound to a call. */
  private namedCall(kind: 'decoder_input' | 'output' | 'loss', cst: C.DecoderInputDeclCstNode | C.OutputDeclCstNode | C.LossDeclCstNode): A.Item | undefined {
    const span = this.nodeSpan(cst);
    const name = this.name(cst.children.Identifier?.[0]);
    const value = this.optExpr(cst.children.expr?.[0]);
    if (!span || !name || !value) return undefined;
    // A non-call value (`output y = decoder`) becomes a call with an empty callee, which the checker reports.
    const call: A.Call = value.kind === 'call' ? value : { kind: 'call', callee: { text: '', span: value.span }, args: [], span: value.span };
    return kind === 'decoder_input' ? { kind, name, build: call, span } : { kind, name, value: call, span };
  }

  private maskDecl(cst: C.MaskDeclCstNode): A.MaskDecl | undefined {
    const span = this.nodeSpan(cst);
    const name = this.name(cst.children.Identifier?.[0]);
    const expr = this.optExpr(cst.children.expr?.[0]);
    return span && name && expr ? { kind: 'mask', name, expr, span } : undefined;
  }

  private scoreDecl(cst: C.ScoreDeclCstNode): A.ScoreDecl | undefined {
    const span = this.nodeSpan(cst);
    const name = this.name(cst.children.Identifier?.[0]);
    if (!span || !name) return undefined;
    return { kind: 'score', name, mods: (cst.children.expr ?? []).map((e) => this.expr(e)).filter(defined), span };
  }

  private embedDecl(cst: C.EmbedDeclCstNode): A.EmbedDecl | undefined {
    const span = this.nodeSpan(cst);
    if (!span) return undefined;
    return { kind: 'embed', fields: this.options(cst.children.keyValue), span };
  }

  private stackDecl(cst: C.StackDeclCstNode): A.StackDecl | undefined {
    const c = cst.children;
    const span = this.nodeSpan(cst);
    const name = this.name(c.name?.[0]);
    const repeat = this.optExpr(c.repeat?.[0]);
    const times = this.name(c.times?.[0]);
    const on = this.name(c.on?.[0]);
    const source = this.name(c.source?.[0]);
    if (!span || !name || !repeat || !source || !times || !on) return undefined;
    const layers = (c.layer ?? []).map((l) => this.layer(l)).filter(defined);
    return { kind: 'stack', name, repeat, source, options: this.options(c.keyValue), layers, span, times, on };
  }

  private layer(cst: C.LayerCstNode): A.Layer | undefined {
    const c = cst.children;
    if (c.attentionLayer) {
      const l = c.attentionLayer[0];
      const span = this.nodeSpan(l);
      const mode = this.name(l.children.Identifier?.[0]);
      if (!span || !mode) return undefined;
      return { kind: 'attention', mode, options: this.options(l.children.layerOptions?.[0]?.children.keyValue), span };
    }
    if (c.ffnLayer) {
      const l = c.ffnLayer[0];
      const span = this.nodeSpan(l);
      const width = this.optExpr(l.children.expr?.[0]);
      const activation = this.name(l.children.Identifier?.[0]);
      if (!span || !width || !activation) return undefined;
      return { kind: 'ffn', width, activation, options: this.options(l.children.layerOptions?.[0]?.children.keyValue), span };
    }
    if (c.normLayer) {
      const l = c.normLayer[0];
      const span = this.nodeSpan(l);
      const type = this.name(l.children.Identifier?.[0]);
      return span && type ? { kind: 'norm', type, span } : undefined;
    }
    return undefined;
  }

  private options(list: C.KeyValueCstNode[] | undefined): A.Option[] {
    return (list ?? [])
      .map((kv): A.Option | undefined => {
        const key = this.name(kv.children.key?.[0]);
        const span = this.nodeSpan(kv);
        const values = (kv.children.values ?? []).map((e) => this.expr(e)).filter(defined);
        return key && span && values.length > 0 ? { key, values, span } : undefined;
      })
      .filter(defined);
  }

  // ---- expressions: each precedence level folds its operands left to right ----

  private optExpr(cst: C.ExprCstNode | undefined): A.Expr | undefined {
    return cst ? this.expr(cst) : undefined;
  }

  expr(cst: C.ExprCstNode): A.Expr | undefined {
    return this.fold(cst.children.operands?.map((o) => this.andExpr(o)), cst.children.ops);
  }

  private andExpr(cst: C.AndExprCstNode): A.Expr | undefined {
    return this.fold(cst.children.operands?.map((o) => this.notExpr(o)), cst.children.ops);
  }

  private notExpr(cst: C.NotExprCstNode): A.Expr | undefined {
    const c = cst.children;
    if (c.Bang && c.notExpr) {
      const operand = this.notExpr(c.notExpr[0]);
      const span = this.nodeSpan(cst);
      return operand && span ? { kind: 'unary', op: '!', operand, span } : undefined;
    }
    return c.cmpExpr ? this.cmpExpr(c.cmpExpr[0]) : undefined;
  }

  private cmpExpr(cst: C.CmpExprCstNode): A.Expr | undefined {
    return this.fold(cst.children.operands?.map((o) => this.addExpr(o)), cst.children.ops);
  }

  private addExpr(cst: C.AddExprCstNode): A.Expr | undefined {
    return this.fold(cst.children.operands?.map((o) => this.mulExpr(o)), cst.children.ops);
  }

  private mulExpr(cst: C.MulExprCstNode): A.Expr | undefined {
    return this.fold(cst.children.operands?.map((o) => this.unaryExpr(o)), cst.children.ops);
  }

  private unaryExpr(cst: C.UnaryExprCstNode): A.Expr | undefined {
    const c = cst.children;
    if (c.Minus && c.unaryExpr) {
      const operand = this.unaryExpr(c.unaryExpr[0]);
      const span = this.nodeSpan(cst);
      if (!operand || !span) return undefined;
      // Fold `-3` into a literal so that negative numbers print and compare as numbers.
      if (operand.kind === 'number') return { kind: 'number', value: -operand.value, text: `-${operand.text}`, span };
      return { kind: 'unary', op: '-', operand, span };
    }
    return c.primary ? this.primary(c.primary[0]) : undefined;
  }

  private primary(cst: C.PrimaryCstNode): A.Expr | undefined {
    const c = cst.children;
    const span = this.nodeSpan(cst);
    if (!span) return undefined;
    if (c.NumberLiteral) {
      const tok = c.NumberLiteral[0];
      if (!this.real(tok)) return undefined;
      return { kind: 'number', value: Number(tok.image), text: tok.image, span };
    }
    if (c.expr) {
      const inner = this.expr(c.expr[0]);
      return inner ? { kind: 'paren', inner, span } : undefined;
    }
    if (c.keywordName) return { kind: 'ref', name: c.keywordName[0].image, span };
    const name = this.name(c.Identifier?.[0]);
    if (!name) return undefined;
    if (c.callArgs) {
      const args = (c.callArgs[0].children.arg ?? []).map((a): A.Arg | undefined => {
        const value = this.optExpr(a.children.expr?.[0]);
        const aspan = this.nodeSpan(a);
        if (!value || !aspan) return undefined;
        const argName = a.children.name ? this.name(a.children.name[0]) : undefined;
        return argName ? { name: argName, value, span: aspan } : { value, span: aspan };
      });
      return { kind: 'call', callee: name, args: args.filter(defined), span };
    }
    if (c.indexArgs) {
      const indices = (c.indexArgs[0].children.expr ?? []).map((e) => this.expr(e)).filter(defined);
      return { kind: 'index', target: name, indices, span };
    }
    return { kind: 'ref', name: name.text, span };
  }

  private fold(operands: (A.Expr | undefined)[] | undefined, ops: IToken[] | undefined): A.Expr | undefined {
    if (!operands || operands.length === 0 || operands.some((o) => o === undefined)) return undefined;
    let acc = operands[0] as A.Expr;
    for (let i = 1; i < operands.length; i++) {
      const right = operands[i] as A.Expr;
      const op = ops?.[i - 1];
      if (!op) return undefined;
      acc = { kind: 'binary', op: op.image as A.BinaryOp, left: acc, right, span: join(acc.span, right.span) };
    }
    return acc;
  }

  // ---- spans ----

  private name(tok: IToken | undefined): A.Name | undefined {
    if (!tok || !this.real(tok)) return undefined;
    return { text: tok.image, span: this.tokenSpan(tok) };
  }

  /** Tokens inserted by error recovery have no position and no text of the user's: treat them as absent. */
  private real(tok: IToken): boolean {
    return !tok.isInsertedInRecovery && Number.isFinite(tok.startOffset) && tok.image.length > 0;
  }

  // Positions are stored as small integers (`| 0`): Chevrotain's token fields also hold NaN, so the numbers read from
  // them are doubles, and a span built from doubles would box each of its six numbers on the heap.
  private tokenSpan(tok: IToken): A.Span {
    return {
      file: this.file,
      start: tok.startOffset | 0,
      end: ((tok.endOffset ?? tok.startOffset) + 1) | 0,
      line: (tok.startLine ?? 1) | 0,
      col: (tok.startColumn ?? 1) | 0,
      endLine: (tok.endLine ?? tok.startLine ?? 1) | 0,
      endCol: ((tok.endColumn ?? tok.startColumn ?? 1) + 1) | 0,
    };
  }

  private nodeSpan(node: CstNode): A.Span | undefined {
    const l = node.location;
    if (!l || !Number.isFinite(l.startOffset) || !Number.isFinite(l.endOffset ?? NaN)) return undefined;
    return {
      file: this.file,
      start: l.startOffset | 0,
      end: ((l.endOffset as number) + 1) | 0,
      line: (l.startLine ?? 1) | 0,
      col: (l.startColumn ?? 1) | 0,
      endLine: (l.endLine ?? l.startLine ?? 1) | 0,
      endCol: ((l.endColumn ?? l.startColumn ?? 1) + 1) | 0,
    };
  }
}

export function join(a: A.Span, b: A.Span): A.Span {
  return { file: a.file, start: a.start, end: b.end, line: a.line, col: a.col, endLine: b.endLine, endCol: b.endCol };
}

function defined<T>(x: T | undefined): x is T {
  return x !== undefined;
}
