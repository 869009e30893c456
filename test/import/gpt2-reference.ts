// GPT-2's forward pass written from its published definition (Radford et al. 2019 and transformers' modeling_gpt2),
// in f64, straight on the checkpoint's own tensors: Conv1D weights `[in, out]` used as x·W + b, the fused c_attn
// sliced per head, no embedding scale, tanh GELU, layer norm with a biased variance. It shares nothing with mdl.

import type { HfTensors } from './hf-fixtures.ts';

export interface Gpt2Config {
  width: number;
  heads: number;
  layers: number;
  eps: number;
}

/** Logits `[ids.length][vocab]` of every position. */
export function gpt2Forward(t: HfTensors, cfg: Gpt2Config, ids: number[], prefix = 'transformer.'): number[][] {
  const get = (n: string) => t.get(prefix + n)!.data;
  const d = cfg.width;
  const n = ids.length;
  const wte = get('wte.weight');
  const wpe = get('wpe.weight');
  let h = ids.map((id, p) => Array.from({ length: d }, (_, j) => wte[id * d + j] + wpe[p * d + j]));
  for (let l = 0; l < cfg.layers; l++) {
    const b = `h.${l}`;
    const a = h.map((x) => layerNorm(x, get(`${b}.ln_1.weight`), get(`${b}.ln_1.bias`), cfg.eps));
    const qkv = a.map((x) => conv1d(x, get(`${b}.attn.c_attn.weight`), get(`${b}.attn.c_attn.bias`)));
    const dh = d / cfg.heads;
    const merged = Array.from({ length: n }, () => new Array<number>(d).fill(0));
    for (let hd = 0; hd < cfg.heads; hd++) {
      const q = (p: number, j: number) => qkv[p][hd * dh + j];
      const k = (p: number, j: number) => qkv[p][d + hd * dh + j];
      const v = (p: number, j: number) => qkv[p][2 * d + hd * dh + j];
      for (let i = 0; i < n; i++) {
        // Causal: position i sees 0..i.
        const scores = Array.from({ length: i + 1 }, (_, s) => {
          let dot = 0;
          for (let j = 0; j < dh; j++) dot += q(i, j) * k(s, j);
          return dot / Math.sqrt(dh);
        });
        const probs = softmax(scores);
        for (let j = 0; j < dh; j++) merged[i][hd * dh + j] = probs.reduce((acc, pr, s) => acc + pr * v(s, j), 0);
      }
    }
    h = h.map((x, i) => add(x, conv1d(merged[i], get(`${b}.attn.c_proj.weight`), get(`${b}.attn.c_proj.bias`))));
    const m = h.map((x) => layerNorm(x, get(`${b}.ln_2.weight`), get(`${b}.ln_2.bias`), cfg.eps));
    h = h.map((x, i) => add(x, conv1d(conv1d(m[i], get(`${b}.mlp.c_fc.weight`), get(`${b}.mlp.c_fc.bias`)).map(geluNew), get(`${b}.mlp.c_proj.weight`), get(`${b}.mlp.c_proj.bias`))));
  }
  const f = h.map((x) => layerNorm(x, get('ln_f.weight'), get('ln_f.bias'), cfg.eps));
  const vocab = wte.length / d;
  return f.map((x) => Array.from({ length: vocab }, (_, v) => x.reduce((acc, xi, j) => acc + xi * wte[v * d + j], 0)));
}

/** x·W + b with W stored `[in, out]` (Conv1D). */
function conv1d(x: number[], w: Float64Array, b: Float64Array): number[] {
  const out = Array.from(b);
  const cols = b.length;
  for (let i = 0; i < x.length; i++) for (let j = 0; j < cols; j++) out[j] += x[i] * w[i * cols + j];
  return out;
}

export function layerNorm(x: number[], w: Float64Array, b: Float64Array, eps: number): number[] {
  const mean = x.reduce((a, v) => a + v, 0) / x.length;
  const variance = x.reduce((a, v) => a + (v - mean) ** 2, 0) / x.length;
  return x.map((v, i) => ((v - mean) / Math.sqrt(variance + eps)) * w[i] + b[i]);
}

export function softmax(x: number[]): number[] {
  const max = Math.max(...x);
  const e = x.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / sum);
}

const add = (a: number[], b: number[]) => a.map((v, i) => v + b[i]);

/** GPT-2's gelu_new: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))). */
const geluNew = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
