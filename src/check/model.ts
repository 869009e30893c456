// The checked model: a spec with every name resolved, every dim evaluated or kept symbolic, and every layer's
// shape known. This is what the IR builder consumes; nothing downstream looks at the AST again except masks, whose
// expressions are lowered by src/masks with the scope built here.

import type { Expr, Span } from '../lang/ast.ts';
import type { Policy } from '../masks/policy.ts';
import type { Poly } from './sym.ts';

export interface DimInfo {
  name: string;
  /** concrete: a number; symbolic: known at run time (B, T); derived: computed from other dims. */
  kind: 'concrete' | 'symbolic' | 'derived';
  value: Poly;
  /** The concrete value when there is one. */
  concrete?: number;
  /** Upper bound of a symbolic dim (`T <= 4096`), used to size buffers and check adapter limits. */
  bound?: number;
  span: Span;
}

export interface InputInfo {
  name: string;
  kind: 'tokens' | 'lengths' | 'segments' | 'features';
  shape: Poly[];
  /** The dim along which positions run (T for `tokens[B, T]`); for `lengths`, the axis the lengths count. */
  axis?: string;
  pad?: number;
  bos?: number;
  eos?: number;
  /** Width of a features input's vectors. */
  width?: Poly;
  /** Set for a decoder input: built from this tokens input by shifting right. */
  shiftedFrom?: string;
  span: Span;
}

export interface MaskInfo {
  name: string;
  expr: Expr;
  span: Span;
  /** The lowered, simplified policy (set by the mask check; absent when the mask has errors). */
  policy?: Policy;
}

export type ScoreMod =
  | { kind: 'alibi'; maxBias: number; form: AlibiForm }
  | { kind: 'softcap'; cap: number }
  | { kind: 'relative_bias'; buckets: number; maxDistance: number; bidirectional: boolean; shared: boolean };

/**
 * `distance`: −slope·|k − q| (with the bottom-right shift q + Lk − Lq), as the ALiBi paper; `key`: +slope·k, as BLOOM.
 * Under a causal mask the two differ by a constant per query row, so the softmax is the same.
 */
export type AlibiForm = 'distance' | 'key';

export interface ScoreInfo {
  name: string;
  mods: ScoreMod[];
  span: Span;
}

/** `gelu` is the tanh approximation (GPT-2's gelu_new); `gelu_erf` is the exact x·Φ(x) (BERT, BART, Whisper). */
export type Activation = 'relu' | 'gelu' | 'gelu_erf' | 'silu' | 'swiglu' | 'geglu';
/**
 * Activations that multiply an activated gate projection by an up projection: `swiglu` silu(gate)·up (Llama),
 * `geglu` gelu(gate)·up with the tanh GELU (T5 v1.1's gated-gelu).
 */
export type GatedActivation = 'swiglu' | 'geglu';

export function isGated(a: Activation): a is GatedActivation {
  return a === 'swiglu' || a === 'geglu';
}
/** Activations applied to one value elementwise (an `act` node, a matmul epilogue). */
export type ElementwiseActivation = Exclude<Activation, GatedActivation>;
export type NormType = 'layer' | 'rms';

export interface AttentionInfo {
  kind: 'attention';
  mode: 'self' | 'cross';
  heads: number;
  kvHeads: number;
  headDim: number;
  /** A named mask, or an inline expression (named `<stack>.<layer>.mask`). */
  mask?: MaskInfo;
  score?: ScoreInfo;
  /** Cross-attention: the stack or features input the keys and values come from. */
  memory?: string;
  /** Dims of the query and key axes (T and S for decoder cross-attention to an encoder over S). */
  queryAxis: string;
  keyAxis: string;
  /** Biases on the q, k, v and o projections (`bias =`, default the stack's). */
  bias: boolean;
  /** Multiplies q·k before masking and the score modifiers (`scale =`, default 1/√head_dim). */
  scale: number;
  span: Span;
}

