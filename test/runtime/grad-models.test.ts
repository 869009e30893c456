// Whole small models: the CPU reference's backward (src/lower/grad.ts run by src/runtime/cpu-training.ts) against
// central finite differences of its own forward loss, in f64, relative error ≤ 1e-6 for every parameter. The
// shipped specs run at test size (their dims shrunk by text substitution), and one template runs every mask of the
// zoo's kinds and every score modifier.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBackward } from '../../src/runtime/cpu-training.ts';
import { checkModelGradients, modelCase, rng } from '../support/finite-differences.ts';

const specs = join(import.meta.dirname, '..', '..', 'specs');
const TOL = 1e-6;

function tokens(b: number, t: number, vocab: number, seed: number, lengths: number[] = [], pad = 0, first = 3): Int32Array {
  const r = rng(seed);
  const out = new Int32Array(b * t);
  for (let s = 0; s < b; s++) for (let q = 0; q < t; q++) out[s * t + q] = q < (lengths[s] ?? t) ? first + Math.floor(r() * (vocab - first)) : pad;
  return out;
}

/** A shipped spec at test size: each `name = value` dim replaced. */
function shrunk(file: string, dims: Record<string, string>): string {
  let text = readFileSync(join(specs, file), 'utf8');
  for (const [name, value] of Object.entries(dims)) text = text.replace(new RegExp(`\\b${name} = [^,\\n]+`), `${name} = ${value}`);
  return text;
}

