// The IR: a flat list of nodes in execution order, each producing one tensor with a symbolic shape.
//
// One node type serves every stage: building, checking, fusing and scheduling only change `op`, `args` and `attrs`.
// A value is named by its node id (`%dec0.attn.out`), so printed IR reads like the model and diffs stay small.

import type { Span } from '../lang/ast.ts';
import type { Poly } from '../check/sym.ts';

export type DType = 'f32' | 'i32';

export type AttrValue = string | number | boolean | string[] | number[];

/**
 * Ops, by group:
 * - data: `input` (a model input), `param` (a weight, by its safetensors name), `shift_right` (decoder input);
 * - embedding: `gather` (rows of a table by id), `positions` (sinusoidal table);
 * - elementwise: `add`, `act` (relu, gelu, silu), `swiglu` (silu(gate) * up over the two halves of the last axis);
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
  | 'norm'
  | 'matmul'
  | 'attention'
  | 'argmax'
  | 'labels'
  | 'cross_entropy'
  | 'cross_entropy_grad'
  | 'vjp';

export interface IrNode {
  id: string;
  op: Op;
  args: string[];
  attrs: Record<string, AttrValue>;
  shape: Poly[];
  dtype: DType;
  /** Where in the spec this node comes from (a layer line, an input declaration). */
  span?: Span;
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
