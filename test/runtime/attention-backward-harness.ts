// The attention backward tests' oracle and runner.
//
// `attentionGradsReference` is a naive f64 softmax backward written from the definition, independently of the GPU
// kernels: it materialises each row's probabilities, then dV = Pᵀ dO, dP = dO Vᵀ, dS = P ∘ (dP − rowsum(P ∘ dP)),
// dQ = dS K · scale, dK = dSᵀ Q · scale, with the score modifiers' chain rule applied to dS (the test file checks
// the whole oracle against central finite differences of the CPU forward pass). `runBackwardCase` runs the forward
// kernel with its log-sum-exp and then the backward kernels on the device, and measures both against the oracle.

import type { MaskEnv } from '../../src/masks/kernel-contract.ts';
import { attentionBackwardFor, prepareAttentionBackward, type AttentionGradients } from '../../src/runtime/attention-backward-run.ts';
import { MASKED_SCORE_FLOOR, type AttentionShape, type MaskFn } from '../../src/runtime/attention-cpu.ts';
import { attentionKernelFor, prepareAttention } from '../../src/runtime/attention-run.ts';
import type { GpuContext } from '../../src/runtime/device.ts';
import type { AttentionKernel } from '../../src/wgsl/attention.ts';
import type { TileOverrides } from '../../src/wgsl/attention-tiles.ts';
import { relativeBucket } from '../../src/wgsl/relative-bias.ts';
import type { ScoreModifier } from '../../src/wgsl/score-modifiers.ts';
import { randomFloats } from './mask-fixtures.ts';

type Floats = ArrayLike<number>;

export interface ReferenceGrads {
  out: Float64Array;
  /** Per row [B, H, Lq]; -Infinity for a row with no visible key. */
  lse: Float64Array;
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
  dTable?: Float64Array;
}

export interface ReferenceOptions {
  mask?: MaskFn;
  modifiers?: readonly ScoreModifier[];
  scale?: number;
}

/** The modified score and its derivatives with respect to the raw score and to the table entry read (with its index). */
function modifyWithGrad(raw: number, modifiers: readonly ScoreModifier[], at: { b: number; h: number; q: number; k: number; Lq: number; Lk: number }) {
  let s = raw;
  let g = 1;
  let gTable = 0;
  let entry = -1;
  for (const m of modifiers) {
    if (m.kind === 'alibi') s -= m.slopes[at.h] * Math.abs(at.q + (at.Lk - at.Lq) - at.k);
    else if (m.kind === 'relative_bias') {
      entry = relativeBucket(at.k - at.q, m) * m.heads + at.h;
      s += m.table![entry];
      gTable = 1;
    } else {
      // d/dx [c tanh(x / c)] = 1 − tanh²(x / c)
      const t = Math.tanh(s / m.cap);
      s = m.cap * t;
      g *= 1 - t * t;
      gTable *= 1 - t * t;
    }
  }
  return { s, g, gTable, entry };
}

export function attentionGradsReference(shape: AttentionShape, q: Floats, k: Floats, v: Floats, dOut: Floats, options: ReferenceOptions = {}): ReferenceGrads {
  const { batch, lq, lk, heads, kvHeads, headDim: d } = shape;
  const scale = options.scale ?? 1 / Math.sqrt(d);
  const modifiers = options.modifiers ?? [];
  const table = modifiers.find((m) => m.kind === 'relative_bias');
  const group = heads / kvHeads;
  const r: ReferenceGrads = {
    out: new Float64Array(q.length),
    lse: new Float64Array(batch * heads * lq).fill(-Infinity),
    dq: new Float64Array(q.length),
    dk: new Float64Array(k.length),
    dv: new Float64Array(v.length),
    dTable: table?.kind === 'relative_bias' ? new Float64Array(table.table!.length) : undefined,
  };
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / group);
      for (let qi = 0; qi < lq; qi++) {
        const qb = ((b * lq + qi) * heads + h) * d;
        const kb = (ki: number) => ((b * lk + ki) * kvHeads + kvh) * d;
        const pairs: { ki: number; s: number; g: number; gTable: number; entry: number; p: number }[] = [];
        for (let ki = 0; ki < lk; ki++) {
          if (options.mask && !options.mask(b, h, qi, ki)) continue;
          let raw = 0;
          for (let i = 0; i < d; i++) raw += q[qb + i] * k[kb(ki) + i];
          const m = modifyWithGrad(raw * scale, modifiers, { b, h, q: qi, k: ki, Lq: lq, Lk: lk });
          if (m.s > MASKED_SCORE_FLOOR) pairs.push({ ki, ...m, p: 0 });
        }
        if (pairs.length === 0) continue;
        const max = Math.max(...pairs.map((x) => x.s));
        const sum = pairs.reduce((acc, x) => acc + Math.exp(x.s - max), 0);
        r.lse[(b * heads + h) * lq + qi] = max + Math.log(sum);
        for (const x of pairs) x.p = Math.exp(x.s - max) / sum;
        const dp = pairs.map((x) => {
          let acc = 0;
          for (let i = 0; i < d; i++) acc += dOut[qb + i] * v[kb(x.ki) + i];
          return acc;
        });
        const rowDot = pairs.reduce((acc, x, j) => acc + x.p * dp[j], 0);
        pairs.forEach((x, j) => {
          const ds = x.p * (dp[j] - rowDot);
          for (let i = 0; i < d; i++) {
            r.out[qb + i] += x.p * v[kb(x.ki) + i];
            r.dv[kb(x.ki) + i] += x.p * dOut[qb + i];
            r.dq[qb + i] += ds * x.g * scale * k[kb(x.ki) + i];
            r.dk[kb(x.ki) + i] += ds * x.g * scale * q[qb + i];
          }
          if (r.dTable && x.entry >= 0) r.dTable[x.entry] += ds * x.gTable;
        });
      }
    }
  }
  return r;
}

