// Vector-Jacobian products of the CPU reference, in f64, written from each op's definition in cpu-interpreter.ts
// (not from any kernel): given a forward node, its argument values and the gradient of its output, the gradient
// of every argument. Attention is in attention-backward.ts. Arguments without a gradient (token ids) get undefined.
//
// Sums run in a fixed order (rows in increasing order, then columns), so the same inputs give the same bits:
// an embedding row read by several positions receives their gradients in position order, with no atomics.

import { sym } from '../check/sym.ts';
import type { IrNode, NodeOf } from '../ir/ir.ts';
import { evalDim, geluTanh, type Tensor } from './cpu-interpreter.ts';
import { geluErfGrad } from './erf.ts';

export type Grads = (Float64Array | undefined)[];

const GELU_C = 0.7978845608028654;

/** d/dx of the interpreter's tanh GELU, including its clamp of the tanh argument at ±15 (flat outside). */
export function geluTanhGrad(x: number): number {
  const raw = GELU_C * (x + 0.044715 * x * x * x);
  const c = Math.max(-15, Math.min(15, raw));
  const t = Math.tanh(c);
  const dc = Math.abs(raw) < 15 ? GELU_C * (1 + 3 * 0.044715 * x * x) : 0;
  return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * dc;
}

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
export const siluGrad = (x: number) => sigmoid(x) * (1 + x * (1 - sigmoid(x)));

const ACT_GRAD: Record<string, (x: number) => number> = {
  none: () => 1,
  relu: (x) => (x > 0 ? 1 : 0),
  gelu: geluTanhGrad,
  gelu_erf: geluErfGrad,
  silu: siluGrad,
};

export function actGrad(fn: string): (x: number) => number {
  const f = ACT_GRAD[fn];
  if (!f) throw new Error(`no gradient for activation '${fn}'`);
  return f;
}

export interface VjpContext {
  dims: Record<string, number>;
  /** The static shape of an argument (weights' shapes are constants). */
  shapeOf(id: string): IrNode['shape'];
}

export function vjpElementwise(n: IrNode, args: Tensor[], dy: Float64Array, ctx: VjpContext): Grads {
  switch (n.op) {
    case 'add': {
      const [a, b] = args;
      const db = new Float64Array(b.length);
      // A [T, D] position table broadcast over the batch: its gradient sums the batch rows, in batch order.
      for (let i = 0; i < dy.length; i++) db[i % b.length] += dy[i];
      return [a.length === dy.length ? Float64Array.from(dy) : undefined, db];
    }
    case 'act': {
      const g = actGrad(n.attrs.fn);
      return [Float64Array.from(args[0], (x, i) => g(x) * dy[i])];
    }
    case 'swiglu': {
      const [gate, up] = args;
      const silu = (x: number) => x * sigmoid(x);
      return [Float64Array.from(gate, (x, i) => siluGrad(x) * up[i] * dy[i]), Float64Array.from(up, (_, i) => silu(gate[i]) * dy[i])];
    }
    case 'geglu': {
      const [gate, up] = args;
      return [Float64Array.from(gate, (x, i) => geluTanhGrad(x) * up[i] * dy[i]), Float64Array.from(up, (_, i) => geluTanh(gate[i]) * dy[i])];
    }
    case 'gather':
      return gatherGrad(n, args, dy, ctx);
    case 'positions': {
      // Learned positions: row t of the table is position t's vector; rows past the sequence get no gradient.
      // With an offset, position t is row t + offset.
      const table = args[1];
      const dt = new Float64Array(table.length);
      const from = (n.attrs.offset ?? 0) * evalDim(n.shape[1], ctx.dims);
      dt.set(dy.subarray(0, Math.max(0, Math.min(dy.length, dt.length - from))), from);
      return [undefined, dt];
    }
    case 'norm':
      return normGrad(n, args, dy);
    case 'matmul':
      return matmulGrad(n, args, dy, ctx);
    default:
      throw new Error(`no elementwise gradient for op '${n.op}'`);
  }
}

