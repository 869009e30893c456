// The Llama family's forward pass written from its published definition (Touvron et al. 2023 and transformers'
// modeling_llama / modeling_mistral / modeling_qwen2), in f64, on the checkpoint's own tensors: RMS norm
// x / √(mean(x²) + ε) · w, rotary on the two halves of each head (rotate_half) with θ, grouped-query attention
// (head h reads kv head ⌊h / (heads / kv_heads)⌋), optional sliding window (key j visible to query i when
// i − window < j ≤ i), SwiGLU down(silu(gate(x)) · up(x)), logits from lm_head or the tied embedding.

import type { HfTensors } from './hf-fixtures.ts';
import { softmax } from './gpt2-reference.ts';

export interface LlamaConfig {
  width: number;
  heads: number;
  kvHeads: number;
  layers: number;
  eps: number;
  theta: number;
  window?: number;
}

export function llamaForward(t: HfTensors, cfg: LlamaConfig, ids: number[]): number[][] {
  const get = (n: string) => t.get(n)?.data;
  const need = (n: string) => get(n)!;
  const d = cfg.width;
  const dh = d / cfg.heads;
  const n = ids.length;
  const embed = need('model.embed_tokens.weight');
  let h = ids.map((id) => Array.from(embed.subarray(id * d, (id + 1) * d)));
  for (let l = 0; l < cfg.layers; l++) {
    const p = `model.layers.${l}`;
    const a = h.map((x) => rmsNorm(x, need(`${p}.input_layernorm.weight`), cfg.eps));
    const proj = (which: string) => a.map((x) => linear(x, need(`${p}.self_attn.${which}_proj.weight`), get(`${p}.self_attn.${which}_proj.bias`)));
    const q = proj('q').map((x, pos) => rope(x, cfg.heads, dh, pos, cfg.theta));
    const k = proj('k').map((x, pos) => rope(x, cfg.kvHeads, dh, pos, cfg.theta));
    const v = proj('v');
    const merged = Array.from({ length: n }, () => new Array<number>(d).fill(0));
    const group = cfg.heads / cfg.kvHeads;
    for (let hd = 0; hd < cfg.heads; hd++) {
      const kvh = Math.floor(hd / group);
      for (let i = 0; i < n; i++) {
        const first = cfg.window === undefined ? 0 : Math.max(0, i - cfg.window + 1);
        const keys = Array.from({ length: i + 1 - first }, (_, s) => first + s);
        const scores = keys.map((j) => {
          let dot = 0;
          for (let c = 0; c < dh; c++) dot += q[i][hd * dh + c] * k[j][kvh * dh + c];
          return dot / Math.sqrt(dh);
        });
        const probs = softmax(scores);
        for (let c = 0; c < dh; c++) merged[i][hd * dh + c] = probs.reduce((acc, pr, s) => acc + pr * v[keys[s]][kvh * dh + c], 0);
      }
    }
    h = h.map((x, i) => add(x, linear(merged[i], need(`${p}.self_attn.o_proj.weight`), get(`${p}.self_attn.o_proj.bias`))));
    const m = h.map((x) => rmsNorm(x, need(`${p}.post_attention_layernorm.weight`), cfg.eps));
    h = h.map((x, i) => {
      const gate = linear(m[i], need(`${p}.mlp.gate_proj.weight`), get(`${p}.mlp.gate_proj.bias`));
      const up = linear(m[i], need(`${p}.mlp.up_proj.weight`), get(`${p}.mlp.up_proj.bias`));
      return add(x, linear(gate.map((g, c) => silu(g) * up[c]), need(`${p}.mlp.down_proj.weight`), get(`${p}.mlp.down_proj.bias`)));
    });
  }
  const f = h.map((x) => rmsNorm(x, need('model.norm.weight'), cfg.eps));
  const head = get('lm_head.weight') ?? embed;
  return f.map((x) => linear(x, head, undefined));
}

/** x·Wᵀ + b with W stored `[out, in]` (nn.Linear). */
function linear(x: number[], w: Float64Array, b: Float64Array | undefined): number[] {
  const rows = w.length / x.length;
  return Array.from({ length: rows }, (_, o) => {
    let acc = b ? b[o] : 0;
    for (let i = 0; i < x.length; i++) acc += w[o * x.length + i] * x[i];
    return acc;
  });
}

function rmsNorm(x: number[], w: Float64Array, eps: number): number[] {
  const ms = x.reduce((a, v) => a + v * v, 0) / x.length;
  return x.map((v, i) => (v / Math.sqrt(ms + eps)) * w[i]);
}

/** rotate_half rotary: in each head, dims c and c + dh/2 turn by pos · θ^(−2c/dh). */
function rope(x: number[], heads: number, dh: number, pos: number, theta: number): number[] {
  const out = x.slice();
  const half = dh / 2;
  for (let h = 0; h < heads; h++) {
    for (let c = 0; c < half; c++) {
      const angle = pos * theta ** (-(2 * c) / dh);
      const x1 = x[h * dh + c];
      const x2 = x[h * dh + c + half];
      out[h * dh + c] = x1 * Math.cos(angle) - x2 * Math.sin(angle);
      out[h * dh + c + half] = x2 * Math.cos(angle) + x1 * Math.sin(angle);
    }
  }
  return out;
}

const add = (a: number[], b: number[]) => a.map((v, i) => v + b[i]);
const silu = (x: number) => x / (1 + Math.exp(-x));
