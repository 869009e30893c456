// Each stack kernel on Dawn against the CPU interpreter, through the real schedule → render → program runner path:
// small handwritten IR graphs at sizes that are not multiples of any tile or workgroup (rows, widths and inner dims
// of 1, 7, 13, 19, 37, 67, 100, 200), every matmul epilogue, packed projections, both norms (with a large offset on the rows), the
// elementwise ops, embeddings with each position scheme, the decoder input and argmax with ties.

import { describe, expect, it } from 'vitest';
import { verifyIr } from '../../src/ir/verify.ts';
import { formula, type Formula } from '../../src/lower/formula.ts';
import type { Lowered } from '../../src/lower/passes.ts';
import { kernelsOf } from '../../src/lower/passes.ts';
import type { Step } from '../../src/lower/program.ts';
import { kernelOfStep } from '../../src/lower/step-kernels.ts';
import { assertValidProgram } from '../../src/lower/verify-program.ts';
import { SKINNY_ROWS } from '../../src/wgsl/kernels.ts';
import { MATMUL_TILINGS, tilingFor } from '../../src/wgsl/matmul-tilings.ts';
import type { ScheduleOptions } from '../../src/lower/schedule.ts';
import { interpret } from '../../src/runtime/cpu-interpreter.ts';
import { ProgramLimitError, runProgram } from '../../src/runtime/program.ts';
import { bareModel as bare, GraphBuilder as Graph } from '../lower/graph-builder.ts';
import { useGpu } from '../runtime/gpu-harness.ts';

/** Deterministic values in [-1, 1) (plus `offset`). */
function values(n: number, seed: number, offset = 0): Float32Array {
  let s = seed * 2654435761;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1 + offset;
  });
}

