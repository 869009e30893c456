// Runs a backward graph (src/lower/grad.ts) on the CPU reference, in f64: the forward nodes through the
// interpreter, then the labels, the loss and every gradient node. The result is the loss and the gradient of every
// parameter by its safetensors name.

import type { CheckedModel } from '../check/model.ts';
import { rotaryOf, type IrNode, type NodeOf } from '../ir/ir.ts';
import type { GradGraph } from '../lower/grad.ts';
import { inlineMask } from '../check/inline-mask.ts';
import { scoreModifiers } from '../wgsl/score-modifiers.ts';
import { maskFunction } from '../masks/evaluate.ts';
import type { MaskEnv } from '../masks/kernel-contract.ts';
import { toPredicate } from '../masks/policy.ts';
import { attentionBackward } from './attention-backward.ts';
import { evalDim, interpret, type CpuRunInputs, type Tensor } from './cpu-interpreter.ts';
import { vjpElementwise, type Grads } from './cpu-vjp.ts';

export interface TrainingResult {
  loss: number;
  /** Positions that counted towards the mean. */
  counted: number;
  grads: Map<string, Float64Array>;
  values: Map<string, Tensor>;
}

const TRAINING_OPS = new Set<IrNode['op']>(['labels', 'cross_entropy', 'cross_entropy_grad', 'vjp']);

/** Runs the graph; with `lossOnly`, stops once the loss is known (no gradients). */
export function runBackward(g: GradGraph, m: CheckedModel, run: CpuRunInputs, options: { lossOnly?: boolean } = {}): TrainingResult {
  // The forward nodes come first; everything from the labels on is training.
  const first = g.nodes.findIndex((n) => TRAINING_OPS.has(n.op));
  const forward = g.nodes.slice(0, first < 0 ? g.nodes.length : first);
  const values = interpret({ ...g, nodes: forward, outputs: [] }, m, run);
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const get = (id: string): Tensor => {
    const v = values.get(id);
    if (!v) throw new Error(`value ${id} is not computed yet`);
    return v;
  };
  const env = maskEnv(forward, values, run.dims);
  const cache = new Map<string, Grads>();
  let counted = 0;
  for (const n of g.nodes) {
    if (values.has(n.id)) continue;
    switch (n.op) {
      case 'labels': {
        const r = labelsOf(n, get, m, env, run.dims);
        counted = r.counted;
        values.set(n.id, r.labels);
        break;
      }
      case 'cross_entropy':
        values.set(n.id, Float64Array.of(crossEntropy(get(n.args[0]) as Float64Array, get(n.args[1]) as Int32Array).loss));
        break;
      case 'cross_entropy_grad':
        values.set(n.id, crossEntropy(get(n.args[0]) as Float64Array, get(n.args[1]) as Int32Array).grad);
        break;
      case 'add': {
        const a = get(n.args[0]);
        const b = get(n.args[1]);
        values.set(n.id, Float64Array.from(a, (x, i) => x + b[i]));
        break;
      }
      case 'vjp': {
        const of = n.attrs.of;
        let grads = cache.get(of);
        if (!grads) {
          const fwd = byId.get(of)!;
          const upstream = get(n.args[n.args.length - 1]) as Float64Array;
          grads = vjpOf(fwd, fwd.args.map(get), upstream, m, run, env, (id) => byId.get(id)!.shape);
          cache.set(of, grads);
        }
        const v = grads[n.attrs.wrt];
        if (!v) throw new Error(`${of} has no gradient for argument ${n.attrs.wrt}`);
        values.set(n.id, v);
        break;
      }
      default:
        throw new Error(`the CPU backward cannot run op '${n.op}' (${n.id})`);
    }
    if (options.lossOnly && n.id === g.loss) return { loss: (get(g.loss) as Float64Array)[0], counted, grads: new Map(), values };
  }
  const loss = (get(g.loss) as Float64Array)[0];
  const grads = new Map([...g.grads].map(([name, id]) => [name, get(id) as Float64Array]));
  return { loss, counted, grads, values };
}

