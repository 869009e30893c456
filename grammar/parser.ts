// The .mdl parser: a Chevrotain CstParser whose rules are class fields, with error recovery on, so that one run can
// report every syntax error in a file and still hand a partial tree to the later stages.
//
// The grammar, top down:
//   file        := model
//   model       := 'model' Name '{' item* '}'
//   item        := dimDecl | inputDecl | decoderInput | maskDecl | scoreDecl | embedDecl | stackDecl | outputDecl
//                | lossDecl
//   dimDecl     := 'dim' dimDef (',' dimDef)*              dimDef := Name ('=' expr | '<=' expr)?
//   inputDecl   := 'input' Name ':' Name '[' expr (',' expr)* ']' (Name expr)*        e.g. `pad 0`, `of src`
//   decoderInput:= 'decoder_input' Name '=' expr
//   maskDecl    := 'mask' Name '=' expr
//   scoreDecl   := 'score' Name '=' expr (',' expr)*
//   embedDecl   := 'embed' option (',' option)*
//   stackDecl   := 'stack' Word Name(x) expr Name(on) Name ('(' option (',' option)* ')')? '{' layer* '}'   (Word: any name or keyword)
//   layer       := 'attention' Name option* | 'ffn' expr Name option* | 'norm' Name
//   outputDecl  := 'output' Name '=' expr
//   lossDecl    := 'loss' Name '=' expr                  e.g. `loss xent = cross_entropy(logits, labels = tgt)`
//   option      := Word ('=' | ':') expr+                   (values end where the next `key =` begins)
// Expressions, loosest first: `|`, `&`, prefix `!`, one comparison, `+ -`, `* / %`, prefix `-`, then
// numbers, names, calls `f(a, key = b)`, indexing `seg[q]` and parentheses.

import { CstParser, type CstNode, type IOrAlt, type IToken } from 'chevrotain';
import * as T from './tokens.ts';

class MdlParser extends CstParser {
  // Alternatives and gated options are built once and reused: built inline, every rule invocation would allocate
  // fresh closures, which dominates parsing time on large files.
  private readonly alts: IOrAlt<unknown>[][] = [];
  private readonly gated: { GATE: () => boolean; DEF: () => void }[] = [];

  constructor() {
    super(T.allTokens, { recoveryEnabled: true, maxLookahead: 3, nodeLocationTracking: 'full' });
    this.performSelfAnalysis();
  }

  file = this.RULE('file', () => {
    this.SUBRULE(this.model);
  });