describe('stack kernels: WebGPU vs the CPU interpreter', () => {
  const gpu = useGpu();

  async function compare(g: Graph, outputs: string[], dims: Record<string, number>, inputs: Record<string, Int32Array | Float32Array>, weights: Map<string, Float32Array>, tolerance: number, options: ScheduleOptions = {}) {
    const lowered = g.lower(outputs, options);
    expect(verifyIr(lowered.ir)).toEqual([]);
    const run = { dims, inputs, weights };
    const cpu = interpret(lowered.ir, bare, run);
    const got = await runProgram(gpu(), lowered, bare, run);
    for (const id of outputs) {
      const want = cpu.get(id)!;
      const have = got.get(id)!;
      expect(have.length, id).toBe(want.length);
      let err = 0;
      for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(have[i] - want[i]));
      expect(err, `${id}: max abs error ${err}`).toBeLessThanOrEqual(tolerance);
    }
    return { cpu, got };
  }

  it('matmul with every epilogue at odd sizes', async () => {
    for (const [K, N] of [[19, 13], [67, 33], [1, 7], [16, 16]]) {
      const g = new Graph();
      const x = g.input('x', ['B', 'T', K]);
      const res = g.input('res', ['B', 'T', N]);
      const w = g.param('w', [N, K]);
      const b = g.param('b', [N]);
      const outs = [
        g.add('plain', 'matmul', [x, w], { transpose_b: true }, ['B', 'T', N]),
        g.add('bias', 'matmul', [x, w, b], { transpose_b: true }, ['B', 'T', N]),
        g.add('relu', 'matmul', [x, w, b], { transpose_b: true, act: 'relu' }, ['B', 'T', N]),
        g.add('gelu', 'matmul', [x, w, b], { transpose_b: true, act: 'gelu' }, ['B', 'T', N]),
        g.add('silu_res', 'matmul', [x, w, b, res], { transpose_b: true, act: 'silu', residual: true }, ['B', 'T', N]),
        g.add('res_only', 'matmul', [x, w, res], { transpose_b: true, residual: true }, ['B', 'T', N]),
      ];
      const dims = { B: 3, T: 7 };
      const weights = new Map([['w', values(N * K, K)], ['b', values(N, N)]]);
      await compare(g, outs, dims, { x: values(21 * K, 1), res: values(21 * N, 2) }, weights, 1e-4);
    }
  });

  it('every matmul tiling, epilogues and packed parts, at sizes that are no multiple of any tile', async () => {
    // K = 19 and 67 take the scalar forms of the vec4 tilings (lowering falls back), 16 and 68 the vec4 ones.
    for (const tiling of MATMUL_TILINGS) {
      for (const [K, N, T] of [[19, 13, 7], [68, 37, 23], [16, 70, 1], [67, 9, 30]]) {
        const g = new Graph();
        const x = g.input('x', ['B', 'T', K]);
        const res = g.input('res', ['B', 'T', N]);
        const w = g.param('w', [N, K]);
        const b = g.param('b', [N]);
        const ids = ['%q', '%k'];
        const outs = [
          g.add('bias', 'matmul', [x, w, b], { transpose_b: true }, ['B', 'T', N]),
          g.add('gelu_res', 'matmul', [x, w, b, res], { transpose_b: true, act: 'gelu', residual: true }, ['B', 'T', N]),
          g.add('q', 'matmul', [x, g.param('wq', [40, K])], { transpose_b: true, pack: ids }, ['B', 'T', 40]),
          g.add('k', 'matmul', [x, g.param('wk', [9, K])], { transpose_b: true, pack: ids }, ['B', 'T', 9]),
        ];
        const weights = new Map([['w', values(N * K, K)], ['b', values(N, N)], ['wq', values(40 * K, 5)], ['wk', values(9 * K, 6)]]);
        const rows = 3 * T;
        const { got } = await compare(g, outs, { B: 3, T }, { x: values(rows * K, 1), res: values(rows * N, 2) }, weights, 1e-4, { matmulTiling: tiling });
        expect(got.size, tiling).toBeGreaterThan(0);
        const kernels = g.lower(outs, { matmulTiling: tiling }).program.steps.filter((st) => st.kind === 'matmul').map((st) => (st.kernel.kind === 'matmul' ? st.kernel.tiling ?? 'wg32' : ''));
        expect(kernels, `${tiling} at K=${K}`).toEqual(Array(3).fill(tilingFor(tiling, K)));
      }
    }
  });

  it('the skinny matmul of decode steps: every epilogue and packed parts, 1 to 6 rows', async () => {
    // The cached decoder swaps it in for the tiled kernel when a call has few new rows; here every matmul takes it.
    const skinnyAll = (l: Lowered): Lowered => {
      const kernels = [...l.rendered.kernels];
      const stepKernels = [...l.rendered.stepKernels];
      const steps = l.program.steps.map((st, i): Step => {
        if (st.kernel.kind !== 'matmul') return st;
        const grid = [formula.ceilDiv(st.uniforms.N as Formula, 64), formula.ceilDiv(st.uniforms.M as Formula, SKINNY_ROWS), formula.constant(1)] as Step['grid'];
        const skinnyStep: Step = { ...st, kernel: { ...st.kernel, shape: 'skinny' }, grid };
        kernels.push({ ...kernelOfStep(skinnyStep), file: `skinny-${i}.wgsl` });
        stepKernels[i] = `skinny-${i}.wgsl`;
        return skinnyStep;
      });
      const rendered = { ...l.rendered, kernels, stepKernels };
      const program = { ...l.program, steps };
      assertValidProgram(program, kernelsOf(rendered), 'the skinny rewrite');
      return { ...l, program, rendered };
    };
    const [K, N] = [67, 70];
    const g = new Graph();
    const x = g.input('x', ['B', 'T', K]);
    const res = g.input('res', ['B', 'T', N]);
    const w = g.param('w', [N, K]);
    const b = g.param('b', [N]);
    const ids = ['%q', '%k'];
    const outs = [
      g.add('bias', 'matmul', [x, w, b], { transpose_b: true }, ['B', 'T', N]),
      g.add('gelu_res', 'matmul', [x, w, b, res], { transpose_b: true, act: 'gelu', residual: true }, ['B', 'T', N]),
      g.add('q', 'matmul', [x, g.param('wq', [40, K])], { transpose_b: true, pack: ids }, ['B', 'T', 40]),
      g.add('k', 'matmul', [x, g.param('wk', [9, K])], { transpose_b: true, pack: ids }, ['B', 'T', 9]),
    ];
    const weights = new Map([['w', values(N * K, 3)], ['b', values(N, 4)], ['wq', values(40 * K, 5)], ['wk', values(9 * K, 6)]]);
    for (const T of [1, 2, 5, 6]) {
      const lowered = skinnyAll(g.lower(outs));
      expect(lowered.program.steps.filter((st) => st.kind === 'matmul')).toHaveLength(3);
      const run = { dims: { B: 1, T }, inputs: { x: values(T * K, 1), res: values(T * N, 2) }, weights };
      const cpu = interpret(lowered.ir, bare, run);
      const got = await runProgram(gpu(), lowered, bare, run);
      for (const id of outs) {
        let err = 0;
        got.get(id)!.forEach((v, i) => (err = Math.max(err, Math.abs(v - cpu.get(id)![i]))));
        expect(err, `${id} at T=${T}`).toBeLessThanOrEqual(1e-4);
      }
    }
  });

  it('packed projections: one matmul over concatenated weights writes each part to its own buffer', async () => {
    for (const [widths, bias] of [[[13, 7, 7], true], [[32, 8], false], [[5, 40, 3], false]] as const) {
      const K = 19;
      const g = new Graph();
      const x = g.input('x', ['B', 'T', K]);
      const ids = widths.map((_, i) => `%p${i}`);
      widths.forEach((n, i) => {
        const args = [x, g.param(`w${i}`, [n, K]), ...(bias ? [g.param(`b${i}`, [n])] : [])];
        g.add(`p${i}`, 'matmul', args, { transpose_b: true, pack: ids }, ['B', 'T', n]);
      });
      const lowered = g.lower(ids);
      expect(lowered.program.steps.map((st) => kernelOfStep(st).family)).toEqual([`matmul_none${bias ? '_bias' : ''}_pack${widths.length}`]);
      const weights = new Map(widths.flatMap((n, i) => [[`w${i}`, values(n * K, 10 + i)], [`b${i}`, values(n, 20 + i)]] as [string, Float32Array][]));
      await compare(g, ids, { B: 3, T: 7 }, { x: values(21 * K, 1) }, weights, 1e-4);
    }
  });

  it('layer and RMS norm in both forms, over widths that are not multiples of the workgroup, on rows with a large offset', async () => {
    // A workgroup a row (the default) and an invocation a row (tuned), whose grid of 64-row workgroups the 70 rows
    // overrun: the rows past the end must be left alone, every row before it normalized.
    const families = { workgroup: ['norm_layer', 'norm_rms', 'norm_layer_unbiased'], rows: ['norm_layer_rows', 'norm_rms_rows', 'norm_layer_unbiased_rows'] };
    for (const normForm of ['workgroup', 'rows'] as const) {
      for (const D of [37, 100, 200]) {
        const g = new Graph();
        const x = g.input('x', ['B', 'T', D]);
        const outs = [
          g.add('layer', 'norm', [x, g.param('g', [D]), g.param('beta', [D])], { type: 'layer', eps: 1e-5 }, ['B', 'T', D]),
          g.add('rms', 'norm', [x, g.param('g', [D])], { type: 'rms', eps: 1e-5 }, ['B', 'T', D]),
          g.add('unbiased', 'norm', [x, g.param('g', [D])], { type: 'layer', eps: 1e-5 }, ['B', 'T', D]),
        ];
        const weights = new Map([['g', values(D, 3, 1)], ['beta', values(D, 4)]]);
        const options: ScheduleOptions = { normForm };
        expect(g.lower(outs, options).program.steps.map((st) => kernelOfStep(st).family)).toEqual(families[normForm]);
        await compare(g, outs, { B: 2, T: 35 }, { x: values(70 * D, D, 300) }, weights, 1e-3, options);
      }
    }
  });

  it('elementwise add, activations and SwiGLU', async () => {
    const g = new Graph();
    const a = g.input('a', ['B', 'T', 13]);
    const b = g.input('b', ['B', 'T', 13]);
    const outs = [
      g.add('sum', 'add', [a, b], {}, ['B', 'T', 13]),
      g.add('relu', 'act', [a], { fn: 'relu' }, ['B', 'T', 13]),
      g.add('gelu', 'act', [a], { fn: 'gelu' }, ['B', 'T', 13]),
      g.add('silu', 'act', [a], { fn: 'silu' }, ['B', 'T', 13]),
      g.add('swiglu', 'swiglu', [a, b], {}, ['B', 'T', 13]),
    ];
    await compare(g, outs, { B: 2, T: 3 }, { a: values(78, 5, 0).map((v) => v * 6), b: values(78, 6) }, new Map(), 1e-5);
  });

  it('embeddings: scaled gather with no, sinusoidal and learned positions; ids outside the vocabulary read row 0', async () => {
    // T is bounded by the learned table's 9 rows, as the checker requires of a spec (E314).
    const g = new Graph({ T: 9 });
    const ids = g.input('ids', ['B', 'T'], 'i32');
    const table = g.param('table', [11, 6]);
    const pos = g.param('pos', [9, 6]);
    const outs = [
      g.add('none', 'gather', [table, ids], { scale: 2.5 }, ['B', 'T', 6]),
      g.add('sin', 'gather', [table, ids], { scale: Math.sqrt(6), positions: 'sinusoidal' }, ['B', 'T', 6]),
      g.add('learned', 'gather', [table, ids, pos], { scale: 1, positions: 'learned' }, ['B', 'T', 6]),
    ];
    const tokens = Int32Array.from([0, 3, 10, 11, -1, 5, 7, 2, 1, 4, 9, 6, 8, 3]);
    const weights = new Map([['table', values(66, 7)], ['pos', values(54, 8)]]);
    // Sinusoids do not use WGSL's sin and cos (2^-11 absolute error allowed): see positions-gpu.test.ts.
    await compare(g, outs, { B: 2, T: 7 }, { ids: tokens }, weights, 2e-6);
  });

  it('the decoder input (bos, shifted target, eos and pad become pad) and argmax with ties', async () => {
    const g = new Graph();
    const tgt = g.input('tgt', ['B', 'T'], 'i32');
    const x = g.input('x', ['B', 'T', 5]);
    const outs = [
      g.add('dec', 'shift_right', [tgt], { bos: 1, pad: 0, eos: 2 }, ['B', 'T'], 'i32'),
      g.add('dec_keep_eos', 'shift_right', [tgt], { bos: 1, pad: 0 }, ['B', 'T'], 'i32'),
      g.add('best', 'argmax', [x], {}, ['B', 'T'], 'i32'),
    ];
    const target = Int32Array.from([5, 6, 7, 2, 0, 9, 2, 0, 0, 0]);
    // Small integers, so maxima tie exactly within a row; the first one must win on both sides.
    const logits = Float32Array.from({ length: 50 }, (_, i) => (i * 7) % 3);
    const { got } = await compare(g, outs, { B: 2, T: 5 }, { tgt: target, x: logits }, new Map(), 0);
    expect([...got.get('%dec')!]).toEqual([1, 5, 6, 7, 0, 1, 9, 0, 0, 0]);
    expect([...got.get('%dec_keep_eos')!]).toEqual([1, 5, 6, 7, 2, 1, 9, 2, 0, 0]);
    expect([...got.get('%best')!]).toEqual([2, 0, 1, 2, 0, 1, 2, 0, 1, 2]);
  });

  it('folds one-dimensional launches above 65535 workgroups into two dimensions', async () => {
    const g = new Graph();
    const a = g.input('a', ['B', 'T', 1]);
    const out = g.add('sum', 'add', [a, a], {}, ['B', 'T', 1]);
    const n = 65535 * 64 + 1000;
    const { got } = await compare(g, [out], { B: 1, T: n }, { a: values(n, 9) }, new Map(), 0);
    expect(got.get(out)!.length).toBe(n);
  });

  it('refuses a dispatch larger than the adapter allows before creating anything', async () => {
    const g = new Graph();
    const x = g.input('x', ['B', 'T', 1]);
    const out = g.add('y', 'matmul', [x, g.param('w', [1, 1])], { transpose_b: true }, ['B', 'T', 1]);
    const rows = 65536 * 32 + 32;
    const run = { dims: { B: 1, T: rows }, inputs: { x: new Float32Array(rows) }, weights: new Map([['w', new Float32Array(1)]]) };
    await expect(runProgram(gpu(), g.lower([out]), bare, run)).rejects.toThrow(ProgramLimitError);
    await expect(runProgram(gpu(), g.lower([out]), bare, run)).rejects.toThrow(/workgroups at these dims/);
  });
});