export interface FfnInfo {
  kind: 'ffn';
  width: number;
  activation: Activation;
  /** Biases on the ffn's projections (`bias =`, default the stack's). */
  bias: boolean;
  span: Span;
}

export interface NormInfo {
  kind: 'norm';
  type: NormType;
  span: Span;
}

export type LayerInfo = AttentionInfo | FfnInfo | NormInfo;

export interface StackInfo {
  name: string;
  repeat: number;
  /** The input (tokens, decoder input or features) the stack runs over. */
  source: string;
  axis: string;
  width: number;
  /** Where the norm sits around each sublayer; `none` means only explicit `norm` layers. */
  norm: { place: 'pre' | 'post' | 'none'; type: NormType };
  /** ε of every norm of the stack (`eps =`, default 1e-5). */
  eps: number;
  /** Biases of the stack's projections and layer norms (`bias =`, default true); a sublayer may override its own. */
  bias: boolean;
  /** A norm of the embedded input before the first layer (`embed_norm =`, BART's layernorm_embedding). */
  embedNorm?: NormType;
  /**
   * The stack's own learned position table (`positions = learned(MAX, offset = K)`), in place of the model-wide
   * `embed … positions:`; its parameter is `STACK.positions.weight` (BART's encoder and decoder each have one).
   */
  positions?: { maxPositions: number; offset: number };
  layers: LayerInfo[];
  span: Span;
}

export interface EmbedInfo {
  vocab: number;
  width: number;
  positions: 'learned' | 'sinusoidal' | 'rotary' | 'none';
  /** Table length of learned positions. */
  maxPositions?: number;
  /** Multiplies the token embedding (`scale =`, default √width). */
  scale: number;
  /** Learned positions: position p reads row p + offset of the table (`offset =`, default 0; BART uses 2). */
  positionOffset: number;
  /** Sinusoidal positions: sin and cos interleaved per frequency (default) or all sines then all cosines. */
  sinusoidalLayout: SinusoidalLayout;
  rotary: RotaryInfo;
  span: Span;
}

export type SinusoidalLayout = 'interleaved' | 'concatenated';

/** Rotary positions: which dims pair up, the base of the frequencies, and how many dims of a head rotate. */
export interface RotaryInfo {
  /** `pairs`: dims (2i, 2i+1) (GPT-J); `halves`: dims (i, i + n/2) (GPT-NeoX, Llama). */
  style: 'pairs' | 'halves';
  theta: number;
  /** The share of each head's dims that rotates (the first ones); the rest pass through. */
  fraction: number;
}

export interface OutputInfo {
  name: string;
  from: string;
  vocab: number;
  tied: boolean;
  /** A bias on the logits (`bias = true`, default false): `lm_head.bias`, BART's and Marian's final_logits_bias. */
  bias: boolean;
  span: Span;
}

/** `loss NAME = cross_entropy(OUTPUT, labels = …, count = …)`: mean cross-entropy over the counted positions. */
export interface LossInfo {
  name: string;
  /** The output whose logits are scored. */
  output: string;
  /** The tokens input holding the labels. */
  labels: string;
  /** `next(ids)`: position q is labelled ids[q + 1]; the last position has no label. */
  next: boolean;
  /** `next(ids, within = docs)`: a position whose next token starts another document has no label. */
  within?: string;
  /** The labels' pad id, when they declare one: a position labelled with it never counts. */
  pad?: number;
  /** Further positions to count: a predicate over b and q (k = q, h = 0 when evaluated). */
  count?: Policy;
  span: Span;
}

export interface CheckedModel {
  name: string;
  dims: Map<string, DimInfo>;
  inputs: Map<string, InputInfo>;
  masks: Map<string, MaskInfo>;
  scores: Map<string, ScoreInfo>;
  embed?: EmbedInfo;
  stacks: StackInfo[];
  output?: OutputInfo;
  loss?: LossInfo;
  /** Model width (the embedding width). */
  dModel?: number;
}
