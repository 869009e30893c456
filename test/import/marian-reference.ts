// Marian's forward pass written from its published definition (Junczys-Dowmunt et al. 2018 and transformers'
// modeling_marian), in f64, on the checkpoint's own tensors: embeddings × √d_model plus sinusoidal positions
// [sin(p·f_i) for i < d/2, then cos(p·f_i)] with f_i = 10000^(−2i/d); post-norm layers x = LN(x + sublayer(x)) with
// biased projections, q scaled by d_head^−½; SiLU feed-forward; logits from the shared table plus final_logits_bias.

import type { HfTensors } from './hf-fixtures.ts';
import { layerNorm, softmax } from './gpt2-reference.ts';

export interface MarianConfig {
  width: number;
  heads: number;
  layers: number;
}

export function marianForward(t: HfTensors, cfg: MarianConfig, source: number[], decoderIds: number[]): number[][] {
  const get = (n: string) => t.get(n)!.data;
  const d = cfg.width;
  const shared = get('model.shared.weight');
  const embed = (ids: number[]) =>
    ids.map((id, p) =>
      Array.from({ length: d }, (_, j) => {
        const i = j < d / 2 ? j : j - d / 2;
        const angle = p / 10000 ** ((2 * i) / d);
        return shared[id * d + j] * Math.sqrt(d) + (j < d / 2 ? Math.sin(angle) : Math.cos(angle));
      }),
    );
  const ln = (x: number[][], p: string) => x.map((r) => layerNorm(r, get(`${p}.weight`), get(`${p}.bias`), 1e-5));
  const add = (a: number[][], b: number[][]) => a.map((r, i) => r.map((v, j) => v + b[i][j]));
  const ffn = (x: number[][], p: string) => x.map((r) => linear(linear(r, get(`${p}.fc1.weight`), get(`${p}.fc1.bias`)).map(silu), get(`${p}.fc2.weight`), get(`${p}.fc2.bias`)));

  let h = embed(source);
  for (let l = 0; l < cfg.layers; l++) {
    const p = `model.encoder.layers.${l}`;
    h = ln(add(h, attention(t, `${p}.self_attn`, cfg, h, h, false)), `${p}.self_attn_layer_norm`);
    h = ln(add(h, ffn(h, p)), `${p}.final_layer_norm`);
  }
  let y = embed(decoderIds);
  for (let l = 0; l < cfg.layers; l++) {
    const p = `model.decoder.layers.${l}`;
    y = ln(add(y, attention(t, `${p}.self_attn`, cfg, y, y, true)), `${p}.self_attn_layer_norm`);
    y = ln(add(y, attention(t, `${p}.encoder_attn`, cfg, y, h, false)), `${p}.encoder_attn_layer_norm`);
    y = ln(add(y, ffn(y, p)), `${p}.final_layer_norm`);
  }
  const bias = get('final_logits_bias');
  return y.map((r) => linear(r, shared, bias));
}

function attention(t: HfTensors, p: string, cfg: MarianConfig, x: number[][], kv: number[][], causal: boolean): number[][] {
  const get = (n: string) => t.get(n)!.data;
  const dh = cfg.width / cfg.heads;
  const q = x.map((r) => linear(r, get(`${p}.q_proj.weight`), get(`${p}.q_proj.bias`)).map((v) => v / Math.sqrt(dh)));
  const k = kv.map((r) => linear(r, get(`${p}.k_proj.weight`), get(`${p}.k_proj.bias`)));
  const v = kv.map((r) => linear(r, get(`${p}.v_proj.weight`), get(`${p}.v_proj.bias`)));
  const merged = x.map(() => new Array<number>(cfg.width).fill(0));
  for (let h = 0; h < cfg.heads; h++) {
    for (let i = 0; i < x.length; i++) {
      const keys = causal ? i + 1 : kv.length;
      const scores = Array.from({ length: keys }, (_, j) => {
        let dot = 0;
        for (let c = 0; c < dh; c++) dot += q[i][h * dh + c] * k[j][h * dh + c];
        return dot;
      });
      const probs = softmax(scores);
      for (let c = 0; c < dh; c++) merged[i][h * dh + c] = probs.reduce((acc, pr, j) => acc + pr * v[j][h * dh + c], 0);
    }
  }
  return merged.map((r) => linear(r, get(`${p}.out_proj.weight`), get(`${p}.out_proj.bias`)));
}

function linear(x: number[], w: Float64Array, b: Float64Array): number[] {
  const rows = w.length / x.length;
  return Array.from({ length: rows }, (_, o) => {
    let acc = b[o];
    for (let i = 0; i < x.length; i++) acc += w[o * x.length + i] * x[i];
    return acc;
  });
}

const silu = (x: number) => x / (1 + Math.exp(-x));