/** out[r] = table[id(r)] · scale (+ positions when fused): a scatter-add of each row's gradient into its id's row. */
function gatherGrad(n: NodeOf<'gather'>, args: Tensor[], dy: Float64Array, ctx: VjpContext): Grads {
  const [table, ids] = args;
  const d = evalDim(n.shape[n.shape.length - 1], ctx.dims);
  const t = evalDim(n.shape[1], ctx.dims);
  const vocab = table.length / d;
  const scale = n.attrs.scale;
  const dt = new Float64Array(table.length);
  const posTable = n.attrs.positions === 'learned' ? args[2] : undefined;
  const dp = posTable ? new Float64Array(posTable.length) : undefined;
  for (let r = 0; r < dy.length / d; r++) {
    const id = ids[r] >= 0 && ids[r] < vocab ? ids[r] : 0; // the forward pass reads row 0 for an id out of range
    for (let j = 0; j < d; j++) {
      dt[id * d + j] += dy[r * d + j] * scale;
      if (dp) dp[((r % t) + (n.attrs.offset ?? 0)) * d + j] += dy[r * d + j];
    }
  }
  return [dt, undefined, dp];
}

/** y = (x - mean) / sqrt(var + eps) · gamma + beta (layer), or x / sqrt(mean(x²) + eps) · gamma (rms). */
function normGrad(n: NodeOf<'norm'>, args: Tensor[], dy: Float64Array): Grads {
  const [x, gamma, beta] = args;
  const d = gamma.length;
  const eps = n.attrs.eps;
  const layer = n.attrs.type !== 'rms';
  const dx = new Float64Array(x.length);
  const dg = new Float64Array(d);
  const db = beta ? new Float64Array(d) : undefined;
  const xhat = new Float64Array(d);
  for (let r = 0; r < x.length / d; r++) {
    let mean = 0;
    if (layer) {
      for (let j = 0; j < d; j++) mean += x[r * d + j];
      mean /= d;
    }
    let sq = 0;
    for (let j = 0; j < d; j++) sq += (x[r * d + j] - mean) ** 2;
    const inv = 1 / Math.sqrt(sq / d + eps);
    let sumG = 0;
    let sumGX = 0;
    for (let j = 0; j < d; j++) {
      xhat[j] = (x[r * d + j] - mean) * inv;
      const g = dy[r * d + j] * gamma[j];
      sumG += g;
      sumGX += g * xhat[j];
      dg[j] += dy[r * d + j] * xhat[j];
      if (db) db[j] += dy[r * d + j];
    }
    // d xhat / d x: the mean term only for layer norm (rms norm subtracts no mean).
    for (let j = 0; j < d; j++) {
      const g = dy[r * d + j] * gamma[j];
      dx[r * d + j] = inv * (g - (layer ? sumG / d : 0) - (xhat[j] * sumGX) / d);
    }
  }
  return [dx, dg, db];
}

/** y = act(x W (+ b)) (+ residual); W is [out, in] with transpose_b, else [in, out]. */
function matmulGrad(n: NodeOf<'matmul'>, args: Tensor[], dy: Float64Array, ctx: VjpContext): Grads {
  const x = args[0];
  const w = args[1];
  const wShape = ctx.shapeOf(n.args[1]).map((p) => sym.asConstant(p)!);
  const tb = n.attrs.transpose_b;
  const [outDim, inDim] = tb ? wShape : [wShape[1], wShape[0]];
  const hasResidual = !!n.attrs.residual;
  const bias = args[2] && !(hasResidual && args.length === 3) ? args[2] : undefined;
  const rows = x.length / inDim;
  const act = n.attrs.act ?? 'none';
  // With a fused activation the gradient passes through act' at the pre-activation value.
  let dz = dy;
  if (act !== 'none') {
    const g = actGrad(act);
    dz = new Float64Array(dy.length);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < outDim; c++) {
        let acc = 0;
        for (let k = 0; k < inDim; k++) acc += x[r * inDim + k] * (tb ? w[c * inDim + k] : w[k * outDim + c]);
        dz[r * outDim + c] = dy[r * outDim + c] * g(acc + (bias ? bias[c] : 0));
      }
    }
  }
  const dx = new Float64Array(x.length);
  const dw = new Float64Array(w.length);
  const dbias = bias ? new Float64Array(outDim) : undefined;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < outDim; c++) {
      const g = dz[r * outDim + c];
      if (dbias) dbias[c] += g;
      for (let k = 0; k < inDim; k++) {
        const wi = tb ? c * inDim + k : k * outDim + c;
        dx[r * inDim + k] += g * w[wi];
        dw[wi] += g * x[r * inDim + k];
      }
    }
  }
  const out: Grads = [dx, dw];
  if (bias) out.push(dbias);
  if (hasResidual) out[args.length - 1] = Float64Array.from(dy);
  return out;
}
