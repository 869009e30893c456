// The IR: a flat list of nodes in execution order, each producing one tensor with a symbolic shape.
//
// One node type serves every stage: building, checking, fusing and scheduling only change `op`, `args` and `attrs`;
// the attributes are typed per op (`OpAttrs`).
// A value is named by its node id (`%dec0.attn.out`), so printed IR reads like the model and diffs stay small.

import type { Span } from '../lang/ast.ts';
import type { ElementwiseActivation, NormType, SinusoidalLayout } from '../check/model.ts';
import type { Poly } from '../check/sym.ts';

export type DType = 'f32' | 'i32';

export type AttrValue = string | number | boolean | string[] | number[];

/**
 * Ops, by group:
 * - data: `input` (a model input), `param` (a weight, by its safetensors name), `shift_right` (decoder input);
 * - embedding: `gather` (rows of a table by id), `positions` (sinusoidal table);
 * - elementwise: `add`, `act` (relu, gelu, gelu_erf, silu), `swiglu` and `geglu` (silu(gate) * up, gelu(gate) * up);
 * - `norm` (layer or rms over the last axis);
 * - `matmul` (`x[..., K] @ w[K, N]`, optional bias/activation/residual epilogue after fusion; `transpose_b` reads
 *   `w` as `[N, K]`, as a tied output projection does);
 * - `attention` (fused masked attention over per-head slices of q, k, v; the mask is referenced by name);
 * - `argmax` (over the last axis);
 * - training (built only when asked, see training.ts and src/lower/grad.ts): `labels` (the label id of every
 *   position, -1 where it does not count), `cross_entropy` (the mean loss over counted positions, a scalar),
 *   `cross_entropy_grad` (its gradient with respect to the logits), `vjp` (the gradient of one forward node with
 *   respect to its argument `wrt`: args are the forward node's arguments, then the gradient of its output).
 */
export type Op =
  | 'input'
  | 'param'
  | 'shift_right'
  | 'gather'
  | 'positions'
  | 'add'
  | 'act'
  | 'swiglu'
  | 'geglu'
  | 'norm'
  | 'matmul'
  | 'attention'
  | 'argmax'
  | 'labels'
  | 'cross_entropy'
  | 'cross_entropy_grad'
  | 'vjp';

/** Attributes of each op. Every consumer narrows on `op` and reads these fields typed; nothing is cast. */
export interface OpAttrs {
  input: { name: string; kind: 'tokens' | 'lengths' | 'segments' | 'features' };
  param: Record<string, never>;
  shift_right: { bos: number; pad: number; eos?: number };
  /** `positions` (and the position attributes) are set by fusion when the position embedding is folded in. */
  gather: { scale: number; positions?: PositionKind } & PositionOptions;
  positions: { kind: PositionKind } & PositionOptions;
  add: Record<string, never>;
  act: { fn: ElementwiseActivation };
  swiglu: Record<string, never>;
  geglu: Record<string, never>;
  norm: { type: NormType; eps: number };
  /** `act`, `residual` and `pack` are set by fusion. */
  matmul: { transpose_b: boolean; act?: ElementwiseActivation; residual?: boolean; pack?: string[] };
  attention: AttentionAttrs;
  argmax: Record<string, never>;
  labels: { loss: string; pad: number; next: boolean; count: boolean };
  cross_entropy: Record<string, never>;
  cross_entropy_grad: Record<string, never>;
  /** The gradient of forward node `of` (an `op` node) with respect to its argument number `wrt`. */
  vjp: { of: string; op: Op; wrt: number };
}

export type PositionKind = 'sinusoidal' | 'learned';

/** Sinusoidal positions: the layout of sin and cos; learned positions: the table row of position 0. */
export interface PositionOptions {
  layout?: SinusoidalLayout;
  offset?: number;
}

/** Rotary positions of an attention site: pairing style, frequency base and the rotated dims of each head. */
export interface RopeAttrs {
  rope_style: 'pairs' | 'halves';
  rope_theta: number;
  rope_dims: number;
}


interface AttentionCore {
  heads: number;
  kv_heads: number;
  head_dim: number;
  /** The mask's name ('' for none) and the score's name ('' for none), looked up in the checked model. */
  mask: string;
  score: string;
  /** Multiplies q·k before masking and the score modifiers. */
  scale: number;
  /** The score's modifiers with every option written out, for reading the IR (the kernels take them from `score`). */
  modifiers?: string[];
  rope: boolean;
  query_axis: string;
  key_axis: string;
}

/** An attention site's attributes; the rotary ones are present exactly when `rope` is set. */
export type AttentionAttrs = AttentionCore & Partial<RopeAttrs>;

/** How an attention site rotates its queries and keys, or undefined without rotary positions. */
export interface Rotary {
  style: 'pairs' | 'halves';
  theta: number;
  /** Dims of each head that rotate (the first ones, an even count); the rest pass through unchanged. */
  dims: number;
}

export function rotaryOf(a: AttentionAttrs): Rotary | undefined {
  if (!a.rope) return undefined;
  return { style: a.rope_style ?? 'pairs', theta: a.rope_theta ?? 10000, dims: a.rope_dims ?? a.head_dim };
}

interface NodeFields {
  id: string;
  args: string[];
  shape: Poly[];
  dtype: DType;
  /** Where in the spec this node comes from (a layer line, an input declaration). */
  span?: Span;
}

/** One node of an op, with that op's attributes. */
export type NodeOf<O extends Op> = NodeFields & { op: O; attrs: OpAttrs[O] };

/** A node: a discriminated union on `op`, so narrowing on the op types its attributes. */
export type IrNode = { [O in Op]: NodeOf<O> }[Op];

/**
 * Builds a node of one op. TypeScript cannot see that `{ op: O, attrs: OpAttrs[O] }` is a member of the union for a
 * generic O, so this is the one place that says so.
 */
export function irNode<O extends Op>(op: O, fields: NodeFields & { attrs: OpAttrs[O] }): IrNode {
  return { ...fields, op } as NodeOf<Op> as IrNode;
}

/** A copy whose args and attrs may be changed without touching the original. */
export function copyNode(n: IrNode): IrNode {
  return { ...n, args: [...n.args], attrs: { ...n.attrs } } as IrNode;
}

/** Every attribute of a node as key/value pairs, for printing and hashing. */
export function attrEntries(n: IrNode): [string, AttrValue | undefined][] {
  return Object.entries(n.attrs);
}

export interface IrGraph {
  model: string;
  /** Symbolic dims with their upper bounds, in declaration order. */
  dims: { name: string; bound?: number }[];
  nodes: IrNode[];
  /** Ids of the graph's results (logits, and argmax when asked). */
  outputs: string[];
}

/** The ids that read a node's value. */
export function users(g: IrGraph): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const n of g.nodes) for (const a of n.args) out.set(a, [...(out.get(a) ?? []), n.id]);
  return out;
}
