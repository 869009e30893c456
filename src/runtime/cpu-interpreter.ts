// The CPU reference interpreter: executes the IR directly, in f64, one node at a time. It is the oracle the WebGPU
// program is tested against and the `--backend cpu` fallback. It reads the IR — not the WGSL — so a bug in a kernel
// generator cannot hide in both.

import type { CheckedModel, SinusoidalLayout } from '../check/model.ts';
import { sym } from '../check/sym.ts';
import { rotaryOf, type IrGraph, type IrNode, type NodeOf } from '../ir/ir.ts';
import { rope } from './rotary-cpu.ts';
import { inlineMask } from '../check/inline-mask.ts';
import { scoreModifiers } from '../wgsl/score-modifiers.ts';
import { maskFunction } from '../masks/evaluate.ts';
import type { MaskEnv } from '../masks/kernel-contract.ts';
import { toPredicate } from '../masks/policy.ts';
import { checkMaskSizes } from '../masks/sizes.ts';
import { applyModifiersCpu } from '../wgsl/score-modifiers.ts';
import { geluErf } from './erf.ts';
import { shiftRight } from './decoder-input.ts';

export type Tensor = Float64Array | Int32Array;

export interface RunInputs {
  /** Values of the symbolic dims (B, T, S, …). */
  dims: Record<string, number>;
  /** Model inputs by name: token ids and lengths as Int32Array, features as Float32Array. */
  inputs: Record<string, Int32Array | Float32Array>;
  /** Weights by parameter name. */
  weights: Map<string, Float32Array>;
}

/** The interpreter reads weights in f64, so it also takes f64 weights (finite-difference checks of gradients need them). */
export type CpuRunInputs = Omit<RunInputs, 'weights'> & { weights: Map<string, Float32Array | Float64Array> };

export function geluTanh(x: number): number {
  const c = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  return 0.5 * x * (1 + Math.tanh(Math.max(-15, Math.min(15, c))));
}

const ACT: Record<string, (x: number) => number> = {
  none: (x) => x,
  relu: (x) => Math.max(0, x),
  gelu: geluTanh,
  gelu_erf: geluErf,
  silu: (x) => x / (1 + Math.exp(-x)),
};

/** Runs the graph and returns every value by id (outputs included). */
export function interpret(g: IrGraph, m: CheckedModel, run: CpuRunInputs): Map<string, Tensor> {
  const values = new Map<string, Tensor>();
  const size = (n: IrNode) => n.shape.reduce((p, d) => p * evalDim(d, run.dims), 1);
  const get = (id: string) => {
    const v = values.get(id);
    if (!v) throw new Error(`value ${id} is not computed yet`);
    return v;
  };
  const maskData: Record<string, Int32Array> = {};
  const strides: Record<string, number> = {};

  for (const n of g.nodes) {
    const out = (len = size(n)) => (n.dtype === 'i32' ? new Int32Array(len) : new Float64Array(len));
    switch (n.op) {
      case 'input': {
        const v = run.inputs[n.attrs.name];
        if (!v) throw new Error(`missing input '${n.attrs.name}'`);
        if (v.length !== size(n)) throw new Error(`input '${n.attrs.name}' has ${v.length} values, expected ${size(n)}`);
        values.set(n.id, v instanceof Int32Array ? v : Float64Array.from(v));
        if (v instanceof Int32Array) recordMaskData(n.attrs.name, v, n);
        break;
      }
      case 'param': {
        const name = n.id.slice(1);
        const w = run.weights.get(name);
        if (!w) throw new Error(`missing weight '${name}'`);
        values.set(n.id, Float64Array.from(w));
        break;
      }
      case 'shift_right': {
        const [b, t] = n.shape.map((d) => evalDim(d, run.dims));
        const v = shiftRight(get(n.args[0]) as Int32Array, b, t, { bos: n.attrs.bos, pad: n.attrs.pad, eos: n.attrs.eos });
        values.set(n.id, v);
        recordMaskData(n.id.slice(1), v, n);
        break;
      }
      case 'gather':
        values.set(n.id, gather(n, get, run, size(n)));
        break;
      case 'positions': {
        const [t, d] = n.shape.map((x) => evalDim(x, run.dims));
        const o = new Float64Array(t * d);
        const table = n.args[1] ? get(n.args[1]) : undefined;
        const offset = n.attrs.offset ?? 0;
        const layout = n.attrs.layout ?? 'interleaved';
        for (let i = 0; i < t; i++) for (let j = 0; j < d; j++) o[i * d + j] = table ? table[(i + offset) * d + j] : sinusoid(i, j, d, layout);
        values.set(n.id, o);
        break;
      }
      case 'add': {
        const a = get(n.args[0]);
        const b = get(n.args[1]);
        const o = out();
        for (let i = 0; i < o.length; i++) o[i] = a[i] + b[i % b.length];
        values.set(n.id, o);
        break;
      }
      case 'act': {
        const a = get(n.args[0]);
        const f = ACT[n.attrs.fn];
        values.set(n.id, Float64Array.from(a, (x) => f(x)));
        break;
      }
      case 'swiglu':
      case 'geglu': {
        const a = get(n.args[0]);
        const b = get(n.args[1]);
        const gate = n.op === 'swiglu' ? ACT.silu : ACT.gelu;
        values.set(n.id, Float64Array.from(a, (x, i) => gate(x) * b[i]));
        break;
      }
      case 'norm':
        values.set(n.id, norm(n, get, size(n)));
        break;
      case 'matmul':
        values.set(n.id, matmul(n, get, g, size(n)));
        break;
      case 'attention':
        values.set(n.id, attention(n, get, m, run, { dims: run.dims, data: maskData, strides }));
        break;
      case 'argmax': {
        const x = get(n.args[0]);
        const width = x.length / size(n);
        const o = new Int32Array(size(n));
        for (let r = 0; r < o.length; r++) {
          let best = 0;
          for (let j = 1; j < width; j++) if (x[r * width + j] > x[r * width + best]) best = j;
          o[r] = best;
        }
        values.set(n.id, o);
        break;
      }
    }
  }
  return values;

  function recordMaskData(name: string, v: Int32Array, n: IrNode): void {
    maskData[name] = v;
    if (n.shape.length === 2) strides[name] = evalDim(n.shape[1], run.dims);
  }
}

