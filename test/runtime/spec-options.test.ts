// The spec options on the CPU reference: each new formula against an independent computation written here from its
// published definition (erf by quadrature, Llama's rotate_half, Marian's sin|cos table, BART's offset rows), and whole
// models that set every option against central finite differences of their own forward loss (f64, ≤ 1e-6).

import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { sym } from '../../src/check/sym.ts';
import { buildIr } from '../../src/ir/build.ts';
import type { IrGraph } from '../../src/ir/ir.ts';
import { interpret } from '../../src/runtime/cpu-interpreter.ts';
import { erf, geluErf, geluErfGrad } from '../../src/runtime/erf.ts';
import { rope } from '../../src/runtime/rotary-cpu.ts';
import { checkModelGradients, modelCase, randomTensor, rng } from '../support/finite-differences.ts';

/** 2/√π ∫₀ˣ e^(−t²) dt by composite Simpson with 20000 intervals: an erf that shares nothing with the code. */
function erfByQuadrature(x: number): number {
  const n = 20000;
  const h = x / n;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return ((s * h) / 3) * (2 / Math.sqrt(Math.PI));
}

/** Every parameter filled with uniform values of the given size. */
function randomWeights(g: IrGraph, scale: number): Map<string, Float64Array> {
  const r = rng(7);
  const params = g.nodes.filter((n) => n.op === 'param');
  return new Map(params.map((n) => [n.id.slice(1), randomTensor(n.shape.reduce((p, d) => p * sym.asConstant(d)!, 1), r, scale)]));
}

function model(text: string) {
  const r = checkSource(text, 'spec.mdl');
  if (!r.model) throw new Error(r.diagnostics.map((d) => `${d.code} ${d.message}`).join('\n'));
  return r.model;
}

const lm = (embed: string, stack: string, layers: string, extra = '') => `model t {
  dim vocab = 11, d_model = 16, heads = 2, d_ff = 12
  dim B, T <= 12
  input ids: tokens[B, T] pad 0
  ${extra}
  embed ${embed}
  stack decoder x 2 on ids (${stack}) {
    ${layers}
  }
  output logits = project(decoder, vocab)
  loss lm = cross_entropy(logits, labels = next(ids))
}`;

describe('exact GELU', () => {
  it('erf agrees with quadrature and with tabulated values', () => {
    for (const x of [-3.2, -1.7, -0.4, 0, 0.05, 0.5, 1, 1.9, 2.49, 2.51, 3.3, 4.5]) expect(Math.abs(erf(x) - erfByQuadrature(x))).toBeLessThan(1e-13);
    // Abramowitz and Stegun, table 7.1.
    expect(erf(1)).toBeCloseTo(0.8427007929497149, 15);
    expect(erf(2)).toBeCloseTo(0.9953222650189527, 15);
  });

  it('gelu_erf is x·Φ(x), and its derivative matches central differences', () => {
    for (const x of [-4, -1.3, -0.2, 0, 0.7, 2.2, 5]) {
      expect(Math.abs(geluErf(x) - 0.5 * x * (1 + erfByQuadrature(x / Math.SQRT2)))).toBeLessThan(1e-13);
      const h = 1e-6;
      expect(Math.abs(geluErfGrad(x) - (geluErf(x + h) - geluErf(x - h)) / (2 * h))).toBeLessThan(1e-8);
    }
  });

  it('an ffn with gelu_erf runs the exact form (it differs from the tanh form)', () => {
    const text = lm('tokens: learned(vocab, d_model), positions: none', 'norm = pre layer', 'ffn d_ff gelu_erf');
    const m = model(text);
    const g = buildIr(m);
    const act = g.nodes.find((n) => n.op === 'act')!;
    expect(act.op === 'act' && act.attrs.fn).toBe('gelu_erf');
    const weights = randomWeights(g, 2);
    const values = interpret(g, m, { dims: { B: 1, T: 3 }, inputs: { ids: Int32Array.from([3, 4, 5]) }, weights });
    const up = values.get(act.args[0])!;
    const out = values.get(act.id)!;
    let tanhDiffers = false;
    for (let i = 0; i < up.length; i++) {
      expect(Math.abs(out[i] - 0.5 * up[i] * (1 + erfByQuadrature(up[i] / Math.SQRT2)))).toBeLessThan(1e-12);
      const c = Math.sqrt(2 / Math.PI) * (up[i] + 0.044715 * up[i] ** 3);
      if (Math.abs(out[i] - 0.5 * up[i] * (1 + Math.tanh(c))) > 1e-5) tanhDiffers = true;
    }
    expect(tanhDiffers).toBe(true);
  });
});

