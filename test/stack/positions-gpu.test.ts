// Position values on the device against an f64 computation, at every position up to 4096: the sinusoidal table
// through the real schedule → render → program path (a zero token table leaves only the positions), and the rotary
// rotation through the rope kernel with the uniforms the schedule gives it (pairs (1, 0) rotate to (cos θ, sin θ)).
// Both must agree with f64 to 1e-6 per value; plain f32 sin/cos of t · freq were off by up to ~1e-4 here.

import { describe, expect, it } from 'vitest';
import { readBack, uploadBuffer } from '../../src/runtime/gpu-buffers.ts';
import { bindKernel, kernelPipeline } from '../../src/runtime/kernel-binding.ts';
import { runProgram } from '../../src/runtime/program.ts';
import { packUniforms } from '../../src/wgsl/kernel.ts';
import { positionRateWords, ropeKernel } from '../../src/wgsl/positions.ts';
import { bareModel as bare, GraphBuilder as Graph } from '../lower/graph-builder.ts';
import { useGpu } from '../runtime/gpu-harness.ts';

const POSITIONS = 4097; // t = 0 … 4096

/** sin / cos of t / 10000^(2i / width) in f64, written independently of the interpreter. */
const angle = (t: number, i: number, width: number) => t / 10000 ** ((2 * i) / width);

describe('position values on WebGPU vs f64', () => {
  const gpu = useGpu();

  it('positionRateWords holds 10000^(-2/width) to 2^-64', () => {
    for (const width of [2, 6, 64, 128, 768]) {
      const [low, high] = positionRateWords(width);
      expect(Number.isInteger(low) && Number.isInteger(high) && low >= 0 && low < 2 ** 32 && high >= 0 && high < 2 ** 32).toBe(true);
      const r = 10000 ** (-2 / width);
      // high · 2^-32 is exact, the rest is below 2^-32 and its own rounding below 2^-85.
      expect(Math.abs(r - high / 2 ** 32 - low / 2 ** 64)).toBeLessThan(2 ** -64);
    }
  });

  it('sinusoidal positions agree with f64 to 1e-6 up to position 4096', async () => {
    for (const width of [6, 128]) {
      const g = new Graph();
      const ids = g.input('ids', ['B', 'T'], 'i32');
      const table = g.param('table', [1, width]);
      const out = g.add('sin', 'gather', [table, ids], { scale: 1, positions: 'sinusoidal' }, ['B', 'T', width]);
      const got = (await runProgram(gpu(), g.lower([out]), bare, { dims: { B: 1, T: POSITIONS }, inputs: { ids: new Int32Array(POSITIONS) }, weights: new Map([['table', new Float32Array(width)]]) })).get(out)!;
      let worst = { err: 0, t: 0, d: 0 };
      for (let t = 0; t < POSITIONS; t++) {
        for (let d = 0; d < width; d++) {
          const a = angle(t, Math.floor(d / 2), width);
          const err = Math.abs(got[t * width + d] - (d % 2 === 0 ? Math.sin(a) : Math.cos(a)));
          if (err > worst.err) worst = { err, t, d };
        }
      }
      expect(worst.err, `width ${width}: ${worst.err} at t=${worst.t}, d=${worst.d}`).toBeLessThanOrEqual(1e-6);
    }
  });

  it('rotary angles agree with f64 to 1e-6 up to position 4096, also from a cache start position, in both styles', async () => {
    // [head width, heads, start, style, θ, rotated dims]: GPT-J pairs at the default θ, and Llama/NeoX halves with
    // Llama 3's θ over part of each head (the other dims must pass through untouched).
    const cases = [[64, 2, 0, 'pairs', 10000, 64], [128, 1, 0, 'pairs', 10000, 128], [8, 3, 2000, 'pairs', 10000, 8], [64, 2, 0, 'halves', 500000, 64], [16, 2, 1000, 'halves', 10000, 8], [16, 1, 0, 'pairs', 100, 4]] as const;
    for (const [hd, heads, start, style, theta, rd] of cases) {
      const kernel = ropeKernel(style);
      const pipeline = await kernelPipeline(gpu(), kernel);
      const rows = POSITIONS - start; // one row per position, start … 4096
      const count = rows * heads * hd;
      // Written by hand from the published definitions: pair p is (2p, 2p+1) for GPT-J, (p, p + rd/2) for NeoX.
      const pair = (p: number) => (style === 'pairs' ? [2 * p, 2 * p + 1] : [p, p + rd / 2]);
      // Every pair is (1, 0), so the rotated pair is (cos θ, sin θ); dims past rd hold 7 and must keep it.
      const x = new Float32Array(count).fill(7);
      for (let r = 0; r < rows * heads; r++) for (let p = 0; p < rd / 2; p++) [x[r * hd + pair(p)[0]], x[r * hd + pair(p)[1]]] = [1, 0];
      const [rate_lo, rate_hi] = positionRateWords(rd, theta);
      const uniforms = packUniforms(kernel.uniforms, { rows, heads, hd, rd, T: rows, start, rate_lo, rate_hi });
      const device = gpu().device;
      const buffer = device.createBuffer({ label: 'x', size: count * 4, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC, mappedAtCreation: true });
      new Float32Array(buffer.getMappedRange()).set(x);
      buffer.unmap();
      const uniform = uploadBuffer(gpu(), 'uniforms', uniforms, 'uniform');
      const bind = bindKernel(gpu(), kernel, pipeline, uniform, (role) => (role === 'x' ? buffer : undefined));
      const enc = device.createCommandEncoder();
      const pass = enc.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bind);
      const groups = Math.ceil((rows * heads * rd) / 2 / 64);
      pass.dispatchWorkgroups(Math.min(groups, 65535), Math.ceil(groups / 65535));
      pass.end();
      device.queue.submit([enc.finish()]);
      const got = new Float32Array(await readBack(gpu(), buffer, count * 4));
      for (const b of [buffer, uniform]) b.destroy();
      let worst = { err: 0, t: 0, p: 0 };
      for (let r = 0; r < rows; r++) {
        for (let h = 0; h < heads; h++) {
          const at = (r * heads + h) * hd;
          for (let p = 0; p < rd / 2; p++) {
            const a = (r + start) / theta ** ((2 * p) / rd);
            const [i0, i1] = pair(p);
            const err = Math.max(Math.abs(got[at + i0] - Math.cos(a)), Math.abs(got[at + i1] - Math.sin(a)));
            if (err > worst.err) worst = { err, t: r + start, p };
          }
          for (let d = rd; d < hd; d++) expect(got[at + d]).toBe(7);
        }
      }
      expect(worst.err, `${style} hd ${hd} θ ${theta}: ${worst.err} at t=${worst.t}, pair ${worst.p}`).toBeLessThanOrEqual(1e-6);
    }
  });
});
