// The fusion pass: folds cheap elementwise work into the kernel that produces its input, so that it costs no extra
// pass over memory.
//
//   matmul → act            becomes  matmul {act}                (the FFN's up projection and its activation)
//   matmul → add(x, ·)      becomes  matmul {residual} (…, x)     (the residual add after o_proj and down_proj;
//                                                                  only for matmuls with a bias, whose args are x, w, bias)
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
   * consumer, and everything it now reads was defined before the consumer, so the order stays a valid schedule.
   */
  const fold = (consumer: IrNode, producer: IrNode) => {
    dropped.add(consumer);
    byId.delete(producer.id);
    producer.id = consumer.id;
    producer.span ??= consumer.span;
    byId.set(consumer.id, producer);
  };

  for (const n of nodes) {
    const src = byId.get(n.args[0]);
    if (n.op === 'act' && src?.op === 'matmul' && single(src.id) && !src.attrs.act && !src.attrs.residual) {
      src.attrs.act = n.attrs.fn as string;
      fold(n, src);
      continue;
    }
    if (n.op !== 'add') continue;
    const [a, b] = n.args.map((id) => byId.get(id));
    if (b?.op === 'matmul' && b.args.length === 3 && a && single(b.id) && !b.attrs.residual && sameShape(b, a)) {
      b.attrs.residual = true;
      b.args = [...b.args.slice(0, 3), a.id];
      fold(n, b);
    } else if (a?.op === 'matmul' && a.args.length === 3 && b && single(a.id) && !a.attrs.residual && sameShape(a, b)) {
      a.attrs.residual = true;
      a.args = [...a.args.slice(0, 3), b.id];
      fold(n, a);
    } else if (a?.op === 'gather' && b?.op === 'positions' && single(a.id) && single(b.id)) {
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
