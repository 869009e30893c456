// Generated from grammar/parser.ts by `npm run gen`. Do not edit.
import type { CstNode, ICstVisitor, IToken } from "chevrotain";

export interface FileCstNode extends CstNode {
  name: "file";
  children: FileCstChildren;
}

export type FileCstChildren = {
  model: ModelCstNode[];
};

export interface ModelCstNode extends CstNode {
  name: "model";
  children: ModelCstChildren;
}

export type ModelCstChildren = {
  Kw_model: IToken[];
  Identifier: IToken[];
  LCurly: IToken[];
  item?: ItemCstNode[];
  RCurly: IToken[];
};

export interface ItemCstNode extends CstNode {
  name: "item";
  children: ItemCstChildren;
}

export type ItemCstChildren = {
  dimDecl?: DimDeclCstNode[];
  inputDecl?: InputDeclCstNode[];
  decoderInputDecl?: DecoderInputDeclCstNode[];
  maskDecl?: MaskDeclCstNode[];
  scoreDecl?: ScoreDeclCstNode[];
  embedDecl?: EmbedDeclCstNode[];
  stackDecl?: StackDeclCstNode[];
  outputDecl?: OutputDeclCstNode[];
  lossDecl?: LossDeclCstNode[];
};

export interface DimDeclCstNode extends CstNode {
  name: "dimDecl";
  children: DimDeclCstChildren;
}

export type DimDeclCstChildren = {
  Kw_dim: IToken[];
  dimDef: DimDefCstNode[];
  Comma?: IToken[];
};

export interface DimDefCstNode extends CstNode {
  name: "dimDef";
  children: DimDefCstChildren;
}

export type DimDefCstChildren = {
  Identifier: IToken[];
  Equals?: IToken[];
  value?: ExprCstNode[];
  LessEq?: IToken[];
  bound?: ExprCstNode[];
};

export interface InputDeclCstNode extends CstNode {
  name: "inputDecl";
  children: InputDeclCstChildren;
}

export type InputDeclCstChildren = {
  Kw_input: IToken[];
  name: IToken[];
  Colon: IToken[];
  type: IToken[];
  LBracket: IToken[];
  shape: ExprCstNode[];
  Comma?: IToken[];
  RBracket: IToken[];
  inputAttr?: InputAttrCstNode[];
};

export interface InputAttrCstNode extends CstNode {
  name: "inputAttr";
  children: InputAttrCstChildren;
}

export type InputAttrCstChildren = {
  Identifier: IToken[];
  expr: ExprCstNode[];
};

export interface DecoderInputDeclCstNode extends CstNode {
  name: "decoderInputDecl";
  children: DecoderInputDeclCstChildren;
}

export type DecoderInputDeclCstChildren = {
  Kw_decoder_input: IToken[];
  Identifier: IToken[];
  Equals: IToken[];
  expr: ExprCstNode[];
};

export interface MaskDeclCstNode extends CstNode {
  name: "maskDecl";
  children: MaskDeclCstChildren;
}

export type MaskDeclCstChildren = {
  Kw_mask: IToken[];
  Identifier: IToken[];
  Equals: IToken[];
  expr: ExprCstNode[];
};

export interface ScoreDeclCstNode extends CstNode {
  name: "scoreDecl";
  children: ScoreDeclCstChildren;
}

export type ScoreDeclCstChildren = {
  Kw_score: IToken[];
  Identifier: IToken[];
  Equals: IToken[];
  expr: ExprCstNode[];
  Comma?: IToken[];
};

export interface EmbedDeclCstNode extends CstNode {
  name: "embedDecl";
  children: EmbedDeclCstChildren;
}

export type EmbedDeclCstChildren = {
  Kw_embed: IToken[];
  keyValue: KeyValueCstNode[];
  Comma?: IToken[];
};

export interface StackDeclCstNode extends CstNode {
  name: "stackDecl";
  children: StackDeclCstChildren;
}

export type StackDeclCstChildren = {
  Kw_stack: IToken[];
  name: IToken[];
  times: IToken[];
  repeat: ExprCstNode[];
  on: IToken[];
  source: IToken[];
  LParen?: IToken[];
  keyValue?: KeyValueCstNode[];
  Comma?: IToken[];
  RParen?: IToken[];
  LCurly: IToken[];
  layer?: LayerCstNode[];
  RCurly: IToken[];
};

export interface LayerCstNode extends CstNode {
  name: "layer";
  children: LayerCstChildren;
}

export type LayerCstChildren = {
  attentionLayer?: AttentionLayerCstNode[];
  ffnLayer?: FfnLayerCstNode[];
  normLayer?: NormLayerCstNode[];
};

export interface AttentionLayerCstNode extends CstNode {
  name: "attentionLayer";
  children: AttentionLayerCstChildren;
}