function vjpOf(n: IrNode, args: Tensor[], dy: Float64Array, m: CheckedModel, run: CpuRunInputs, env: MaskEnv, shapeOf: (id: string) => IrNode['shape']): Grads {
  if (n.op !== 'attention') return vjpElementwise(n, args, dy, { dims: run.dims, shapeOf });
  const { heads, kv_heads: kvHeads, head_dim: hd } = n.attrs;
  const batch = evalDim(n.shape[0], run.dims);
  const [q, k, v, table] = args as Float64Array[];
  const lq = q.length / (batch * heads * hd);
  const lk = k.length / (batch * kvHeads * hd);
  // The same mask evaluation as the forward interpreter: the predicate over the batch's data, Lq and Lk of this site.
  const maskName = n.attrs.mask;
  const info = maskName ? (m.masks.get(maskName) ?? inlineMask(m, maskName)) : undefined;
  const visible = info?.policy ? maskFunction(toPredicate(info.policy), { ...env, dims: { ...env.dims, Lq: lq, Lk: lk } }) : () => true;
  const modifiers = scoreModifiers(m, n.attrs.score, heads);
  const r = attentionBackward({ batch, lq, lk, heads, kvHeads, headDim: hd, rotary: rotaryOf(n.attrs), scale: n.attrs.scale, visible, modifiers, q, k, v, table, dOut: dy });
  return [r.dq, r.dk, r.dv, r.dTable];
}

/** Integer inputs and decoder inputs by name, as the forward interpreter hands them to masks. */
function maskEnv(nodes: IrNode[], values: Map<string, Tensor>, dims: Record<string, number>): MaskEnv {
  const env: MaskEnv = { dims: { ...dims }, data: {}, strides: {} };
  for (const n of nodes) {
    if (n.op !== 'input' && n.op !== 'shift_right') continue;
    const v = values.get(n.id);
    if (!(v instanceof Int32Array)) continue;
    const name = n.op === 'input' ? n.attrs.name : n.id.slice(1);
    env.data[name] = v;
    if (n.shape.length === 2) env.strides![name] = evalDim(n.shape[1], dims);
  }
  return env;
}

/**
 * The label of every position, -1 where it does not count: the labels' pad, the last position of `next(ids)`, a
 * next token in another document (`within`), or a position outside the loss's `count` predicate (evaluated at
 * b, q with k = q and h = 0, over the same data masks read).
 */
export function labelsOf(n: NodeOf<'labels'>, get: (id: string) => Tensor, m: CheckedModel, env: MaskEnv, dims: Record<string, number>): { labels: Int32Array; counted: number } {
  const ids = get(n.args[0]) as Int32Array;
  const docs = n.args[1] ? (get(n.args[1]) as Int32Array) : undefined;
  const [b, t] = n.shape.map((d) => evalDim(d, dims));
  const { pad, next } = n.attrs;
  const policy = m.loss?.count;
  const count = policy ? maskFunction(toPredicate(policy), { ...env, dims: { ...env.dims, Lq: t, Lk: t } }) : () => true;
  const labels = new Int32Array(b * t).fill(-1);
  let counted = 0;
  for (let s = 0; s < b; s++) {
    for (let q = 0; q < t; q++) {
      const from = next ? q + 1 : q;
      if (from >= t) continue;
      const id = ids[s * t + from];
      if (id === pad) continue;
      if (docs && next && docs[s * t + from] !== docs[s * t + q]) continue;
      if (!count(s, 0, q, q)) continue;
      labels[s * t + q] = id;
      counted++;
    }
  }
  return { labels, counted };
}

/** Mean cross-entropy over positions with a label (≥ 0) and its gradient: (softmax − one-hot) / count. */
export function crossEntropy(logits: Float64Array, labels: Int32Array): { loss: number; grad: Float64Array } {
  const vocab = logits.length / labels.length;
  const grad = new Float64Array(logits.length);
  let counted = 0;
  for (const l of labels) if (l >= 0) counted++;
  let loss = 0;
  if (counted === 0) return { loss, grad };
  for (let r = 0; r < labels.length; r++) {
    const label = labels[r];
    if (label < 0) continue;
    if (label >= vocab) throw new Error(`label ${label} at position ${r} is outside the vocabulary (0..${vocab - 1})`);
    let max = -Infinity;
    for (let j = 0; j < vocab; j++) max = Math.max(max, logits[r * vocab + j]);
    let sum = 0;
    for (let j = 0; j < vocab; j++) sum += Math.exp(logits[r * vocab + j] - max);
    loss += Math.log(sum) + max - logits[r * vocab + label];
    for (let j = 0; j < vocab; j++) grad[r * vocab + j] = Math.exp(logits[r * vocab + j] - max) / sum / counted;
    grad[r * vocab + label] -= 1 / counted;
  }
  return { loss: loss / counted, grad };
}
