// Whole models on Dawn against the CPU reference in f64: the shipped specs at test size (their dims shrunk by text
// substitution) at odd lengths, with padding, an encoder-decoder's cross-attention, rotary positions with grouped
// queries and documents; every parameter's gradient within 1e-3 relative
// (norm-wise) and the loss within 1e-4. The training program of every shipped spec keeps every buffer linear in
// the lengths.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildTrainingIr } from '../../src/ir/training.ts';
import { formula } from '../../src/lower/formula.ts';
import { buildGradGraph } from '../../src/lower/grad.ts';
import { lowerTraining } from '../../src/lower/train-schedule.ts';
import { useGpu } from '../runtime/gpu-harness.ts';
import { checkedModel, compareWithCpu, tokenRows } from '../support/gpu-gradients.ts';

const gpu = useGpu();
const specs = join(import.meta.dirname, '..', '..', 'specs');

function shrunk(file: string, dims: Record<string, string>): string {
  let text = readFileSync(join(specs, file), 'utf8');
  for (const [name, value] of Object.entries(dims)) text = text.replace(new RegExp(`\\b${name} = [^,\\n]+`), `${name} = ${value}`);
  return text;
}

const compare = (text: string, dims: Record<string, number>, inputs: Record<string, Int32Array>) => compareWithCpu(gpu(), text, dims, inputs, 7);

describe('whole-model gradients on WebGPU agree with the CPU reference', () => {
  it('translator: encoder-decoder, cross-attention, tied table, sinusoidal positions, padding (S=5, T=7)', async () => {
    const text = shrunk('translator.mdl', { vocab: '300', d_model: '16', heads: '2', d_ff: '24' });
    await compare(text, { B: 2, S: 5, T: 7 }, { src: tokenRows(2, 5, 300, 1), tgt: tokenRows(2, 7, 300, 2) });
  }, 120_000);

  it('gpt2-small shrunk: learned positions, causal mask, tied output (T=9)', async () => {
    const text = shrunk('gpt2-small.mdl', { vocab: '300', d_model: '16', heads: '2', layers: '2', d_ff: '24', context: '16' }).replace('pad 50256', 'pad 0').replace('T <= 1024', 'T <= 16');
    await compare(text, { B: 2, T: 9 }, { ids: tokenRows(2, 9, 300, 3) });
  }, 120_000);

  it('packed: rotary positions, grouped queries, SwiGLU, RMS norm, documents (T=11)', async () => {
    const text = shrunk('packed.mdl', { vocab: '300', d_model: '32', heads: '4', kv: '2', d_ff: '24' });
    const docs = Int32Array.from([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    await compare(text, { B: 1, T: 11 }, { ids: tokenRows(1, 11, 300, 4), docs });
  }, 120_000);

  it('translator and packed with the backward products register-blocked (reg8x4 and reg4x4 tilings)', async () => {
    const translator = shrunk('translator.mdl', { vocab: '300', d_model: '16', heads: '2', d_ff: '24' });
    await compareWithCpu(gpu(), translator, { B: 2, S: 5, T: 7 }, { src: tokenRows(2, 5, 300, 1), tgt: tokenRows(2, 7, 300, 2) }, 7, { matmulTiling: 'reg8x4' });
    const packed = shrunk('packed.mdl', { vocab: '300', d_model: '32', heads: '4', kv: '2', d_ff: '24' });
    const docs = Int32Array.from([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
    await compareWithCpu(gpu(), packed, { B: 1, T: 11 }, { ids: tokenRows(1, 11, 300, 4), docs }, 7, { matmulTiling: 'reg4x4' });
  }, 120_000);
});

/** One attention layer with the given mask and score modifiers, and the loss counted only from the prompt on. */
const template = (mask: string, score: string) => `model t {
  dim vocab = 300, d_model = 16, heads = 4, kv = 2, d_ff = 12
  dim B, T <= 16
  input ids: tokens[B, T] pad 0
  input docs: segments[B, T]
  input prefix_len: lengths[B] of T
  mask m = ${mask}
  ${score ? `score s = ${score}` : ''}
  embed tokens: learned(vocab, d_model), positions: none
  stack decoder x 1 on ids (norm = pre layer) {
    attention self heads = heads kv_heads = kv mask = m ${score ? 'score = s' : ''}
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab)
  loss lm = cross_entropy(logits, labels = next(ids))
}`;

describe('masks and score modifiers in the GPU backward (B=2, T=7, grouped queries)', () => {
  const inputs = () => ({ ids: tokenRows(2, 7, 300, 6), docs: Int32Array.from([0, 0, 1, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1]), prefix_len: Int32Array.from([3, 2]) });
  const cases: [string, string, string][] = [
    ['window and key padding', 'window(3) & key_padding(ids)', ''],
    ['a prefix from data', 'prefix(prefix_len)', ''],
    ['rows with no visible key', 'k < q - 1', ''],
    ['relative bias (its table learned), alibi and softcap', 'document(docs) & causal', 'relative_bias(buckets = 4, max_distance = 8, bidirectional = false), alibi, softcap(1.5)'],
  ];
  for (const [name, mask, score] of cases) {
    it(name, async () => {
      const { cpu } = await compare(template(mask, score), { B: 2, T: 7 }, inputs());
      if (score) expect([...cpu.grads.keys()].some((k) => k.includes('relative'))).toBe(true);
    }, 120_000);
  }
});

describe('the training program of every shipped spec with a loss', () => {
  const withLoss = readdirSync(specs).filter((f) => f.endsWith('.mdl') && /^\s*loss /m.test(readFileSync(join(specs, f), 'utf8'))).sort();
  it('covers the three shipped specs that declare a loss', () => expect(withLoss).toEqual(['gpt2-small.mdl', 'packed.mdl', 'translator.mdl']));
  for (const file of withLoss) {
    it(`${file}: no buffer grows faster than the lengths (no Lq × Lk)`, () => {
      const m = checkedModel(readFileSync(join(specs, file), 'utf8'));
      const { program } = lowerTraining(buildGradGraph(buildTrainingIr(m)), m);
      const lengths = [...m.dims.values()].filter((d) => d.kind === 'symbolic' && d.name !== 'B').map((d) => d.name);
      const at = (L: number) => Object.fromEntries([['B', 2], ...lengths.map((n) => [n, L])]);
      let growing = 0;
      for (const b of program.buffers) {
        const [small, large] = [formula.evaluate(b.elements, at(4096)), formula.evaluate(b.elements, at(8192))];
        if (large! > small!) growing++;
        // Tile classes: one word per tile pair, at least 64 query-key pairs a word.
        const factor = b.role === 'tile_classes' ? 4 : 2;
        expect(large!, `${b.id}: ${formula.print(b.elements)}`).toBeLessThanOrEqual(factor * small!);
      }
      expect(growing).toBeGreaterThan(0);
    });
  }
});