export type AttentionLayerCstChildren = {
  Kw_attention: IToken[];
  Identifier: IToken[];
  layerOptions: LayerOptionsCstNode[];
};

export interface FfnLayerCstNode extends CstNode {
  name: "ffnLayer";
  children: FfnLayerCstChildren;
}

export type FfnLayerCstChildren = {
  Kw_ffn: IToken[];
  expr: ExprCstNode[];
  Identifier: IToken[];
  layerOptions: LayerOptionsCstNode[];
};

export interface NormLayerCstNode extends CstNode {
  name: "normLayer";
  children: NormLayerCstChildren;
}

export type NormLayerCstChildren = {
  Kw_norm: IToken[];
  Identifier: IToken[];
};

export interface LayerOptionsCstNode extends CstNode {
  name: "layerOptions";
  children: LayerOptionsCstChildren;
}

export type LayerOptionsCstChildren = {
  keyValue?: KeyValueCstNode[];
  Comma?: IToken[];
};

export interface OutputDeclCstNode extends CstNode {
  name: "outputDecl";
  children: OutputDeclCstChildren;
}

export type OutputDeclCstChildren = {
  Kw_output: IToken[];
  Identifier: IToken[];
  Equals: IToken[];
  expr: ExprCstNode[];
};

export interface LossDeclCstNode extends CstNode {
  name: "lossDecl";
  children: LossDeclCstChildren;
}

export type LossDeclCstChildren = {
  Kw_loss: IToken[];
  Identifier: IToken[];
  Equals: IToken[];
  expr: ExprCstNode[];
};

export interface KeyValueCstNode extends CstNode {
  name: "keyValue";
  children: KeyValueCstChildren;
}

export type KeyValueCstChildren = {
  key: IToken[];
  Equals?: IToken[];
  Colon?: IToken[];
  values: (ExprCstNode)[];
};

export interface ExprCstNode extends CstNode {
  name: "expr";
  children: ExprCstChildren;
}

export type ExprCstChildren = {
  operands: (AndExprCstNode)[];
  ops?: IToken[];
};

export interface AndExprCstNode extends CstNode {
  name: "andExpr";
  children: AndExprCstChildren;
}

export type AndExprCstChildren = {
  operands: (NotExprCstNode)[];
  ops?: IToken[];
};

export interface NotExprCstNode extends CstNode {
  name: "notExpr";
  children: NotExprCstChildren;
}

export type NotExprCstChildren = {
  Bang?: IToken[];
  notExpr?: NotExprCstNode[];
  cmpExpr?: CmpExprCstNode[];
};

export interface CmpExprCstNode extends CstNode {
  name: "cmpExpr";
  children: CmpExprCstChildren;
}

export type CmpExprCstChildren = {
  operands: (AddExprCstNode)[];
  ops?: (IToken)[];
};

export interface AddExprCstNode extends CstNode {
  name: "addExpr";
  children: AddExprCstChildren;
}

export type AddExprCstChildren = {
  operands: (MulExprCstNode)[];
  ops?: (IToken)[];
};

export interface MulExprCstNode extends CstNode {
  name: "mulExpr";
  children: MulExprCstChildren;
}

export type MulExprCstChildren = {
  operands: (UnaryExprCstNode)[];
  ops?: (IToken)[];
};

export interface UnaryExprCstNode extends CstNode {
  name: "unaryExpr";
  children: UnaryExprCstChildren;
}

export type UnaryExprCstChildren = {
  Minus?: IToken[];
  unaryExpr?: UnaryExprCstNode[];
  primary?: PrimaryCstNode[];
};

export interface PrimaryCstNode extends CstNode {
  name: "primary";
  children: PrimaryCstChildren;
}

export type PrimaryCstChildren = {
  NumberLiteral?: IToken[];
  LParen?: IToken[];
  expr?: ExprCstNode[];
  RParen?: IToken[];
  keywordName?: IToken[];
  Identifier?: IToken[];
  callArgs?: CallArgsCstNode[];
  indexArgs?: IndexArgsCstNode[];
};

export interface CallArgsCstNode extends CstNode {
  name: "callArgs";
  children: CallArgsCstChildren;
}

export type CallArgsCstChildren = {
  LParen: IToken[];
  arg?: ArgCstNode[];
  Comma?: IToken[];
  RParen: IToken[];
};

export interface ArgCstNode extends CstNode {
  name: "arg";
  children: ArgCstChildren;
}

export type ArgCstChildren = {
  name?: IToken[];
  Equals?: IToken[];
  expr: ExprCstNode[];
};

export interface IndexArgsCstNode extends CstNode {
  name: "indexArgs";
  children: IndexArgsCstChildren;
}

export type IndexArgsCstChildren = {
  LBracket: IToken[];
  expr: ExprCstNode[];
  Comma?: IToken[];
  RBracket: IToken[];
};
