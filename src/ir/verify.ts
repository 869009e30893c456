// The IR verifier, run after building and after every pass: a pass that breaks an invariant fails here, at the
// pass, rather than as a wrong number in a kernel three stages later.
//
// Invariants: ids are unique; every argument is defined earlier (the node list is a valid schedule); arities and
// ranks match each op; shapes agree where ops combine tensors; outputs exist.

import { sym } from '../check/sym.ts';
import type { IrGraph, IrNode } from './ir.ts';

class IrVerifyError extends Error {}

const ARITY: Record<IrNode['op'], [number, number]> = {
  input: [0, 0],
  param: [0, 0],
  shift_right: [1, 1],
  gather: [2, 3],
  positions: [1, 2],
  add: [2, 2],
  act: [1, 1],
  swiglu: [2, 2],
  geglu: [2, 2],
  norm: [2, 3],
  matmul: [2, 4],
  attention: [3, 4],
  argmax: [1, 1],
  labels: [1, 2],
  cross_entropy: [2, 2],
  cross_entropy_grad: [2, 2],
  vjp: [2, 6],
};

/** Returns the list of problems (empty when the graph is sound). */
export function verifyIr(g: IrGraph): string[] {
  const problems: string[] = [];
  const defined = new Map<string, IrNode>();
  // No closures per node: this runs after every pass over graphs of tens of thousands of nodes.
  for (const n of g.nodes) {
    if (defined.has(n.id)) problems.push(`${n.id} (${n.op}): id defined twice`);
    const [lo, hi] = ARITY[n.op] ?? [0, -1];
    if (n.args.length < lo || n.args.length > hi) problems.push(`${n.id} (${n.op}): expects ${lo === hi ? lo : `${lo}..${hi}`} arguments, has ${n.args.length}`);
    const args: IrNode[] = [];
    for (const a of n.args) {
      const d = defined.get(a);
      if (d) args.push(d);
      else problems.push(`${n.id} (${n.op}): argument ${a} is not defined before use`);
    }
    if (args.length === n.args.length) checkShapes(n, args, problems);
    defined.set(n.id, n);
  }
  for (const o of g.outputs) if (!defined.has(o)) problems.push(`output ${o} is not defined`);
  return problems;
}

export function assertValidIr(g: IrGraph, stage: string): void {
  const problems = verifyIr(g);
  if (problems.length) throw new IrVerifyError(`IR invalid after ${stage}:\n  ${problems.join('\n  ')}`);
}

const last = (x: IrNode) => x.shape[x.shape.length - 1];
const eq = (a: IrNode['shape'][number] | undefined, b: IrNode['shape'][number] | undefined) => !!a && !!b && sym.equal(a, b);

function checkShapes(n: IrNode, args: IrNode[], problems: string[]): void {
  const say = (msg: string): void => void problems.push(`${n.id} (${n.op}): ${msg}`);
  switch (n.op) {
    case 'matmul': {
      const [x, w] = args;
      if (w.shape.length !== 2) return say('weight must be 2-D');
      const k = n.attrs.transpose_b ? w.shape[1] : w.shape[0];
      const out = n.attrs.transpose_b ? w.shape[0] : w.shape[1];
      if (!eq(last(x), k)) say(`inner dims differ: ${sym.print(last(x))} vs ${sym.print(k)}`);
      if (!eq(last(n), out)) say(`output width ${sym.print(last(n))} is not the weight's ${sym.print(out)}`);
      if (args[2] && !eq(last(args[2]), out)) say('bias width differs from the output width');
      if (args[3] && args[3].shape.map(sym.print).join() !== n.shape.map(sym.print).join()) say('residual shape differs from the output shape');
      return;
    }
    case 'add': {
      const [a, b] = args;
      // Broadcast of a [T, D] position table over [B, T, D] is the only broadcast the IR has.
      const tail = a.shape.slice(a.shape.length - b.shape.length);
      if (tail.map(sym.print).join() !== b.shape.map(sym.print).join()) say('operands do not broadcast');
      return;
    }
    case 'norm':
      if (!eq(last(args[0]), args[1].shape[0])) say('scale width differs from the normalised axis');
      return;
    case 'attention': {
      const [q, k, v] = args;
      const { heads, kv_heads: kvHeads, head_dim: hd } = n.attrs;
      if (sym.asConstant(last(q)) !== heads * hd) say('query width is not heads × head_dim');
      if (sym.asConstant(last(k)) !== kvHeads * hd || sym.asConstant(last(v)) !== kvHeads * hd) say('key/value width is not kv_heads × head_dim');
      if (heads % kvHeads !== 0) say('kv_heads does not divide heads');
      if (!eq(k.shape[1], v.shape[1])) say('keys and values have different lengths');
      if (args[3] && sym.asConstant(last(args[3])) !== heads) say('the relative bias table is not [buckets, heads]');
      return;
    }
    case 'labels':
    case 'cross_entropy':
    case 'cross_entropy_grad': {
      const [a, b] = args;
      if (n.op === 'labels' && n.shape.map(sym.print).join() !== a.shape.map(sym.print).join()) say('labels differ in shape from the tokens they come from');
      if (n.op !== 'labels' && a.shape.slice(0, -1).map(sym.print).join() !== b.shape.map(sym.print).join()) say('labels do not cover the positions of the logits');
      if (n.op === 'cross_entropy' && n.shape.length !== 0) say('a loss is a scalar');
      if (n.op === 'cross_entropy_grad' && n.shape.map(sym.print).join() !== a.shape.map(sym.print).join()) say('the gradient differs in shape from the logits');
      return;
    }
    case 'vjp': {
      // A gradient has the shape of the value it is the gradient of: forward argument `wrt`, here args[wrt].
      const wrt = n.attrs.wrt;
      const of = args[wrt];
      if (!of || wrt >= args.length - 1) return say(`wrt = ${wrt} is not one of the forward arguments`);
      if (of.shape.map(sym.print).join() !== n.shape.map(sym.print).join()) say(`gradient shape differs from ${of.id}'s`);
      const upstream = args[args.length - 1];
      if (upstream.dtype !== 'f32') say('the incoming gradient is not f32');
      return;
    }
    case 'swiglu':
    case 'geglu':
      if (args[0].shape.map(sym.print).join() !== args[1].shape.map(sym.print).join()) say('gate and up shapes differ');
      return;
    default:
      return;
  }
}
