// The fusion pass: folds cheap elementwise work into the kernel that produces its input, so that it costs no extra
// pass over memory.
//
//   matmul → act            becomes  matmul {act}                (the FFN's up projection and its activation)
//   matmul → add(x, ·)      becomes  matmul {residual} (…, x)     (the residual add after o_proj and down_proj: the
//                                                                  residual is appended as the last argument, after
//                                                                  the bias when there is one)
//   gather → add(·, positions) becomes gather {positions}          (token embedding plus position embedding)
//
// A producer is fused only when the consumer is its single user, so no value another node needs disappears.
//
// Then the projections of one attention site that read the same input (q, k and v of self-attention; k and v of
// cross-attention) are packed: each gets `pack = [its siblings' ids]`, and the schedule computes them in one matmul
// over the concatenated weights, reading the input once and writing each projection to its own buffer. They stay
// separate nodes, each with its own value, because the attention kernel reads Q, K and V as separate tensors.

import type { IrGraph, IrNode, NodeOf } from '../ir/ir.ts';
import { copyNode, users } from '../ir/ir.ts';

export function fuse(g: IrGraph): IrGraph {
  const nodes = g.nodes.map(copyNode);
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const uses = users({ ...g, nodes });
  const single = (id: string) => (uses.get(id) ?? []).length === 1 && !g.outputs.includes(id);
  const dropped = new Set<IrNode>();

  /**
   * The consumer disappears and the producer takes over its id: later nodes already read that id, and the only
   * reader of the producer's old id was the consumer itself. The producer sits earlier in the list than the
   * consumer, and the values it starts reading are checked to be defined before it, so the order stays a valid
   * schedule.
   */
  const fold = (consumer: IrNode, producer: IrNode) => {
    dropped.add(consumer);
    byId.delete(producer.id);
    producer.id = consumer.id;
    producer.span ??= consumer.span;
    byId.set(consumer.id, producer);
  };

  const order = new Map(nodes.map((n, i) => [n, i]));
  /** The producer stays where it is, so a value it starts reading must already be defined there. */
  const definedBefore = (id: string, producer: IrNode) => order.get(byId.get(id)!)! < order.get(producer)!;

  for (const n of nodes) {
    const src = byId.get(n.args[0]);
    if (n.op === 'act' && src?.op === 'matmul' && single(src.id) && !src.attrs.act && !src.attrs.residual) {
      src.attrs.act = n.attrs.fn;
      fold(n, src);
      continue;
    }
    if (n.op !== 'add') continue;
    const [a, b] = n.args.map((id) => byId.get(id));
    const takesResidual = (mm: IrNode | undefined, other: IrNode | undefined): mm is NodeOf<'matmul'> =>
      mm?.op === 'matmul' && !!other && single(mm.id) && !mm.attrs.residual && sameShape(mm, other) && definedBefore(other.id, mm);
    if (a && b && takesResidual(b, a)) {
      b.attrs.residual = true;
      b.args = [...b.args, a.id];
      fold(n, b);
    } else if (a && b && takesResidual(a, b)) {
      a.attrs.residual = true;
      a.args = [...a.args, b.id];
      fold(n, a);
    } else if (a?.op === 'gather' && b?.op === 'positions' && single(a.id) && single(b.id) && b.args.slice(1).every((id) => definedBefore(id, a))) {
      a.attrs.positions = b.attrs.kind;
      if (b.attrs.layout) a.attrs.layout = b.attrs.layout;
      if (b.attrs.offset !== undefined) a.attrs.offset = b.attrs.offset;
      if (b.args[1]) a.args.push(b.args[1]);
      dropped.add(b);
      fold(n, a);
    }
  }
  const kept = nodes.filter((n) => !dropped.has(n));
  packProjections(kept, g.outputs);
  return { ...g, nodes: kept };
}

function packProjections(nodes: IrNode[], outputs: string[]): void {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const order = new Map(nodes.map((n, i) => [n.id, i]));
  const uses = users({ model: '', dims: [], nodes, outputs });
  for (const att of nodes.filter((n) => n.op === 'attention')) {
    const byInput = new Map<string, NodeOf<'matmul'>[]>();
    for (const id of new Set(att.args)) {
      const p = byId.get(id);
      const onlyHere = (uses.get(id) ?? []).length === 1 && !outputs.includes(id);
      if (p?.op !== 'matmul' || !p.attrs.transpose_b || p.attrs.act || p.attrs.residual || p.attrs.pack || !onlyHere) continue;
      byInput.set(p.args[0], [...(byInput.get(p.args[0]) ?? []), p]);
    }
    for (const group of byInput.values()) {
      // Packed weights concatenate along the output axis, so every member needs a bias or none does.
      if (group.length < 2 || new Set(group.map((p) => p.args.length)).size !== 1) continue;
      const ids = group.sort((a, b) => order.get(a.id)! - order.get(b.id)!).map((p) => p.id);
      for (const p of group) p.attrs.pack = ids;
    }
  }
}

function sameShape(a: IrNode, b: IrNode): boolean {
  return a.shape.length === b.shape.length && a.shape.every((p, i) => JSON.stringify([...p]) === JSON.stringify([...b.shape[i]]));
}