describe('gated GELU', () => {
  it('geglu is T5 v1.1’s gated-gelu: gelu_new(gate) · up, with gate_proj and up_proj weights', () => {
    const m = model(lm('tokens: learned(vocab, d_model), positions: none', 'norm = pre layer', 'ffn d_ff geglu'));
    const g = buildIr(m);
    const node = g.nodes.find((n) => n.op === 'geglu')!;
    const values = interpret(g, m, { dims: { B: 1, T: 3 }, inputs: { ids: Int32Array.from([3, 4, 5]) }, weights: randomWeights(g, 2) });
    const [gate, up, out] = [values.get(node.args[0])!, values.get(node.args[1])!, values.get(node.id)!];
    // gelu_new(x) = 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))), as Hugging Face's NewGELUActivation.
    const geluNew = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    // mdl clamps the tanh argument at ±15 (far out, where gelu is 0 or x to 1e-12): equal to 1e-10.
    for (let i = 0; i < out.length; i++) expect(out[i]).toBeCloseTo(geluNew(gate[i]) * up[i], 10);
    expect(g.nodes.some((n) => n.id === '%decoder.layers.0.ffn.gate_proj.weight')).toBe(true);
  });
});

describe('rotary positions', () => {
  it('halves: Llama’s q·cos + rotate_half(q)·sin with θ = 500000, over part of each head', () => {
    const [rows, heads, hd, rd, theta] = [5, 2, 8, 4, 500000];
    const x = randomTensor(rows * heads * hd, rng(3));
    const got = rope(x, rows, heads, hd, rows, { style: 'halves', theta, dims: rd });
    for (let t = 0; t < rows; t++) {
      for (let h = 0; h < heads; h++) {
        const q = Array.from(x.subarray((t * heads + h) * hd, (t * heads + h + 1) * hd));
        // inv_freq = 1 / θ^(arange(0, rd, 2) / rd); emb = cat(freqs, freqs); rotate_half(x) = cat(−x2, x1).
        const freqs = Array.from({ length: rd / 2 }, (_, i) => t / theta ** ((2 * i) / rd));
        const emb = [...freqs, ...freqs];
        const rot = q.slice(0, rd);
        const half = [...rot.slice(rd / 2).map((v) => -v), ...rot.slice(0, rd / 2)];
        const want = [...rot.map((v, i) => v * Math.cos(emb[i]) + half[i] * Math.sin(emb[i])), ...q.slice(rd)];
        for (let i = 0; i < hd; i++) expect(got[(t * heads + h) * hd + i]).toBeCloseTo(want[i], 14);
      }
    }
  });

  it('pairs: GPT-J’s rotate_every_two at the default θ', () => {
    const [rows, heads, hd] = [4, 1, 6];
    const x = randomTensor(rows * heads * hd, rng(4));
    const got = rope(x, rows, heads, hd, rows, { style: 'pairs', theta: 10000, dims: hd });
    for (let t = 0; t < rows; t++) {
      for (let i = 0; i < hd / 2; i++) {
        const a = t / 10000 ** ((2 * i) / hd);
        const [x0, x1] = [x[t * hd + 2 * i], x[t * hd + 2 * i + 1]];
        expect(got[t * hd + 2 * i]).toBeCloseTo(x0 * Math.cos(a) - x1 * Math.sin(a), 14);
        expect(got[t * hd + 2 * i + 1]).toBeCloseTo(x1 * Math.cos(a) + x0 * Math.sin(a), 14);
      }
    }
  });
});

