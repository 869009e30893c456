// Gradients on Dawn against the CPU reference in f64: small specs chosen so that together they cover every
// backward kernel other than attention — the embedding's scatter-add with repeated ids, learned and sinusoidal
// positions, the residual adds, relu, gelu, silu and SwiGLU, layer and RMS norm with and without bias, matmuls with
// and without bias, a tied and an untied output projection, and the loss with padded labels — at odd lengths.

import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { buildTrainingIr } from '../../src/ir/training.ts';
import { buildGradGraph } from '../../src/lower/grad.ts';
import { runBackward } from '../../src/runtime/cpu-training.ts';
import { seededWeights } from '../../src/runtime/init-weights.ts';
import { runTraining } from '../../src/runtime/gpu-training.ts';
import { useGpu } from '../runtime/gpu-harness.ts';

const gpu = useGpu();

function model(text: string) {
  const r = checkSource(text, 'spec.mdl');
  if (!r.model) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.model;
}

/** Token rows with repeated ids (a small range) and padding at the end of later rows. */
export function tokenRows(batch: number, length: number, vocab: number, seed: number): Int32Array {
  return Int32Array.from({ length: batch * length }, (_, i) => {
    const b = Math.floor(i / length);
    const t = i % length;
    if (b > 0 && t >= length - 2 * b) return 0;
    return 3 + ((i * 7 + seed * 13) % Math.min(9, vocab - 3));
  });
}

/** ‖a − b‖ / ‖b‖, the per-parameter agreement the CLI promises. */
export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num) / Math.max(Math.sqrt(den), 1e-30);
}

async function compare(text: string, dims: Record<string, number>, inputs: Record<string, Int32Array>) {
  const m = model(text);
  const g = buildGradGraph(buildTrainingIr(m));
  const weights = seededWeights(g, 5);
  const cpu = runBackward(g, m, { dims, inputs, weights });
  const dev = await runTraining(gpu(), g, m, { dims, inputs, weights });
  expect(dev.counted).toBe(cpu.counted);
  expect(Math.abs(dev.loss - cpu.loss)).toBeLessThan(1e-4 * Math.max(1, Math.abs(cpu.loss)));
  expect([...dev.grads.keys()]).toEqual([...cpu.grads.keys()]);
  for (const [name, ref] of cpu.grads) {
    const err = relativeError(dev.grads.get(name)!, ref);
    expect(err, `${name}: relative error ${err}`).toBeLessThan(1e-3);
  }
  return { cpu, dev };
}

const spec = (body: string, embed: string, extra = '') => `model m {
  dim vocab = 40, d_model = 24, d_ff = 36
  dim B, T <= 32
  input ids: tokens[B, T] pad 0
  embed tokens: learned(vocab, d_model)${embed}
  ${extra}
  stack decoder x 2 on ids ${body}
}`;

describe('gradients on WebGPU agree with the CPU reference', () => {
  it('layer norm, gelu, learned positions, a tied projection, repeated ids and padding (B=2, T=7)', async () => {
    const text = `${spec('(norm = pre layer) {\n    ffn d_ff gelu\n  }', ', positions: learned(32)')}`.replace(/\}$/, '  output logits = project(decoder, vocab, tied = tokens)\n  loss next_token = cross_entropy(logits, labels = next(ids))\n}');
    const { cpu } = await compare(text, { B: 2, T: 7 }, { ids: tokenRows(2, 7, 40, 1) });
    expect(cpu.grads.has('embed.positions.weight')).toBe(true);
  });

  it('RMS norm, SwiGLU, sinusoidal positions and an untied projection (B=3, T=5)', async () => {
    const text = spec('(norm = pre rms) {\n    ffn d_ff swiglu\n  }', ', positions: sinusoidal').replace(/\}$/, '  output logits = project(decoder, vocab)\n  loss next_token = cross_entropy(logits, labels = next(ids))\n}');
    await compare(text, { B: 3, T: 5 }, { ids: tokenRows(3, 5, 40, 2) });
  });

  it('relu and silu feed-forward layers after the residual (post norm, B=1, T=9)', async () => {
    const body = '(norm = post layer) {\n    ffn d_ff relu\n    ffn d_ff silu\n  }';
    const text = spec(body, ', positions: learned(32)').replace(/\}$/, '  output logits = project(decoder, vocab, tied = tokens)\n  loss next_token = cross_entropy(logits, labels = next(ids))\n}');
    await compare(text, { B: 1, T: 9 }, { ids: tokenRows(1, 9, 40, 3) });
  });
});
