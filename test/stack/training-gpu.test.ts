// Gradients on Dawn against the CPU reference in f64: small specs chosen so that together they cover every
// backward kernel other than attention — the embedding's scatter-add with repeated ids, learned and sinusoidal
// positions, the residual adds, relu, gelu, silu and SwiGLU, layer and RMS norm with and without bias, matmuls with
// and without bias, a tied and an untied output projection, and the loss with padded labels — at odd lengths.

import { describe, expect, it } from 'vitest';
import { buildTrainingIr } from '../../src/ir/training.ts';
import { buildGradGraph } from '../../src/lower/grad.ts';
import { lowerTraining } from '../../src/lower/train-schedule.ts';
import { GRAD_MATMUL_ROWS } from '../../src/wgsl/matmul-grad.ts';
import { checkedModel, compareWithCpu, tokenRows } from '../support/gpu-gradients.ts';
import { useGpu } from '../runtime/gpu-harness.ts';

const gpu = useGpu();
const compare = (text: string, dims: Record<string, number>, inputs: Record<string, Int32Array>) => compareWithCpu(gpu(), text, dims, inputs);

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

  it('with the forward matmuls on other tilings (vec4 register blocks, 64-wide staged tiles) (B=2, T=11)', async () => {
    const text = spec('(norm = pre layer) {\n    ffn d_ff gelu\n  }', ', positions: learned(32)').replace(/\}$/, '  output logits = project(decoder, vocab)\n  loss next_token = cross_entropy(logits, labels = next(ids))\n}');
    for (const matmulTiling of ['reg8x4v4', 'reg4x4', 'wg64'] as const) {
      const m = checkedModel(text);
      const tilings = lowerTraining(buildGradGraph(buildTrainingIr(m)), m, { matmulTiling }).program.steps.flatMap((st) => (st.kernel.kind === 'matmul' ? [st.kernel.tiling] : []));
      expect(tilings.length, matmulTiling).toBeGreaterThan(0);
      expect(new Set(tilings), matmulTiling).toEqual(new Set([matmulTiling]));
      await compareWithCpu(gpu(), text, { B: 2, T: 11 }, { ids: tokenRows(2, 11, 40, 3) }, 5, { matmulTiling });
    }
  });

  it('with the backward products register-blocked (R×4 outputs an invocation) at odd widths, matching the unblocked kernel (B=3, T=7)', async () => {
    // d_model, d_ff and vocab not multiples of 4 and B·T = 21 rows not of 8: every block has clamped rows or columns.
    const text = `model m {
  dim vocab = 43, d_model = 26, d_ff = 37
  dim B, T <= 32
  input ids: tokens[B, T] pad 0
  embed tokens: learned(vocab, d_model), positions: learned(32)
  stack decoder x 1 on ids (norm = pre layer) {
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab)
  loss next_token = cross_entropy(logits, labels = next(ids))
}`;
    const ids = tokenRows(3, 7, 43, 6);
    const plain = await compareWithCpu(gpu(), text, { B: 3, T: 7 }, { ids });
    for (const matmulTiling of ['reg4x4', 'reg8x4v4'] as const) {
      const m = checkedModel(text);
      const blocks = lowerTraining(buildGradGraph(buildTrainingIr(m)), m, { matmulTiling }).program.steps.flatMap((st) => (st.kernel.kind === 'train' && st.kernel.op.name === 'matmul_strided' ? [st.kernel.op.block] : []));
      expect(blocks.length, matmulTiling).toBeGreaterThan(0);
      expect(new Set(blocks), matmulTiling).toEqual(new Set([matmulTiling.startsWith('reg8') ? 8 : 4]));
      const { dev } = await compareWithCpu(gpu(), text, { B: 3, T: 7 }, { ids }, 5, { matmulTiling });
      // The blocked kernels sum each output's terms in the unblocked kernel's order; the forward tilings differ only
      // in rounding (vec4 dots), so every gradient matches the default program's closely, not just the f64 oracle.
      for (const [name, g] of plain.dev.grads) {
        const ref = Array.from(g);
        const got = Array.from(dev.grads.get(name)!);
        const scale = Math.max(...ref.map(Math.abs), 1e-12);
        expect(Math.max(...got.map((v, i) => Math.abs(v - ref[i]))) / scale, `${matmulTiling} ${name}`).toBeLessThan(1e-5);
      }
    }
  });

  it('with the backward products read as vec4s (widths multiples of 4, a vocabulary that is not), matching the unblocked kernel (B=3, T=7)', async () => {
    // d_model 24 and d_ff 36 let W, X and the outputs be read as vec4s; dY too except the logits' (vocab 43). d_ff / 4 = 9
    // quads, so the 16-row blocks over it are clamped, and B·T = 21 rows are not a multiple of 16.
    const text = `model m {
  dim vocab = 43, d_model = 24, d_ff = 36
  dim B, T <= 32
  input ids: tokens[B, T] pad 0
  embed tokens: learned(vocab, d_model), positions: learned(32)
  stack decoder x 1 on ids (norm = pre layer) {
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab, tied = tokens)
  loss next_token = cross_entropy(logits, labels = next(ids))
}`;
    const ids = tokenRows(3, 7, 43, 8);
    const plain = await compareWithCpu(gpu(), text, { B: 3, T: 7 }, { ids });
    for (const matmulTiling of ['reg4x4', 'reg8x4v4'] as const) {
      const m = checkedModel(text);
      const kinds = lowerTraining(buildGradGraph(buildTrainingIr(m)), m, { matmulTiling }).program.steps.flatMap((st) =>
        st.kernel.kind === 'train' && st.kernel.op.name === 'matmul_grad' ? [`${st.kernel.op.wrt} ${st.kernel.op.rows} ${st.kernel.op.dyVec4}`] : [],
      );
      expect(new Set(kinds), matmulTiling).toEqual(new Set([`input ${GRAD_MATMUL_ROWS} true`, `weight ${GRAD_MATMUL_ROWS} true`, `input ${GRAD_MATMUL_ROWS} false`, `weight ${GRAD_MATMUL_ROWS} false`]));
      const { dev } = await compareWithCpu(gpu(), text, { B: 3, T: 7 }, { ids }, 5, { matmulTiling });
      for (const [name, g] of plain.dev.grads) {
        const ref = Array.from(g);
        const got = Array.from(dev.grads.get(name)!);
        const scale = Math.max(...ref.map(Math.abs), 1e-12);
        expect(Math.max(...got.map((v, i) => Math.abs(v - ref[i]))) / scale, `${matmulTiling} ${name}`).toBeLessThan(1e-5);
      }
    }
  });

  it('gives the same bits on a second run (fixed-order sums, no atomics), repeated ids included', async () => {
    const text = spec('(norm = pre layer) {\n    ffn d_ff gelu\n  }', ', positions: learned(32)').replace(/\}$/, '  output logits = project(decoder, vocab, tied = tokens)\n  loss next_token = cross_entropy(logits, labels = next(ids))\n}');
    const ids = tokenRows(2, 13, 40, 4);
    const a = await compare(text, { B: 2, T: 13 }, { ids });
    const b = await compare(text, { B: 2, T: 13 }, { ids });
    expect(b.dev.loss).toBe(a.dev.loss);
    for (const [name, g] of a.dev.grads) expect(Array.from(b.dev.grads.get(name)!), name).toEqual(Array.from(g));
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
