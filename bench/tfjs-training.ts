// The same model as an mdl spec, written in TensorFlow.js ops and trained with its autodiff and tf.train.adam on
// the Dawn device mdl uses. The model is read node by node from the spec's training graph (src/ir/training.ts), so
// it is the spec's model and not an approximation of it: token and position embeddings, layer norm, the linear
// layers ([out, in] weights), GELU in its tanh form, multi-head attention with the spec's masks as an additive bias
// (evaluated on the host from the same mask predicates), the tied output projection and the masked mean
// cross-entropy. Labels and the shifted decoder input come from mdl's host code, as they do for mdl's own step.
// Only what the benchmark's models use is supported; anything else is refused rather than approximated.

import type { CheckedModel } from '../src/check/model.ts';
import { inlineMask } from '../src/check/inline-mask.ts';
import type { IrGraph, IrNode } from '../src/ir/ir.ts';
import { maskFunction } from '../src/masks/evaluate.ts';
import { toPredicate } from '../src/masks/policy.ts';
import { evalDim, interpret } from '../src/runtime/cpu-interpreter.ts';
import type { TfjsSession } from './tfjs-attention.ts';

type Tf = TfjsSession['tf'];
/** An IR node's attributes, read by name (each op has its own typed set; this model reads a few of several). */
const attr = (n: IrNode) => n.attrs as Record<string, unknown>;
type Tensor = ReturnType<Tf['tensor']>;
type Variable = ReturnType<Tf['variable']>;

export interface TfjsTrainer {
  /** One Adam step on the batch, waited for on the device; returns the loss. */
  step(): Promise<number>;
  /** The loss at the current weights, without a step. */
  loss(): Promise<number>;
  dispose(): void;
}

export interface TfjsBatch {
  dims: Record<string, number>;
  inputs: Record<string, Int32Array>;
  /** Per row of the logits, the label (−1: not counted). */
  labels: Int32Array;
  counted: number;
}