/** ‖a − b‖ / ‖b‖ (‖a − b‖ when b is zero). */
export function normRelError(a: Floats, b: Floats): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let diff = 0;
  let ref = 0;
  for (let i = 0; i < a.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    ref += b[i] ** 2;
  }
  return ref > 0 ? Math.sqrt(diff / ref) : Math.sqrt(diff);
}

export interface BackwardCase extends AttentionShape {
  mask?: AttentionKernel['mask'];
  /** The predicate for the oracle (the compiled mask's meaning, or what wrong tile classes make of it). */
  oracleMask?: MaskFn;
  env?: MaskEnv;
  modifiers?: ScoreModifier[];
  scoreTable?: Float32Array;
  tiles?: TileOverrides;
  classes?: (kernel: AttentionKernel) => Uint32Array;
  /** Rows per invocation of the backward walks (default: the generator's choice per tile). */
  block?: number;
  /** Data overrides (default: deterministic values in [-1, 1)). */
  k?: Float32Array;
  v?: Float32Array;
  seed?: number;
}

export interface BackwardResult {
  gpu: AttentionGradients;
  ref: ReferenceGrads;
  errors: { dq: number; dk: number; dv: number; dTable?: number };
  lse: Float32Array;
  kernel: AttentionKernel;
  /** The data the case ran on. */
  data: { q: Float32Array; k: Float32Array; v: Float32Array; dOut: Float32Array };
}

export async function runBackwardCase(gpu: GpuContext, c: BackwardCase): Promise<BackwardResult> {
  const seed = c.seed ?? c.lq * 13 + c.lk;
  const q = randomFloats(c.batch * c.lq * c.heads * c.headDim, seed, 2);
  const k = c.k ?? randomFloats(c.batch * c.lk * c.kvHeads * c.headDim, seed + 1, 2);
  const v = c.v ?? randomFloats(c.batch * c.lk * c.kvHeads * c.headDim, seed + 2);
  const dOut = randomFloats(q.length, seed + 3);
  const env: MaskEnv = { ...(c.env ?? { data: {} }), dims: { ...(c.env?.dims ?? {}), Lq: c.lq, Lk: c.lk } };
  const kernel = attentionKernelFor(gpu, { headDim: c.headDim, heads: c.heads, kvHeads: c.kvHeads, mask: c.mask, modifiers: c.modifiers, tiles: c.tiles, lse: true });
  const tileClasses = c.classes?.(kernel);
  const run = { batch: c.batch, lq: c.lq, lk: c.lk, q, k, v, maskEnv: env, tileClasses, scoreTable: c.scoreTable };
  const forward = await prepareAttention(gpu, kernel, run);
  let out: Float32Array;
  let lse: Float32Array;
  try {
    await forward.run();
    out = await forward.output();
    lse = await forward.lse();
  } finally {
    forward.destroy();
  }
  const backward = await prepareAttentionBackward(gpu, attentionBackwardFor(kernel, c.modifiers, c.block), { ...run, out, lse, dOut });
  let grads: AttentionGradients;
  try {
    await backward.run();
    grads = await backward.gradients();
  } finally {
    backward.destroy();
  }
  const ref = attentionGradsReference(c, q, k, v, dOut, { mask: c.oracleMask, modifiers: c.modifiers });
  const errors = {
    dq: normRelError(grads.dq, ref.dq),
    dk: normRelError(grads.dk, ref.dk),
    dv: normRelError(grads.dv, ref.dv),
    dTable: ref.dTable ? normRelError(grads.dTable!, ref.dTable) : undefined,
  };
  return { gpu: grads, ref, errors, lse, kernel, data: { q, k, v, dOut } };
}
