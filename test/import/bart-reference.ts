// BART's forward pass written from its published definition (Lewis et al. 2019 and transformers' modeling_bart), in
// f64, on the checkpoint's own tensors: token embeddings (× √d_model only with scale_embedding) plus the stack's own
// learned position p read at row p + 2 of its table, then layernorm_embedding; post-norm layers
// x = LN(x + sublayer(x)) with biased projections, q scaled by d_head^−½; exact GELU x·Φ(x) feed-forward (Φ by
// Simpson quadrature of the normal density, sharing nothing with mdl); logits from the shared table plus
// final_logits_bias.

import type { HfTensors } from './hf-fixtures.ts';
import { layerNorm, softmax } from './gpt2-reference.ts';

export interface BartReferenceConfig {
  width: number;
  heads: number;
  layers: number;
  scaleEmbedding: boolean;
}

export function bartForward(t: HfTensors, cfg: BartReferenceConfig, source: number[], decoderIds: number[]): number[][] {
  const get = (n: string) => t.get(n)!.data;
  const d = cfg.width;
  const shared = get('model.shared.weight');
  const scale = cfg.scaleEmbedding ? Math.sqrt(d) : 1;
  const ln = (x: number[][], p: string) => x.map((r) => layerNorm(r, get(`${p}.weight`), get(`${p}.bias`), 1e-5));
  const embed = (ids: number[], stack: string) => {
    const table = get(`model.${stack}.embed_positions.weight`);
    const x = ids.map((id, p) => Array.from({ length: d }, (_, j) => shared[id * d + j] * scale + table[(p + 2) * d + j]));
    return ln(x, `model.${stack}.layernorm_embedding`);
  };
  const add = (a: number[][], b: number[][]) => a.map((r, i) => r.map((v, j) => v + b[i][j]));
  const ffn = (x: number[][], p: string) => x.map((r) => linear(linear(r, get(`${p}.fc1.weight`), get(`${p}.fc1.bias`)).map(gelu), get(`${p}.fc2.weight`), get(`${p}.fc2.bias`)));

  let h = embed(source, 'encoder');
  for (let l = 0; l < cfg.layers; l++) {
    const p = `model.encoder.layers.${l}`;
    h = ln(add(h, attention(t, `${p}.self_attn`, cfg, h, h, false)), `${p}.self_attn_layer_norm`);
    h = ln(add(h, ffn(h, p)), `${p}.final_layer_norm`);
  }
  let y = embed(decoderIds, 'decoder');
  for (let l = 0; l < cfg.layers; l++) {
    const p = `model.decoder.layers.${l}`;
    y = ln(add(y, attention(t, `${p}.self_attn`, cfg, y, y, true)), `${p}.self_attn_layer_norm`);
    y = ln(add(y, attention(t, `${p}.encoder_attn`, cfg, y, h, false)), `${p}.encoder_attn_layer_norm`);
    y = ln(add(y, ffn(y, p)), `${p}.final_layer_norm`);
  }
  const bias = get('final_logits_bias');
  return y.map((r) => linear(r, shared, bias));
}

function attention(t: HfTensors, p: string, cfg: BartReferenceConfig, x: number[][], kv: number[][], causal: boolean): number[][] {
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

/** x·Φ(x), Φ(x) = ½ + ∫₀ˣ φ(t) dt by composite Simpson with 2000 intervals (error far below 1e-12 here). */
function gelu(x: number): number {
  const n = 2000;
  const hstep = x / n;
  const phi = (u: number) => Math.exp(-(u * u) / 2) / Math.sqrt(2 * Math.PI);
  let s = phi(0) + phi(x);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * phi(i * hstep);
  return x * (0.5 + (s * hstep) / 3);
}