describe('embedding options', () => {
  const run = (embed: string, stack = 'norm = pre layer') => {
    const m = model(lm(embed, stack, 'attention self heads = heads mask = causal\n    ffn d_ff gelu'));
    const g = buildIr(m);
    const weights = randomWeights(g, 1);
    const ids = Int32Array.from([3, 4, 5, 6]);
    return { g, weights, values: interpret(g, m, { dims: { B: 1, T: 4 }, inputs: { ids }, weights }), ids };
  };

  it('scale = 1 leaves token rows as they are; the default multiplies them by √d_model', () => {
    const one = run('tokens: learned(vocab, d_model, scale = 1), positions: none');
    const table = one.weights.get('embed.tokens.weight')!;
    const out = one.values.get('%decoder.embed')!;
    for (let r = 0; r < 4; r++) for (let j = 0; j < 16; j++) expect(out[r * 16 + j]).toBe(table[one.ids[r] * 16 + j]);
    const dflt = run('tokens: learned(vocab, d_model), positions: none');
    expect(dflt.values.get('%decoder.embed')![16]).toBeCloseTo(dflt.weights.get('embed.tokens.weight')![4 * 16] * 4, 14);
  });

  it('learned(MAX, offset = 2): position t reads table row t + 2, as BART’s learned positions do', () => {
    const r = run('tokens: learned(vocab, d_model, scale = 1), positions: learned(14, offset = 2)');
    const table = r.weights.get('embed.positions.weight')!;
    const pos = r.values.get('%decoder.positions')!;
    for (let t = 0; t < 4; t++) for (let j = 0; j < 16; j++) expect(pos[t * 16 + j]).toBe(table[(t + 2) * 16 + j]);
  });

  it('sinusoidal(layout = concatenated) is Marian’s table: sines of every frequency, then their cosines', () => {
    const r = run('tokens: learned(vocab, d_model), positions: sinusoidal(layout = concatenated)');
    const pos = r.values.get('%decoder.positions')!;
    const d = 16;
    for (let t = 0; t < 4; t++) {
      // position_enc[t, j] = t / 10000^(2·(j//2)/d); out[:, :d/2] = sin(position_enc[:, 0::2]); out[:, d/2:] = cos(position_enc[:, 1::2])
      const enc = Array.from({ length: d }, (_, j) => t / 10000 ** ((2 * Math.floor(j / 2)) / d));
      const want = [...enc.filter((_, j) => j % 2 === 0).map(Math.sin), ...enc.filter((_, j) => j % 2 === 1).map(Math.cos)];
      for (let j = 0; j < d; j++) expect(pos[t * d + j]).toBeCloseTo(want[j], 14);
    }
  });

  it('bias = false drops every bias of the stack; a sublayer may turn its own back on', () => {
    const m = model(lm('tokens: learned(vocab, d_model), positions: none', 'norm = pre layer, bias = false', 'attention self heads = heads mask = causal\n    ffn d_ff gelu bias = true'));
    const params = buildIr(m).nodes.filter((n) => n.op === 'param').map((n) => n.id.slice(1));
    expect(params.filter((p) => p.endsWith('.bias')).sort()).toEqual(['decoder.layers.0.ffn.down_proj.bias', 'decoder.layers.0.ffn.up_proj.bias', 'decoder.layers.1.ffn.down_proj.bias', 'decoder.layers.1.ffn.up_proj.bias']);
    expect(params).toContain('decoder.norm.weight');
  });
});

