// The CPU reference for masked attention: direct two-pass softmax in f64 with the kernel's layouts and semantics. It is
// the oracle the GPU kernel is tested against, so it favours being obviously right over being fast.
//
// Layouts (row-major): Q [B, Lq, H, D], K and V [B, Lk, kvHeads, D], output [B, Lq, H, D].
// Query head h reads kv head floor(h / (H / kvHeads)). A row with no visible key outputs zeros.

import type { AttentionShape } from '../wgsl/attention.ts';
import { applyModifiersCpu, type ScoreModifier } from '../wgsl/score-modifiers.ts';

export type { AttentionShape };

/** `true` when query q of head h in batch row b may attend to key k (the kernel contract's polarity). */
export type MaskFn = (b: number, h: number, q: number, k: number) => boolean;

export interface AttentionCpuOptions {
  mask?: MaskFn;
  modifiers?: readonly ScoreModifier[];
  /** Default 1/sqrt(headDim). */
  scale?: number;
}

/** Scores at or below this count as masked, matching the kernel's sentinel handling (a -inf bias hides a key). */
export const MASKED_SCORE_FLOOR = -1e38;

type Floats = ArrayLike<number>;

export function checkAttentionShape(s: AttentionShape, q: Floats, k: Floats, v: Floats): void {
  for (const key of ['batch', 'lq', 'lk', 'heads', 'kvHeads', 'headDim'] as const) {
    if (!Number.isInteger(s[key]) || s[key] < 1) throw new Error(`attention ${key} must be a positive integer, got ${s[key]}`);
  }
  if (s.heads % s.kvHeads !== 0) throw new Error(`kv heads (${s.kvHeads}) must divide query heads (${s.heads})`);
  const qLen = s.batch * s.lq * s.heads * s.headDim;
  const kvLen = s.batch * s.lk * s.kvHeads * s.headDim;
  if (q.length !== qLen) throw new Error(`Q has ${q.length} values, expected B·Lq·H·D = ${qLen}`);
  if (k.length !== kvLen) throw new Error(`K has ${k.length} values, expected B·Lk·kvH·D = ${kvLen}`);
  if (v.length !== kvLen) throw new Error(`V has ${v.length} values, expected B·Lk·kvH·D = ${kvLen}`);
}

export function attentionCpu(shape: AttentionShape, q: Floats, k: Floats, v: Floats, options: AttentionCpuOptions = {}): Float64Array {
  checkAttentionShape(shape, q, k, v);
  const { batch, lq, lk, heads, kvHeads, headDim: d } = shape;
  const scale = options.scale ?? 1 / Math.sqrt(d);
  const modifiers = options.modifiers ?? [];
  const mask = options.mask;
  const group = heads / kvHeads;
  const out = new Float64Array(batch * lq * heads * d);
  const scores = new Float64Array(lk);
  const visible = new Uint8Array(lk);

  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      const kvh = Math.floor(h / group);
      for (let qi = 0; qi < lq; qi++) {
        const qBase = ((b * lq + qi) * heads + h) * d;
        let max = -Infinity;
        for (let ki = 0; ki < lk; ki++) {
          visible[ki] = 0;
          if (mask && !mask(b, h, qi, ki)) continue;
          const kBase = ((b * lk + ki) * kvHeads + kvh) * d;
          let dot = 0;
          for (let i = 0; i < d; i++) dot += q[qBase + i] * k[kBase + i];
          const s = applyModifiersCpu(dot * scale, modifiers, { b, h, q: qi, k: ki, Lq: lq, Lk: lk });
          if (!(s > MASKED_SCORE_FLOOR)) continue;
          scores[ki] = s;
          visible[ki] = 1;
          if (s > max) max = s;
        }
        if (max === -Infinity) continue; // no visible key: the row stays zero
        let sum = 0;
        for (let ki = 0; ki < lk; ki++) {
          if (!visible[ki]) continue;
          const p = Math.exp(scores[ki] - max);
          sum += p;
          const vBase = ((b * lk + ki) * kvHeads + kvh) * d;
          for (let i = 0; i < d; i++) out[qBase + i] += p * v[vBase + i];
        }
        for (let i = 0; i < d; i++) out[qBase + i] /= sum;
      }
    }
  }
  return out;
}