export function evalDim(p: IrNode['shape'][number], dims: Record<string, number>): number {
  const v = sym.evaluate(p, dims);
  if (v === undefined) throw new Error(`no value for dim ${sym.print(p)}`);
  return v;
}

/** Sinusoidal position t, dim j of d: frequency i = 10000^(-2i/d), sin and cos interleaved or concatenated. */
export function sinusoid(t: number, j: number, d: number, layout: SinusoidalLayout = 'interleaved'): number {
  const half = d / 2;
  const i = layout === 'interleaved' ? Math.floor(j / 2) : j % half;
  const angle = t * Math.exp((-Math.log(10000) * 2 * i) / d);
  const isSin = layout === 'interleaved' ? j % 2 === 0 : j < half;
  return isSin ? Math.sin(angle) : Math.cos(angle);
}

function gather(n: NodeOf<'gather'>, get: (id: string) => Tensor, run: CpuRunInputs, len: number): Float64Array {
  const table = get(n.args[0]);
  const ids = get(n.args[1]);
  const d = evalDim(n.shape[n.shape.length - 1], run.dims);
  const t = evalDim(n.shape[1], run.dims);
  const vocab = table.length / d;
  const scale = n.attrs.scale;
  const pos = n.attrs.positions;
  const posTable = pos === 'learned' ? get(n.args[2]) : undefined;
  const o = new Float64Array(len);
  for (let r = 0; r < len / d; r++) {
    const id = ids[r] >= 0 && ids[r] < vocab ? ids[r] : 0;
    for (let j = 0; j < d; j++) {
      let v = table[id * d + j] * scale;
      if (pos === 'sinusoidal') v += sinusoid(r % t, j, d, n.attrs.layout);
      if (posTable) v += posTable[(r % t + (n.attrs.offset ?? 0)) * d + j];
      o[r * d + j] = v;
    }
  }
  return o;
}

function norm(n: NodeOf<'norm'>, get: (id: string) => Tensor, len: number): Float64Array {
  const x = get(n.args[0]);
  const gamma = get(n.args[1]);
  const beta = n.args[2] ? get(n.args[2]) : undefined;
  const d = gamma.length;
  const eps = n.attrs.eps;
  const layer = n.attrs.type !== 'rms';
  const o = new Float64Array(len);
  for (let r = 0; r < len / d; r++) {
    let mean = 0;
    if (layer) {
      for (let j = 0; j < d; j++) mean += x[r * d + j];
      mean /= d;
    }
    let sq = 0;
    for (let j = 0; j < d; j++) sq += (x[r * d + j] - mean) ** 2;
    const inv = 1 / Math.sqrt(sq / d + eps);
    for (let j = 0; j < d; j++) o[r * d + j] = (x[r * d + j] - mean) * inv * gamma[j] + (beta ? beta[j] : 0);
  }
  return o;
}