describe('score options', () => {
  const scored = (score: string, mask: string) =>
    lm('tokens: learned(vocab, d_model), positions: none', 'norm = pre layer', `attention self heads = heads ${mask} score = s\n    ffn d_ff relu`, `score s = ${score}`);
  const logits = (text: string) => {
    const m = model(text);
    const g = buildIr(m);
    return interpret(g, m, { dims: { B: 1, T: 5 }, inputs: { ids: Int32Array.from([3, 4, 5, 6, 7]) }, weights: randomWeights(g, 1) }).get('%logits')!;
  };

  it('ALiBi’s two forms give the same logits under a causal mask and different ones without it', () => {
    const dist = logits(scored('alibi', 'mask = causal'));
    const key = logits(scored('alibi(form = key)', 'mask = causal'));
    for (let i = 0; i < dist.length; i++) expect(key[i]).toBeCloseTo(dist[i], 12);
    const open = logits(scored('alibi', ''));
    const openKey = logits(scored('alibi(form = key)', ''));
    expect(Math.max(...open.map((x, i) => Math.abs(x - openKey[i])))).toBeGreaterThan(1e-6);
  });

  it('a shared relative bias is one weight of the stack, in its first layer, read by every layer', () => {
    const m = model(scored('relative_bias(buckets = 4, max_distance = 8, shared = true)', 'mask = causal'));
    const g = buildIr(m);
    const tables = g.nodes.filter((n) => n.op === 'param' && n.id.includes('relative_attention_bias')).map((n) => n.id);
    expect(tables).toEqual(['%decoder.layers.0.self_attn.relative_attention_bias.weight']);
    const readers = g.nodes.filter((n) => n.op === 'attention').map((n) => n.args[3]);
    expect(readers).toEqual([tables[0], tables[0]]);
    const own = buildIr(model(scored('relative_bias(buckets = 4, max_distance = 8)', 'mask = causal')));
    expect(own.nodes.filter((n) => n.op === 'param' && n.id.includes('relative_attention_bias'))).toHaveLength(2);
  });
});

describe('models with options: gradients match finite differences (f64)', () => {
  const ids = Int32Array.from([3, 5, 7, 2, 9, 4, 6, 8, 3, 3, 0, 0]);
  const cases: [string, string][] = [
    [
      'Llama-like: no biases, rms ε 1e-6, rotary halves θ 500000 over half of each head, unscaled embedding',
      lm('tokens: learned(vocab, d_model, scale = 1), positions: rotary(style = halves, theta = 500000, fraction = 0.5)', 'norm = pre rms, eps = 1e-6, bias = false', 'attention self heads = heads mask = causal\n    ffn d_ff swiglu'),
    ],
    [
      'BART-like: learned positions offset by 2, embedding norm, post-norm, exact GELU, attention without biases, tied output with a logits bias',
      lm('tokens: learned(vocab, d_model, scale = 1), positions: learned(14, offset = 2)', 'norm = post layer, embed_norm = layer, eps = 1e-6', 'attention self heads = heads mask = causal bias = false\n    ffn d_ff gelu_erf').replace('project(decoder, vocab)', 'project(decoder, vocab, tied = tokens, bias = true)'),
    ],
    [
      'T5-like scores (scale = 1) with concatenated sinusoids and a layer norm without β',
      lm('tokens: learned(vocab, d_model), positions: sinusoidal(layout = concatenated)', 'norm = pre layer, bias = false', 'attention self heads = heads mask = causal scale = 1\n    ffn d_ff relu'),
    ],
  ];
  cases.push([
    'T5’s shared relative bias (one table, read by both layers) and BLOOM’s ALiBi (slope · k) without a mask',
    lm('tokens: learned(vocab, d_model, scale = 1), positions: none', 'norm = pre rms, eps = 1e-6, bias = false', 'attention self heads = heads score = t5 scale = 1\n    attention self heads = heads score = bloom\n    ffn d_ff relu', 'score t5 = relative_bias(buckets = 4, max_distance = 8, shared = true)\n  score bloom = alibi(form = key)'),
  ]);
  for (const [name, text] of cases) {
    it(name, () => {
      const c = modelCase(text, { B: 2, T: 6 }, { ids });
      const r = checkModelGradients(c);
      expect(r.counted).toBeGreaterThan(0);
      expect(r.worst, r.at).toBeLessThanOrEqual(1e-6);
    });
  }
});