  model = this.RULE('model', () => {
    this.CONSUME(T.Model);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.item));
    this.CONSUME(T.RCurly);
  });

  item = this.RULE('item', () => {
    this.OR((this.alts[1] ??= [
      { ALT: () => this.SUBRULE(this.dimDecl) },
      { ALT: () => this.SUBRULE(this.inputDecl) },
      { ALT: () => this.SUBRULE(this.decoderInputDecl) },
      { ALT: () => this.SUBRULE(this.maskDecl) },
      { ALT: () => this.SUBRULE(this.scoreDecl) },
      { ALT: () => this.SUBRULE(this.embedDecl) },
      { ALT: () => this.SUBRULE(this.stackDecl) },
      { ALT: () => this.SUBRULE(this.outputDecl) },
      { ALT: () => this.SUBRULE(this.lossDecl) },
    ]));
  });

  dimDecl = this.RULE('dimDecl', () => {
    this.CONSUME(T.Dim);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.dimDef) });
  });

  dimDef = this.RULE('dimDef', () => {
    this.CONSUME(T.Identifier);
    this.OPTION(() => {
      this.OR((this.alts[2] ??= [
        { ALT: () => { this.CONSUME(T.Equals); this.SUBRULE(this.expr, { LABEL: 'value' }); } },
        { ALT: () => { this.CONSUME(T.LessEq); this.SUBRULE2(this.expr, { LABEL: 'bound' }); } },
      ]));
    });
  });

  inputDecl = this.RULE('inputDecl', () => {
    this.CONSUME(T.Input);
    this.CONSUME(T.Identifier, { LABEL: 'name' });
    this.CONSUME(T.Colon);
    this.CONSUME2(T.Identifier, { LABEL: 'type' });
    this.CONSUME(T.LBracket);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expr, { LABEL: 'shape' }) });
    this.CONSUME(T.RBracket);
    this.MANY(() => this.SUBRULE(this.inputAttr));
  });

  inputAttr = this.RULE('inputAttr', () => {
    this.CONSUME(T.Identifier);
    this.SUBRULE(this.expr);
  });

  decoderInputDecl = this.RULE('decoderInputDecl', () => {
    this.CONSUME(T.DecoderInput);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  maskDecl = this.RULE('maskDecl', () => {
    this.CONSUME(T.Mask);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  scoreDecl = this.RULE('scoreDecl', () => {
    this.CONSUME(T.Score);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expr) });
  });

  embedDecl = this.RULE('embedDecl', () => {
    this.CONSUME(T.Embed);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.keyValue) });
  });

  stackDecl = this.RULE('stackDecl', () => {
    this.CONSUME(T.Stack);
    // Any word may name a stack (`stack model x 32 on ids`, as Llama's checkpoints call theirs): after `stack` a
    // name is expected, so a keyword there is unambiguous.
    this.CONSUME(T.Word, { LABEL: 'name' });
    this.CONSUME2(T.Identifier, { LABEL: 'times' });
    this.SUBRULE(this.expr, { LABEL: 'repeat' });
    this.CONSUME3(T.Identifier, { LABEL: 'on' });
    this.CONSUME4(T.Identifier, { LABEL: 'source' });
    this.OPTION(() => {
      this.CONSUME(T.LParen);
      this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.keyValue) });
      this.CONSUME(T.RParen);
    });
    this.CONSUME(T.LCurly);
    this.MANY(() => this.SUBRULE(this.layer));
    this.CONSUME(T.RCurly);
  });

  layer = this.RULE('layer', () => {
    this.OR((this.alts[3] ??= [
      { ALT: () => this.SUBRULE(this.attentionLayer) },
      { ALT: () => this.SUBRULE(this.ffnLayer) },
      { ALT: () => this.SUBRULE(this.normLayer) },
    ]));
  });

  attentionLayer = this.RULE('attentionLayer', () => {
    this.CONSUME(T.Attention);
    this.CONSUME(T.Identifier);
    this.SUBRULE(this.layerOptions);
  });

  ffnLayer = this.RULE('ffnLayer', () => {
    this.CONSUME(T.Ffn);
    this.SUBRULE(this.expr);
    this.CONSUME(T.Identifier);
    this.SUBRULE(this.layerOptions);
  });

  normLayer = this.RULE('normLayer', () => {
    this.CONSUME(T.Norm);
    this.CONSUME(T.Identifier);
  });

  /** Options of a layer line, separated by spaces or commas: `heads = 8 kv_heads = 2, mask = m`. */
  layerOptions = this.RULE('layerOptions', () => {
    this.MANY(
      (this.gated[0] ??= {
        GATE: () => this.startsOption(),
        DEF: () => {
          this.SUBRULE(this.keyValue);
          this.OPTION(() => this.CONSUME(T.Comma));
        },
      }),
    );
  });

  outputDecl = this.RULE('outputDecl', () => {
    this.CONSUME(T.Output);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  lossDecl = this.RULE('lossDecl', () => {
    this.CONSUME(T.Loss);
    this.CONSUME(T.Identifier);
    this.CONSUME(T.Equals);
    this.SUBRULE(this.expr);
  });

  keyValue = this.RULE('keyValue', () => {
    this.CONSUME(T.Word, { LABEL: 'key' });
    this.OR((this.alts[4] ??= [{ ALT: () => this.CONSUME(T.Equals) }, { ALT: () => this.CONSUME(T.Colon) }]));
    this.SUBRULE(this.expr, { LABEL: 'values' });
    // Further words belong to this value (`norm = pre layer`) until the next `key =` starts.
    this.MANY((this.gated[1] ??= { GATE: () => !this.startsOption(), DEF: () => void this.SUBRULE2(this.expr, { LABEL: 'values' }) }));
  });

  // ---- expressions ----

  expr = this.RULE('expr', () => {
    this.SUBRULE(this.andExpr, { LABEL: 'operands' });
    this.MANY(() => {
      this.CONSUME(T.Pipe, { LABEL: 'ops' });
      this.SUBRULE2(this.andExpr, { LABEL: 'operands' });
    });
  });

  andExpr = this.RULE('andExpr', () => {
    this.SUBRULE(this.notExpr, { LABEL: 'operands' });
    this.MANY(() => {
      this.CONSUME(T.Amp, { LABEL: 'ops' });
      this.SUBRULE2(this.notExpr, { LABEL: 'operands' });
    });
  });

  notExpr = this.RULE('notExpr', () => {
    this.OR((this.alts[5] ??= [
      { ALT: () => { this.CONSUME(T.Bang); this.SUBRULE(this.notExpr); } },
      { ALT: () => this.SUBRULE(this.cmpExpr) },
    ]));
  });

  cmpExpr = this.RULE('cmpExpr', () => {
    this.SUBRULE(this.addExpr, { LABEL: 'operands' });
    this.OPTION(() => {
      this.OR((this.alts[6] ??= [
        { ALT: () => this.CONSUME(T.LessEq, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(T.GreaterEq, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(T.EqEq, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(T.NotEq, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(T.Less, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(T.Greater, { LABEL: 'ops' }) },
      ]));
      this.SUBRULE2(this.addExpr, { LABEL: 'operands' });
    });
  });

  addExpr = this.RULE('addExpr', () => {
    this.SUBRULE(this.mulExpr, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR((this.alts[7] ??= [
        { ALT: () => this.CONSUME(T.Plus, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(T.Minus, { LABEL: 'ops' }) },
      ]));
      this.SUBRULE2(this.mulExpr, { LABEL: 'operands' });
    });
  });

  mulExpr = this.RULE('mulExpr', () => {
    this.SUBRULE(this.unaryExpr, { LABEL: 'operands' });
    this.MANY(() => {
      this.OR((this.alts[8] ??= [
        { ALT: () => this.CONSUME(T.Star, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(T.Slash, { LABEL: 'ops' }) },
        { ALT: () => this.CONSUME(T.Percent, { LABEL: 'ops' }) },
      ]));
      this.SUBRULE2(this.unaryExpr, { LABEL: 'operands' });
    });
  });

  unaryExpr = this.RULE('unaryExpr', () => {
    this.OR((this.alts[9] ??= [
      { ALT: () => { this.CONSUME(T.Minus); this.SUBRULE(this.unaryExpr); } },
      { ALT: () => this.SUBRULE(this.primary) },
    ]));
  });

  primary = this.RULE('primary', () => {
    this.OR((this.alts[10] ??= [
      { ALT: () => this.CONSUME(T.NumberLiteral) },
      { ALT: () => { this.CONSUME(T.LParen); this.SUBRULE(this.expr); this.CONSUME(T.RParen); } },
      // `model` opens only the file, so inside it the word can only be a name (a stack called `model`). Other
      // keywords stay out of expressions: an option's value ends where the next layer's keyword begins.
      { ALT: () => this.CONSUME(T.Model, { LABEL: 'keywordName' }) },
      {
        ALT: () => {
          this.CONSUME(T.Identifier);
          this.OPTION(() => {
            this.OR2((this.alts[11] ??= [
              { ALT: () => this.SUBRULE(this.callArgs) },
              { ALT: () => this.SUBRULE(this.indexArgs) },
            ]));
          });
        },
      },
    ]));
  });

  callArgs = this.RULE('callArgs', () => {
    this.CONSUME(T.LParen);
    this.MANY_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.arg) });
    this.CONSUME(T.RParen);
  });

  arg = this.RULE('arg', () => {
    this.OPTION(
      (this.gated[2] ??= {
        GATE: () => this.LA(2).tokenType === T.Equals,
        DEF: () => {
          this.CONSUME(T.Word, { LABEL: 'name' });
          this.CONSUME(T.Equals);
        },
      }),
    );
    this.SUBRULE(this.expr);
  });

  indexArgs = this.RULE('indexArgs', () => {
    this.CONSUME(T.LBracket);
    this.AT_LEAST_ONE_SEP({ SEP: T.Comma, DEF: () => this.SUBRULE(this.expr) });
    this.CONSUME(T.RBracket);
  });

  /** True when the next tokens are `key =` or `key :`, i.e. a new option begins. */
  private startsOption(): boolean {
    const a = this.LA(1);
    const b = this.LA(2);
    return isWord(a) && (b.tokenType === T.Equals || b.tokenType === T.Colon);
  }
}

function isWord(tok: IToken): boolean {
  return tok.tokenType === T.Identifier || (tok.tokenType.CATEGORIES ?? []).includes(T.Word);
}

/** One shared parser: Chevrotain parsers are built once (self-analysis is costly) and reset per input. */
export const parser = new MdlParser();

export type { CstNode };