function matmul(n: NodeOf<'matmul'>, get: (id: string) => Tensor, g: IrGraph, len: number): Float64Array {
  const x = get(n.args[0]);
  const w = get(n.args[1]);
  const wShape = g.nodes.find((p) => p.id === n.args[1])!.shape.map((d) => sym.asConstant(d)!);
  const [outDim, inDim] = n.attrs.transpose_b ? wShape : [wShape[1], wShape[0]];
  const bias = n.args[2] && !(n.attrs.residual && n.args.length === 3) ? get(n.args[2]) : undefined;
  const res = n.attrs.residual ? get(n.args[n.args.length - 1]) : undefined;
  const act = ACT[n.attrs.act ?? 'none'];
  const o = new Float64Array(len);
  for (let r = 0; r < len / outDim; r++) {
    for (let c = 0; c < outDim; c++) {
      let acc = 0;
      for (let k = 0; k < inDim; k++) acc += x[r * inDim + k] * (n.attrs.transpose_b ? w[c * inDim + k] : w[k * outDim + c]);
      let v = act(acc + (bias ? bias[c] : 0));
      if (res) v += res[r * outDim + c];
      o[r * outDim + c] = v;
    }
  }
  return o;
}

function attention(n: NodeOf<'attention'>, get: (id: string) => Tensor, m: CheckedModel, run: CpuRunInputs, env: MaskEnv): Float64Array {
  const { heads, kv_heads: kvHeads, head_dim: hd } = n.attrs;
  let q = get(n.args[0]) as Float64Array;
  let k = get(n.args[1]) as Float64Array;
  const v = get(n.args[2]);
  const batch = evalDim(n.shape[0], run.dims);
  const lq = q.length / (batch * heads * hd);
  const lk = k.length / (batch * kvHeads * hd);
  const rotary = rotaryOf(n.attrs);
  if (rotary) {
    q = rope(q, batch * lq, heads, hd, lq, rotary);
    k = rope(k, batch * lk, kvHeads, hd, lk, rotary);
  }
  const maskName = n.attrs.mask;
  const info = maskName ? (m.masks.get(maskName) ?? inlineMask(m, maskName)) : undefined;
  checkMaskSizes(maskName, info?.policy, { ...env.dims, Lq: lq, Lk: lk });
  const visible = info?.policy ? maskFunction(toPredicate(info.policy), { ...env, dims: { ...env.dims, Lq: lq, Lk: lk } }) : () => true;
  // A relative_bias modifier reads its learned table, the node's fourth argument.
  const modifiers = scoreModifiers(m, n.attrs.score, heads).map((x) => (x.kind === 'relative_bias' ? { ...x, table: get(n.args[3]) } : x));
  const o = new Float64Array(batch * lq * heads * hd);
  const scale = n.attrs.scale;
  const group = heads / kvHeads;
  const scores = new Float64Array(lk);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const kh = Math.floor(h / group);
      for (let i = 0; i < lq; i++) {
        let max = -Infinity;
        for (let j = 0; j < lk; j++) {
          if (!visible(b, h, i, j)) {
            scores[j] = -Infinity;
            continue;
          }
          let s = 0;
          for (let d = 0; d < hd; d++) s += q[((b * lq + i) * heads + h) * hd + d] * k[((b * lk + j) * kvHeads + kh) * hd + d];
          s = applyModifiersCpu(s * scale, modifiers, { b, h, q: i, k: j, Lq: lq, Lk: lk });
          scores[j] = s;
          if (s > max) max = s;
        }
        if (max === -Infinity) continue; // a row with nothing visible outputs 0
        let sum = 0;
        for (let j = 0; j < lk; j++) sum += scores[j] === -Infinity ? 0 : Math.exp(scores[j] - max);
        for (let j = 0; j < lk; j++) {
          if (scores[j] === -Infinity) continue;
          const p = Math.exp(scores[j] - max) / sum;
          for (let d = 0; d < hd; d++) o[((b * lq + i) * heads + h) * hd + d] += p * v[((b * lk + j) * kvHeads + kh) * hd + d];
        }
      }
    }
  }
  return o;
}