describe('gradients of whole models match finite differences (f64)', () => {
  it('translator: encoder-decoder, tied table read by both stacks and the output, sinusoidal positions, padding', () => {
    const text = shrunk('translator.mdl', { vocab: '11', d_model: '8', heads: '2', d_ff: '12' });
    const src = tokens(2, 4, 11, 1, [4, 2]);
    const tgt = tokens(2, 5, 11, 2, [5, 3]);
    tgt[4] = 2; // eos ends the first target
    const c = modelCase(text, { B: 2, S: 4, T: 5 }, { src, tgt });
    const r = checkModelGradients(c);
    expect(r.counted).toBe(8); // every non-pad target position counts, eos included
    expect(r.worst, r.at).toBeLessThanOrEqual(TOL);
  });

  it("translator: the worked batch of specs/README.md counts 9 positions (both targets' words and eos, no pad)", () => {
    const text = shrunk('translator.mdl', { vocab: '24', d_model: '8', heads: '2', d_ff: '12' });
    const src = Int32Array.from([10, 11, 12, 13, 14, 15, 10, 13, 0, 0, 0, 0]);
    const tgt = Int32Array.from([10, 11, 12, 13, 14, 2, 0, 20, 21, 2, 0, 0, 0, 0]); // I like to eat apples <eos> / I eat <eos>
    const c = modelCase(text, { B: 2, S: 6, T: 7 }, { src, tgt });
    const r = runBackward(c.graph, c.model, { dims: c.dims, inputs: c.inputs, weights: c.weights }, { lossOnly: true });
    expect(r.counted).toBe(9);
    expect(Array.from(r.values.get('%xent.labels') as Int32Array)).toEqual([10, 11, 12, 13, 14, 2, -1, 20, 21, 2, -1, -1, -1, -1]);
  });

  it('labels without a pad id: every position with a next token counts, id 0 included', () => {
    const text = template('causal', '').replace('input ids: tokens[B, T] pad 0', 'input ids: tokens[B, T]');
    const ids = Int32Array.from([0, 5, 0, 7]);
    const c = modelCase(text, { B: 1, T: 4 }, { ids, docs: new Int32Array(4), prefix_len: Int32Array.from([1]) });
    const r = runBackward(c.graph, c.model, { dims: c.dims, inputs: c.inputs, weights: c.weights }, { lossOnly: true });
    expect(Array.from(r.values.get('%lm.labels') as Int32Array)).toEqual([5, 0, 7, -1]);
  });

  it('gpt2-small: learned positions, tied output, next-token labels', () => {
    const text = shrunk('gpt2-small.mdl', { vocab: '13', d_model: '8', heads: '2', layers: '2', d_ff: '12', context: '8' }).replace('pad 50256', 'pad 0').replace('T <= 1024', 'T <= 8');
    const ids = tokens(2, 6, 13, 3, [6, 4]);
    const c = modelCase(text, { B: 2, T: 6 }, { ids });
    const r = checkModelGradients(c);
    expect(r.counted).toBe(5 + 3); // the last position of each sequence and positions before padding have no label
    expect(r.worst, r.at).toBeLessThanOrEqual(TOL);
  });

  it('packed: rotary positions, GQA (4 heads on 2 kv heads), swiglu, rms norm, document mask, labels within documents', () => {
    const text = shrunk('packed.mdl', { vocab: '12', d_model: '16', heads: '4', kv: '2', d_ff: '12' });
    const ids = tokens(1, 8, 12, 4);
    const docs = Int32Array.from([0, 0, 0, 1, 1, 2, 2, 2]);
    const c = modelCase(text, { B: 1, T: 8 }, { ids, docs });
    const r = checkModelGradients(c);
    expect(r.counted).toBe(8 - 3); // one per document boundary and the end have no label
    expect(r.worst, r.at).toBeLessThanOrEqual(TOL);
  });

  const template = (mask: string, score: string, extra = '') => `model t {
  dim vocab = 10, d_model = 16, heads = 4, kv = 2, d_ff = 8
  dim B, T <= 16
  input ids: tokens[B, T] pad 0
  input docs: segments[B, T]
  input prefix_len: lengths[B] of T
  mask m = ${mask}
  ${score ? `score s = ${score}` : ''}
  embed tokens: learned(vocab, d_model), positions: none
  stack decoder x 1 on ids (norm = pre layer) {
    attention self heads = heads kv_heads = kv mask = m ${score ? 'score = s' : ''}
    ffn d_ff ${extra || 'gelu'}
  }
  output logits = project(decoder, vocab)
  loss lm = cross_entropy(logits, labels = next(ids))
}`;
  const inputs = () => ({ ids: tokens(2, 7, 10, 5, [7, 5]), docs: Int32Array.from([0, 0, 1, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1]), prefix_len: Int32Array.from([3, 2]) });

  const masks: [string, string][] = [
    ['causal', 'causal'],
    ['padding', 'causal & key_padding(ids)'],
    ['document', 'document(docs) & causal'],
    ['window', 'window(3)'],
    ['random', 'random(0.3, 5)'],
    ['prefix from data', 'prefix(prefix_len)'],
    // Queries 0 and 1 see no key at all: their rows are 0 and must get no gradient (checked numerically too).
    ['rows with no visible key', 'k < q - 1'],
  ];
  for (const [name, mask] of masks) {
    it(`mask: ${name} (${mask})`, () => {
      const r = checkModelGradients(modelCase(template(mask, ''), { B: 2, T: 7 }, inputs()));
      expect(r.worst, r.at).toBeLessThanOrEqual(TOL);
    });
  }

  const scores: [string, string, string?][] = [
    ['softcap', 'softcap(2)'],
    ['alibi', 'alibi'],
    ['relative bias', 'relative_bias(buckets = 4, max_distance = 8)'],
    ['all three, in order', 'relative_bias(buckets = 4, max_distance = 8, bidirectional = false), alibi, softcap(1.5)', 'relu'],
  ];
  for (const [name, score, act] of scores) {
    it(`score: ${name}`, () => {
      const r = checkModelGradients(modelCase(template('causal', score, act), { B: 2, T: 7 }, inputs()), 6);
      expect(r.worst, r.at).toBeLessThanOrEqual(TOL);
    });
  }

  it('instruction tuning: count = q + 1 >= prompt[b] trains on answers only', () => {
    const text = readFileSync(join(import.meta.dirname, '..', 'cases', 'ok_instruction_loss.mdl'), 'utf8').replace('vocab = 64', 'vocab = 10').replace('d_model = 16', 'd_model = 8').replace('d_ff = 32', 'd_ff = 8');
    const ids = tokens(2, 6, 10, 9, [6, 5]);
    const c = modelCase(text, { B: 2, T: 6 }, { ids, prompt: Int32Array.from([3, 4]) });
    const r = checkModelGradients(c);
    // Row 0: labels ids[3..5] at q = 2..4 (3); row 1 (length 5): q + 1 in 4..4 (1).
    expect(r.counted).toBe(4);
    expect(r.worst, r.at).toBeLessThanOrEqual(TOL);
  });
});
