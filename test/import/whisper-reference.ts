// Whisper's text decoder written from its published definition (Radford et al. 2022 and transformers'
// modeling_whisper), in f64, on the checkpoint's own tensors: token embedding plus learned position, pre-norm
// layers (self-attention, cross-attention to the audio encoder's output, erf-GELU feed-forward) with layer norms,
// no k_proj bias, q·k scaled by d_head^−½, a final layer norm, logits from the token embedding.

import type { HfTensors } from './hf-fixtures.ts';
import { layerNorm, softmax } from './gpt2-reference.ts';

export interface WhisperConfig {
  width: number;
  heads: number;
  layers: number;
}

/** Logits `[ids.length][vocab]` for text `ids` reading `audio` (`[frames][d_model]`, the encoder's output). */
export function whisperDecoderForward(t: HfTensors, cfg: WhisperConfig, audio: number[][], ids: number[]): number[][] {
  const get = (n: string) => t.get(n)?.data;
  const need = (n: string) => get(n)!;
  const d = cfg.width;
  const tok = need('model.decoder.embed_tokens.weight');
  const pos = need('model.decoder.embed_positions.weight');
  let h = ids.map((id, p) => Array.from({ length: d }, (_, j) => tok[id * d + j] + pos[p * d + j]));
  const ln = (x: number[][], p: string) => x.map((r) => layerNorm(r, need(`${p}.weight`), need(`${p}.bias`), 1e-5));
  const add = (a: number[][], b: number[][]) => a.map((r, i) => r.map((v, j) => v + b[i][j]));
  const linear = (x: number[], p: string) => {
    const w = need(`${p}.weight`);
    const b = get(`${p}.bias`);
    return Array.from({ length: w.length / x.length }, (_, o) => x.reduce((acc, xi, i) => acc + w[o * x.length + i] * xi, b ? b[o] : 0));
  };
  const attention = (p: string, x: number[][], kv: number[][], causal: boolean) => {
    const dh = d / cfg.heads;
    const q = x.map((r) => linear(r, `${p}.q_proj`).map((v) => v / Math.sqrt(dh)));
    const k = kv.map((r) => linear(r, `${p}.k_proj`));
    const v = kv.map((r) => linear(r, `${p}.v_proj`));
    const merged = x.map(() => new Array<number>(d).fill(0));
    for (let hd = 0; hd < cfg.heads; hd++) {
      for (let i = 0; i < x.length; i++) {
        const n = causal ? i + 1 : kv.length;
        const probs = softmax(Array.from({ length: n }, (_, j) => q[i].slice(hd * dh, (hd + 1) * dh).reduce((acc, qc, c) => acc + qc * k[j][hd * dh + c], 0)));
        for (let c = 0; c < dh; c++) merged[i][hd * dh + c] = probs.reduce((acc, pr, j) => acc + pr * v[j][hd * dh + c], 0);
      }
    }
    return merged.map((r) => linear(r, `${p}.out_proj`));
  };
  for (let l = 0; l < cfg.layers; l++) {
    const p = `model.decoder.layers.${l}`;
    h = add(h, attention(`${p}.self_attn`, ln(h, `${p}.self_attn_layer_norm`), ln(h, `${p}.self_attn_layer_norm`), true));
    h = add(h, attention(`${p}.encoder_attn`, ln(h, `${p}.encoder_attn_layer_norm`), audio, false));
    h = add(h, ln(h, `${p}.final_layer_norm`).map((r) => linear(linear(r, `${p}.fc1`).map(geluErf), `${p}.fc2`)));
  }
  const f = ln(h, 'model.decoder.layer_norm');
  return f.map((r) => Array.from({ length: tok.length / d }, (_, vtok) => r.reduce((acc, x, j) => acc + x * tok[vtok * d + j], 0)));
}

/** The exact GELU, x·Φ(x) = x/2 · (1 + erf(x/√2)). */
export function geluErf(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

/**
 * erf to about 1e-14: its Taylor series below |z| = 2.5 (terms peak near 100, so little is lost to cancellation),
 * and above it 1 − erfc(z) with erfc from its continued fraction e^(−z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/…))).
 */
function erf(z: number): number {
  if (Math.abs(z) < 2.5) {
    let term = z;
    let sum = z;
    for (let n = 1; n < 60; n++) {
      term *= (-z * z) / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  const a = Math.abs(z);
  let t = a;
  for (let n = 80; n >= 1; n--) t = a + n / 2 / t;
  const erfc = Math.exp(-a * a) / Math.sqrt(Math.PI) / t;
  return Math.sign(z) * (1 - erfc);
}
