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

import type { IrGraph, IrNode } from '../ir/ir.ts';
import { users } from '../ir/ir.ts';

export function fuse(g: IrGraph): IrGraph {
  const nodes = g.nodes.map((n) => ({ ...n, args: [...n.args], attrs: { ...n.attrs } }));
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
      src.attrs.act = n.attrs.fn as string;
      fold(n, src);
      continue;
    }
    if (n.op !== 'add') continue;
    const [a, b] = n.args.map((id) => byId.get(id));
    const takesResidual = (mm: IrNode | undefined, other: IrNode | undefined): boolean =>
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
      a.attrs.positions = b.attrs.kind as string;
      if (b.args[1]) a.args.push(b.args[1]);
      dropped.add(b);
      fold(n, a);
    }
  }
  return { ...g, nodes: nodes.filter((n) => !dropped.has(n)) };
}

function sameShape(a: IrNode, b: IrNode): boolean {
  return a.shape.length === b.shape.length && a.shape.every((p, i) => JSON.stringify([...p]) === JSON.stringify([...b.shape[i]]));
}
