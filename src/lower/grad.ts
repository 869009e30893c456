// Reverse mode: the backward graph of a training graph (src/ir/training.ts), built as more IR nodes after the
// forward ones, so the verifier, the printer (`mdl dump FILE --stage grad`) and the CPU reference all read it.
//
// The seed is the loss's gradient with respect to the logits (`cross_entropy_grad`: softmax minus the one-hot
// label, over the number of counted positions). Then, walking the forward nodes from last to first, a node whose
// gradient is known gets one `vjp` node per argument that leads to a parameter:
//
//   %d:x/decoder.layers.0.ffn.up_proj = vjp(%x, %w, %b, %d:decoder.layers.0.ffn.up_proj) {of = …, wrt = 0}
//
// A value read by several nodes (the residual stream, a tied token table read by the embedding and the output
// projection, the encoder output read by every cross-attention) receives one contribution per reader; they are
// summed by `add` nodes in a fixed order (latest reader first), so the result is deterministic. The gradient of
// a value is named `%d:` + its name (a colon, which no spec name contains); the graph returns the loss, then the
// gradient of every parameter in the order the parameters are declared.

import type { IrGraph, IrNode } from '../ir/ir.ts';
import { assertValidIr } from '../ir/verify.ts';

/** Argument positions a gradient flows into, by op (token ids, shifted tokens and sinusoids have none). */
const DIFFERENTIABLE: Partial<Record<IrNode['op'], number[]>> = {
  gather: [0, 2],
  positions: [1],
  add: [0, 1],
  act: [0],
  swiglu: [0, 1],
  geglu: [0, 1],
  norm: [0, 1, 2],
  matmul: [0, 1, 2, 3],
  attention: [0, 1, 2, 3],
};

export interface GradGraph extends IrGraph {
  /** The loss node's id. */
  loss: string;
  /** Parameter name → the id of its gradient. */
  grads: Map<string, string>;
}

export function buildGradGraph(training: IrGraph): GradGraph {
  const lossId = training.outputs[0];
  const lossNode = training.nodes.find((n) => n.id === lossId);
  if (!lossNode || lossNode.op !== 'cross_entropy') throw new Error('the backward graph starts from a cross_entropy loss');
  const [logits, labels] = lossNode.args;
  const nodes: IrNode[] = [...training.nodes];
  const byId = new Map(nodes.map((n) => [n.id, n]));

  // Which values depend on a parameter through differentiable arguments: only those need a gradient.
  const needs = new Set<string>();
  for (const n of training.nodes) {
    if (n.op === 'param' || (DIFFERENTIABLE[n.op] ?? []).some((i) => n.args[i] !== undefined && needs.has(n.args[i]))) needs.add(n.id);
  }

  const contributions = new Map<string, IrNode[]>();
  const contribute = (to: string, node: IrNode) => {
    nodes.push(node);
    contributions.set(to, [...(contributions.get(to) ?? []), node]);
  };
  const logitsNode = byId.get(logits)!;
  contribute(logits, { id: `%d:${logits.slice(1)}/${lossId.slice(1)}`, op: 'cross_entropy_grad', args: [logits, labels], attrs: {}, shape: logitsNode.shape, dtype: 'f32', span: lossNode.span });

  /** The gradient of `id`: its one contribution renamed, or the contributions summed. */
  const gradient = (id: string): string | undefined => {
    const parts = contributions.get(id);
    if (!parts) return undefined;
    const name = `%d:${id.slice(1)}`;
    if (parts.length === 1) {
      parts[0].id = name; // nothing reads a contribution before its value is totalled here
      return name;
    }
    let acc = parts[0].id;
    for (let i = 1; i < parts.length; i++) {
      const id2 = i === parts.length - 1 ? name : `${name}.sum${i}`;
      nodes.push({ id: id2, op: 'add', args: [acc, parts[i].id], attrs: {}, shape: parts[0].shape, dtype: 'f32' });
      acc = id2;
    }
    return name;
  };

  const grads = new Map<string, string>();
  for (let i = training.nodes.length - 1; i >= 0; i--) {
    const n = training.nodes[i];
    if (n.id === lossId || n.op === 'labels') continue;
    const upstream = gradient(n.id);
    if (!upstream) continue;
    if (n.op === 'param') {
      grads.set(n.id.slice(1), upstream);
      continue;
    }
    for (const wrt of DIFFERENTIABLE[n.op] ?? []) {
      const arg = n.args[wrt];
      if (arg === undefined || !needs.has(arg)) continue;
      const of = byId.get(arg)!;
      contribute(arg, { id: `%d:${arg.slice(1)}/${n.id.slice(1)}`, op: 'vjp', args: [...n.args, upstream], attrs: { of: n.id, op: n.op, wrt }, shape: of.shape, dtype: 'f32', span: n.span });
    }
  }
  const params = training.nodes.filter((n) => n.op === 'param').map((n) => n.id.slice(1));
  const ordered = new Map(params.filter((p) => grads.has(p)).map((p) => [p, grads.get(p)!]));
  const g: GradGraph = { ...training, nodes, outputs: [lossId, ...ordered.values()], loss: lossId, grads: ordered };
  assertValidIr(g, 'grad');
  return g;
}