export function tfjsTrainer(session: TfjsSession, g: IrGraph, m: CheckedModel, weights: Map<string, Float32Array>, batch: TfjsBatch, lr: number): TfjsTrainer {
  const { tf } = session;
  const dim = (n: IrNode) => n.shape.map((d) => evalDim(d, batch.dims));
  // Host-side values (kept: they are built inside the first step's scope, and cached) the model takes as given: shifted decoder inputs and sinusoidal tables, computed by mdl's
  // CPU interpreter from the same graph (they hold no parameters).
  const host = interpret({ ...g, nodes: g.nodes.filter((n) => n.op === 'input' || n.op === 'shift_right') }, m, { dims: batch.dims, inputs: batch.inputs, weights: new Map() });
  const constants = new Map<string, Tensor>();
  const vars = new Map<string, Variable>();
  for (const n of g.nodes) {
    if (n.op === 'param') vars.set(n.id, tf.variable(tf.tensor(weights.get(n.id.slice(1))!, dim(n)), true, n.id.slice(1)));
    if (n.op === 'input' || n.op === 'shift_right') constants.set(n.id, tf.tensor(host.get(n.id) as Int32Array, dim(n), 'int32'));
  }
  const maskData: Record<string, Int32Array> = {};
  const strides: Record<string, number> = {};
  for (const n of g.nodes) {
    if (n.op !== 'input' && n.op !== 'shift_right') continue;
    const name = n.op === 'input' ? String(attr(n).name) : n.id.slice(1);
    maskData[name] = host.get(n.id) as Int32Array;
    if (n.shape.length === 2) strides[name] = evalDim(n.shape[1], batch.dims);
  }
  const biases = new Map<string, Tensor>();
  const bias = (n: IrNode, b: number, lq: number, lk: number): Tensor | undefined => {
    const name = String(attr(n).mask ?? '');
    if (!name) return undefined;
    if (!biases.has(n.id)) {
      const policy = (m.masks.get(name) ?? inlineMask(m, name))?.policy;
      if (!policy) throw new Error(`${n.id}: mask ${name} has no policy`);
      const visible = maskFunction(toPredicate(policy), { dims: { ...batch.dims, Lq: lq, Lk: lk }, data: maskData, strides });
      const out = new Float32Array(b * lq * lk);
      for (let s = 0; s < b; s++) for (let i = 0; i < lq; i++) for (let j = 0; j < lk; j++) out[(s * lq + i) * lk + j] = visible(s, 0, i, j) ? 0 : -1e9;
      biases.set(n.id, tf.keep(tf.tensor(out, [b, 1, lq, lk])));
    }
    return biases.get(n.id);
  };
  const sinusoids = new Map<string, Tensor>();
  const labels = tf.tensor(Int32Array.from(batch.labels, (l) => Math.max(l, 0)), [batch.labels.length], 'int32');
  const counted = tf.tensor(Float32Array.from(batch.labels, (l) => (l >= 0 ? 1 : 0)), [batch.labels.length]);

  const forward = (): Tensor => {
    const v = new Map<string, Tensor>([...constants, ...vars]);
    const get = (id: string) => v.get(id) ?? fail(`${id} not computed`);
    for (const n of g.nodes) {
      const a = n.args.map((id) => v.get(id)!);
      switch (n.op) {
        case 'input':
        case 'param':
        case 'shift_right':
        case 'labels':
          break;
        case 'gather':
          if (attr(n).positions) throw new Error(`${n.id}: fused positions are not supported`);
          v.set(n.id, tf.mul(tf.gather(a[0], a[1]), Number(attr(n).scale ?? 1)));
          break;
        case 'positions': {
          const [t, d] = dim(n);
          if (attr(n).kind === 'learned') v.set(n.id, tf.slice(a[1], [0, 0], [t, d]));
          else {
            if (!sinusoids.has(n.id)) {
              const table = new Float32Array(t * d);
              for (let i = 0; i < t; i++) for (let j = 0; j < d; j++) table[i * d + j] = (j % 2 === 0 ? Math.sin : Math.cos)(i * Math.exp((-Math.log(10000) * Math.floor(j / 2) * 2) / d));
              sinusoids.set(n.id, tf.keep(tf.tensor(table, [t, d])));
            }
            v.set(n.id, sinusoids.get(n.id)!);
          }
          break;
        }
        case 'add':
          v.set(n.id, tf.add(a[0], a[1]));
          break;
        case 'act': {
          if (attr(n).fn !== 'gelu') throw new Error(`${n.id}: activation ${attr(n).fn} is not supported`);
          const x = a[0];
          const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), 0.7978845608028654);
          v.set(n.id, tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1)));
          break;
        }
        case 'norm': {
          if (attr(n).type !== 'layer') throw new Error(`${n.id}: ${attr(n).type} norm is not supported`);
          const { mean, variance } = tf.moments(a[0], -1, true);
          const xhat = tf.mul(tf.sub(a[0], mean), tf.rsqrt(tf.add(variance, Number(attr(n).eps))));
          v.set(n.id, a[2] ? tf.add(tf.mul(xhat, a[1]), a[2]) : tf.mul(xhat, a[1]));
          break;
        }
        case 'matmul': {
          if (!attr(n).transpose_b || attr(n).act || attr(n).residual) throw new Error(`${n.id}: only plain [out, in] linear layers are supported`);
          const shape = dim(n);
          const inner = a[0].shape[a[0].shape.length - 1];
          const y = tf.matMul(tf.reshape(a[0], [-1, inner]), a[1], false, true);
          v.set(n.id, tf.reshape(a[2] ? tf.add(y, a[2]) : y, shape));
          break;
        }
        case 'attention': {
          if (attr(n).rope || attr(n).score || Number(attr(n).kv_heads) !== Number(attr(n).heads)) throw new Error(`${n.id}: rotary positions, score modifiers and grouped queries are not supported`);
          const heads = Number(attr(n).heads);
          const hd = Number(attr(n).head_dim);
          const [b, lq] = dim(n);
          const lk = a[1].shape[1]!;
          const split = (x: Tensor, l: number) => tf.transpose(tf.reshape(x, [b, l, heads, hd]), [0, 2, 1, 3]);
          let scores = tf.matMul(tf.mul(split(a[0], lq), Number(attr(n).scale ?? 1 / Math.sqrt(hd))), split(a[1], lk), false, true);
          const mask = bias(n, b, lq, lk);
          if (mask) scores = tf.add(scores, mask);
          const out = tf.matMul(tf.softmax(scores), split(a[2], lk));
          v.set(n.id, tf.reshape(tf.transpose(out, [0, 2, 1, 3]), [b, lq, heads * hd]));
          break;
        }
        case 'cross_entropy': {
          const logits = get(n.args[0]);
          const vocab = logits.shape[logits.shape.length - 1]!;
          const logp = tf.logSoftmax(tf.reshape(logits, [-1, vocab]));
          const picked = tf.sum(tf.mul(logp, tf.oneHot(labels, vocab)), -1);
          v.set(n.id, tf.div(tf.neg(tf.sum(tf.mul(picked, counted))), batch.counted));
          break;
        }
        default:
          throw new Error(`${n.id}: op ${n.op} is not supported by the tfjs model`);
      }
    }
    return get(g.outputs[0]);
  };

  const optimizer = tf.train.adam(lr, 0.9, 0.999, 1e-8);
  const varList = [...vars.values()];
  return {
    async step() {
      const cost = optimizer.minimize(() => forward() as never, true, varList)!;
      const loss = (await cost.data())[0];
      cost.dispose();
      await session.flush();
      return loss;
    },
    async loss() {
      const l = tf.tidy(() => forward());
      const value = (await l.data())[0];
      l.dispose();
      return value;
    },
    dispose() {
      optimizer.dispose();
      for (const t of [...vars.values(), ...constants.values(), ...biases.values(), ...sinusoids.values(), labels, counted]) t.dispose();
    },
  };
}

function fail(message: string): never {
  throw new Error(message);
}
