// T5's forward pass written from its published definition (Raffel et al. 2020 and transformers' modeling_t5), in f64,
// on the checkpoint's own tensors: RMS norms without bias, scores not divided by √d_kv, a learned relative-position
// bias per stack (bucketed as T5 buckets k − q: half the buckets per direction in the encoder, only the past in the
// decoder; exact below max_exact, logarithmic up to max_distance), ReLU, gated-GELU (tanh) or gated-SiLU feed-forward, and with
// tied embeddings the decoder output scaled by d_model^−½ before the shared table.

import type { HfTensors } from './hf-fixtures.ts';
import { softmax } from './gpt2-reference.ts';

export interface T5Config {
  width: number;
  heads: number;
  layers: number;
  buckets: number;
  maxDistance: number;
  eps: number;
  ff: 'relu' | 'gated-gelu' | 'gated-silu';
  tied: boolean;
}

/** Logits `[decoderIds.length][vocab]`, the decoder reading `decoderIds` (starting with the start token). */
export function t5Forward(t: HfTensors, cfg: T5Config, source: number[], decoderIds: number[]): number[][] {
  const get = (n: string) => t.get(n)!.data;
  const d = cfg.width;
  const shared = get('shared.weight');
  const embed = (ids: number[]) => ids.map((id) => Array.from(shared.subarray(id * d, (id + 1) * d)));

  let h = embed(source);
  const encBias = get('encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight');
  for (let l = 0; l < cfg.layers; l++) {
    const b = `encoder.block.${l}.layer`;
    const a = h.map((x) => rmsNorm(x, get(`${b}.0.layer_norm.weight`), cfg.eps));
    h = add(h, attention(t, `${b}.0.SelfAttention`, cfg, a, a, (q, k, hd) => encBias[bucket(k - q, true, cfg) * cfg.heads + hd]));
    h = add(h, feedForward(t, `${b}.1.DenseReluDense`, cfg, h.map((x) => rmsNorm(x, get(`${b}.1.layer_norm.weight`), cfg.eps))));
  }
  const memory = h.map((x) => rmsNorm(x, get('encoder.final_layer_norm.weight'), cfg.eps));

  let y = embed(decoderIds);
  const decBias = get('decoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight');
  for (let l = 0; l < cfg.layers; l++) {
    const b = `decoder.block.${l}.layer`;
    const a = y.map((x) => rmsNorm(x, get(`${b}.0.layer_norm.weight`), cfg.eps));
    // Causal: keys after the query get −∞.
    y = add(y, attention(t, `${b}.0.SelfAttention`, cfg, a, a, (q, k, hd) => (k > q ? -Infinity : decBias[bucket(k - q, false, cfg) * cfg.heads + hd])));
    const c = y.map((x) => rmsNorm(x, get(`${b}.1.layer_norm.weight`), cfg.eps));
    y = add(y, attention(t, `${b}.1.EncDecAttention`, cfg, c, memory, () => 0));
    y = add(y, feedForward(t, `${b}.2.DenseReluDense`, cfg, y.map((x) => rmsNorm(x, get(`${b}.2.layer_norm.weight`), cfg.eps))));
  }
  const out = y.map((x) => rmsNorm(x, get('decoder.final_layer_norm.weight'), cfg.eps).map((v) => (cfg.tied ? v * d ** -0.5 : v)));
  const head = cfg.tied ? shared : get('lm_head.weight');
  return out.map((x) => linear(x, head));
}

/** Multi-head attention without score scaling; `bias(q, k, head)` is added to each score (the bias table is `[buckets, heads]`). */
function attention(t: HfTensors, p: string, cfg: T5Config, x: number[][], kv: number[][], bias: (q: number, k: number, head: number) => number): number[][] {
  const get = (n: string) => t.get(n)!.data;
  const dh = cfg.width / cfg.heads;
  const q = x.map((r) => linear(r, get(`${p}.q.weight`)));
  const k = kv.map((r) => linear(r, get(`${p}.k.weight`)));
  const v = kv.map((r) => linear(r, get(`${p}.v.weight`)));
  const merged = x.map(() => new Array<number>(cfg.width).fill(0));
  for (let h = 0; h < cfg.heads; h++) {
    for (let i = 0; i < x.length; i++) {
      const scores = kv.map((_, j) => {
        let dot = 0;
        for (let c = 0; c < dh; c++) dot += q[i][h * dh + c] * k[j][h * dh + c];
        return dot + bias(i, j, h);
      });
      const probs = softmax(scores);
      for (let c = 0; c < dh; c++) merged[i][h * dh + c] = probs.reduce((acc, pr, j) => acc + pr * v[j][h * dh + c], 0);
    }
  }
  return merged.map((r) => linear(r, get(`${p}.o.weight`)));
}

/** T5's bucket of a relative position k − q. */
export function bucket(relative: number, bidirectional: boolean, cfg: { buckets: number; maxDistance: number }): number {
  let n = cfg.buckets;
  let out = 0;
  let distance: number;
  if (bidirectional) {
    n = Math.floor(n / 2);
    if (relative > 0) out += n;
    distance = Math.abs(relative);
  } else distance = Math.max(0, -relative);
  const maxExact = Math.floor(n / 2);
  if (distance < maxExact) return out + distance;
  const large = maxExact + Math.trunc((Math.log(distance / maxExact) / Math.log(cfg.maxDistance / maxExact)) * (n - maxExact));
  return out + Math.min(large, n - 1);
}

function feedForward(t: HfTensors, p: string, cfg: T5Config, x: number[][]): number[][] {
  const get = (n: string) => t.get(n)!.data;
  return x.map((r) => {
    const act = cfg.ff === 'gated-gelu' ? geluNew : silu;
    const hidden = cfg.ff !== 'relu' ? linear(r, get(`${p}.wi_0.weight`)).map((g, i) => act(g) * linear(r, get(`${p}.wi_1.weight`))[i]) : linear(r, get(`${p}.wi.weight`)).map((v) => Math.max(0, v));
    return linear(hidden, get(`${p}.wo.weight`));
  });
}

function linear(x: number[], w: Float64Array): number[] {
  const rows = w.length / x.length;
  return Array.from({ length: rows }, (_, o) => {
    let acc = 0;
    for (let i = 0; i < x.length; i++) acc += w[o * x.length + i] * x[i];
    return acc;
  });
}

function rmsNorm(x: number[], w: Float64Array, eps: number): number[] {
  const ms = x.reduce((a, v) => a + v * v, 0) / x.length;
  return x.map((v, i) => (v / Math.sqrt(ms + eps)) * w[i]);
}

const add = (a: number[][], b: number[][]) => a.map((r, i) => r.map((v, j) => v + b[i][j]));
const silu = (x: number) => x / (1 + Math.exp(-x));
const geluNew = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
