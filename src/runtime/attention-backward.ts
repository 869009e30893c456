// The gradient of the CPU reference's attention (cpu-interpreter.ts), in f64, from its definition:
//
//   q', k' = rope(q), rope(k) when the model uses rotary positions
//   raw_j  = q'·k'_j / sqrt(hd) for every visible key j;  s_j = modifiers(raw_j);  p = softmax(s);  o = Σ_j p_j v_j
//
// so dv_j = p_j do, dp_j = do·v_j, ds_j = p_j (dp_j − Σ_l p_l dp_l), and raw_j's gradient is ds_j times the
// derivative of the modifier chain (softcap's 1 − tanh², 1 for additive ones). A relative-bias table entry
// receives ds_j times the derivative of the modifiers after it, accumulated per (bucket, head) in (b, h, q, k)
// order. Query head h reads kv head floor(h / group), so dK and dV sum over the query heads of a group. Hidden
// keys get nothing, and a row that sees no key has a zero output and therefore zero gradient. The rotation's
// gradient is the inverse rotation.

import type { Rotary } from '../ir/ir.ts';
import type { AttentionShape } from '../wgsl/attention.ts';
import { rope } from './rotary-cpu.ts';
import { relativeBucket } from '../wgsl/relative-bias.ts';
import { alibiBias, type ScoreModifier } from '../wgsl/score-modifiers.ts';
import type { ScoreIndex } from '../wgsl/score-modifiers.ts';

export interface AttentionBackwardInput extends AttentionShape {
  /** Rotary positions applied to q and k before the scores, if any. */
  rotary?: Rotary;
  /** Multiplies q·k before the modifiers. */
  scale: number;
  visible: (b: number, h: number, q: number, k: number) => boolean;
  modifiers: readonly ScoreModifier[];
  q: Float64Array;
  k: Float64Array;
  v: Float64Array;
  /** The relative-bias table [buckets, heads], when a modifier reads one. */
  table?: Float64Array;
  dOut: Float64Array;
}

export interface AttentionGrads {
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
  dTable?: Float64Array;
}

/** The modified score and its derivatives: with respect to the raw score, and to each table entry added. */
export function modifierChain(raw: number, mods: readonly ScoreModifier[], at: ScoreIndex): { s: number; dRaw: number; slots: { index: number; d: number }[] } {
  let s = raw;
  const local: number[] = [];
  const slotAt: { step: number; index: number }[] = [];
  mods.forEach((m, step) => {
    switch (m.kind) {
      case 'alibi':
        s += alibiBias(m, at);
        local.push(1);
        break;
      case 'softcap': {
        const t = Math.tanh(s / m.cap);
        s = m.cap * t;
        local.push(1 - t * t);
        break;
      }
      case 'relative_bias': {
        if (!m.table) throw new Error('relative_bias needs its table');
        const index = relativeBucket(at.k - at.q, m) * m.heads + at.h;
        s += m.table[index];
        slotAt.push({ step, index });
        local.push(1);
        break;
      }
    }
  });
  const after = (step: number) => local.slice(step + 1).reduce((p, x) => p * x, 1);
  return { s, dRaw: after(-1), slots: slotAt.map(({ step, index }) => ({ index, d: after(step) })) };
}

export function attentionBackward(a: AttentionBackwardInput): AttentionGrads {
  const { batch, lq, lk, heads, kvHeads, headDim: hd } = a;
  const r = a.rotary;
  const q = r ? rope(a.q, batch * lq, heads, hd, lq, r) : a.q;
  const k = r ? rope(a.k, batch * lk, kvHeads, hd, lk, r) : a.k;
  const mods = a.modifiers.map((m) => (m.kind === 'relative_bias' ? { ...m, table: a.table } : m));
  const dq = new Float64Array(q.length);
  const dk = new Float64Array(k.length);
  const dv = new Float64Array(a.v.length);
  const dTable = a.table ? new Float64Array(a.table.length) : undefined;
  const scale = a.scale;
  const group = heads / kvHeads;
  const p = new Float64Array(lk);
  const dRaw = new Float64Array(lk);
  const seen = new Uint8Array(lk);
  const slots: { index: number; d: number }[][] = [];
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const kh = Math.floor(h / group);
      for (let i = 0; i < lq; i++) {
        const qo = ((b * lq + i) * heads + h) * hd;
        let max = -Infinity;
        for (let j = 0; j < lk; j++) {
          seen[j] = a.visible(b, h, i, j) ? 1 : 0;
          if (!seen[j]) continue;
          const ko = ((b * lk + j) * kvHeads + kh) * hd;
          let raw = 0;
          for (let d = 0; d < hd; d++) raw += q[qo + d] * k[ko + d];
          const c = modifierChain(raw * scale, mods, { b, h, q: i, k: j, Lq: lq, Lk: lk });
          p[j] = c.s;
          dRaw[j] = c.dRaw;
          slots[j] = c.slots;
          if (c.s > max) max = c.s;
        }
        if (max === -Infinity) continue; // no visible key: the output row is 0 whatever the inputs, so no gradient
        let sum = 0;
        for (let j = 0; j < lk; j++) if (seen[j]) sum += Math.exp(p[j] - max);
        let dot = 0; // Σ_l p_l dp_l
        const dp = new Float64Array(lk);
        for (let j = 0; j < lk; j++) {
          if (!seen[j]) continue;
          p[j] = Math.exp(p[j] - max) / sum;
          const vo = ((b * lk + j) * kvHeads + kh) * hd;
          for (let d = 0; d < hd; d++) {
            dp[j] += a.dOut[qo + d] * a.v[vo + d];
            dv[vo + d] += p[j] * a.dOut[qo + d];
          }
          dot += p[j] * dp[j];
        }
        for (let j = 0; j < lk; j++) {
          if (!seen[j]) continue;
          const ds = p[j] * (dp[j] - dot);
          if (dTable) for (const sl of slots[j]) dTable[sl.index] += ds * sl.d;
          const g = ds * dRaw[j] * scale;
          const ko = ((b * lk + j) * kvHeads + kh) * hd;
          for (let d = 0; d < hd; d++) {
            dq[qo + d] += g * k[ko + d];
            dk[ko + d] += g * q[qo + d];
          }
        }
      }
    }
  }
  return {
    dq: r ? rope(dq, batch * lq, heads, hd, lq, r, 0, -1) : dq,
    dk: r ? rope(dk, batch * lk, kvHeads, hd, lk, r, 0, -1) : dk,
    dv,
    dTable,
  };
}

/** The interpreter's rotary rotation (direction 1) or its inverse, the transpose (direction -1). */
