// What the adapter can do at best, measured in the same run as the attention numbers so that the shares compare
// like with like (on a shared machine the "peak" moves with the load):
//   - arithmetic peak: a kernel of nothing but independent vec4 FMA chains in registers, no memory traffic;
//   - dense matmul: the best of a few tiled matmul kernels (and tfjs's, when loaded) on square f32 matrices.

import type { GpuContext } from '../src/runtime/device.ts';
import { measure } from '../src/tune/measure.ts';
import { seededFloats } from './data.ts';
import { prepareSteps, storageBuffer, uniformBuffer } from './gpu-steps.ts';
import type { TfjsSession } from './tfjs-attention.ts';

const FMA_CHAINS = 8;
const FMA_UNROLL = 4;
const FMA_WORKGROUP = 64;

function fmaWgsl(): string {
  const chains = Array.from({ length: FMA_CHAINS }, (_, i) => i);
  const step = chains.map((i) => `c${i} = fma(c${i}, m, a);`).join(' ');
  return `struct Cfg { iters: u32, pad0: u32, pad1: u32, pad2: u32 }
@group(0) @binding(0) var<uniform> cfg: Cfg;
@group(0) @binding(1) var<storage, read_write> sink: array<vec4<f32>>;
@compute @workgroup_size(${FMA_WORKGROUP})
fn fma_main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let x = f32(gid.x) * 1.0e-6;
  ${chains.map((i) => `var c${i} = vec4<f32>(x + ${i}.0, x - ${i}.0, x * ${i + 1}.0, x + 0.5);`).join('\n  ')}
  let m = vec4<f32>(0.9999, 0.9998, 0.9997, 0.9996);
  let a = vec4<f32>(1.0e-4);
  // The trip count is a uniform, so the compiler cannot fold the loop away; the sum is stored so it cannot drop it.
  for (var i = 0u; i < cfg.iters; i++) {
    ${Array.from({ length: FMA_UNROLL }, () => step).join('\n    ')}
  }
  sink[gid.x] = ${chains.map((i) => `c${i}`).join(' + ')};
}`;
}

export interface PeakResult {
  gflops: number;
  ms: number;
  flops: number;
}

/** Sizes the run from a short calibration so that it lasts about `targetMs`, whatever the adapter's speed. */
export async function arithmeticPeak(gpu: GpuContext, targetMs: number, repeats: number): Promise<PeakResult> {
  const groups = 512;
  const threads = groups * FMA_WORKGROUP;
  const sink = storageBuffer(gpu, 'fma sink', threads * 16);
  const flopsFor = (iters: number) => threads * iters * FMA_UNROLL * FMA_CHAINS * 4 * 2;
  const make = async (iters: number) => {
    const cfg = uniformBuffer(gpu, 'fma cfg', Uint32Array.of(iters, 0, 0, 0));
    const steps = await prepareSteps(gpu, [
      { label: 'vec4 FMA peak', wgsl: fmaWgsl(), entryPoint: 'fma_main', bindings: [{ type: 'uniform', buffer: cfg }, { type: 'storage', buffer: sink }], dispatch: [groups, 1, 1] },
    ]);
    return { steps, cfg };
  };
  try {
    const probe = await make(16);
    await probe.steps.time();
    const probeMs = await probe.steps.time();
    probe.cfg.destroy();
    const iters = Math.max(16, Math.round((16 * targetMs) / Math.max(probeMs, 0.01)));
    const run = await make(iters);
    const t = await measure(() => run.steps.time(), { repeats });
    run.cfg.destroy();
    return { gflops: flopsFor(iters) / (t.median * 1e6), ms: t.median, flops: flopsFor(iters) };
  } finally {
    sink.destroy();
  }
}

/**
 * Register-blocked matmul C = A·B, square N (a multiple of 64): each of 16×16 threads computes a 4×4 block of a
 * 64×64 output tile, with 64×16 slices of A and B staged in workgroup memory.
 */
function matmulWgsl(n: number): string {
  return `const N: u32 = ${n}u;
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
var<workgroup> as_: array<f32, 1024>; // [64 rows][16 k]
var<workgroup> bs: array<f32, 1024>;  // [16 k][64 cols]
@compute @workgroup_size(16, 16)
fn matmul_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let row0 = wg.y * 64u;
  let col0 = wg.x * 64u;
  var acc: array<vec4<f32>, 4>;
  for (var i = 0u; i < 4u; i++) { acc[i] = vec4<f32>(0.0); }
  for (var k0 = 0u; k0 < N; k0 += 16u) {
    for (var i = li; i < 1024u; i += 256u) {
      as_[i] = a[(row0 + i / 16u) * N + k0 + i % 16u];
      bs[i] = b[(k0 + i / 64u) * N + col0 + i % 64u];
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      let bv = vec4<f32>(bs[kk * 64u + lid.x * 4u], bs[kk * 64u + lid.x * 4u + 1u], bs[kk * 64u + lid.x * 4u + 2u], bs[kk * 64u + lid.x * 4u + 3u]);
      for (var r = 0u; r < 4u; r++) { acc[r] = fma(vec4<f32>(as_[(lid.y * 4u + r) * 16u + kk]), bv, acc[r]); }
    }
    workgroupBarrier();
  }
  for (var r = 0u; r < 4u; r++) {
    let base = (row0 + lid.y * 4u + r) * N + col0 + lid.x * 4u;
    c[base] = acc[r].x; c[base + 1u] = acc[r].y; c[base + 2u] = acc[r].z; c[base + 3u] = acc[r].w;
  }
}`;
}

/** One output per thread, 16×16 tiles: the textbook kernel, kept as a second candidate for adapters that prefer it. */
function matmulSimpleWgsl(n: number): string {
  return `const N: u32 = ${n}u;
@group(0) @binding(0) var<storage, read> a: array<f32>;
@group(0) @binding(1) var<storage, read> b: array<f32>;
@group(0) @binding(2) var<storage, read_write> c: array<f32>;
var<workgroup> as_: array<f32, 256>;
var<workgroup> bs: array<f32, 256>;
@compute @workgroup_size(16, 16)
fn matmul_simple(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let row = wg.y * 16u + lid.y;
  let col = wg.x * 16u + lid.x;
  var acc = 0.0;
  for (var k0 = 0u; k0 < N; k0 += 16u) {
    as_[lid.y * 16u + lid.x] = a[row * N + k0 + lid.x];
    bs[lid.y * 16u + lid.x] = b[(k0 + lid.y) * N + col];
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) { acc = fma(as_[lid.y * 16u + kk], bs[kk * 16u + lid.x], acc); }
    workgroupBarrier();
  }
  c[row * N + col] = acc;
}`;
}

export interface MatmulResult {
  n: number;
  /** Every candidate's GFLOP/s. */
  candidates: Record<string, number>;
  best: string;
  gflops: number;
}

export async function matmulPeak(gpu: GpuContext, n: number, repeats: number, tfjs?: TfjsSession): Promise<MatmulResult> {
  const flops = 2 * n * n * n;
  const av = seededFloats(n * n, 7);
  const bv = seededFloats(n * n, 8);
  const a = storageBuffer(gpu, 'matmul A', av);
  const b = storageBuffer(gpu, 'matmul B', bv);
  const c = storageBuffer(gpu, 'matmul C', n * n * 4);
  const candidates: Record<string, number> = {};
  const bindings = [{ type: 'read-only-storage' as const, buffer: a }, { type: 'read-only-storage' as const, buffer: b }, { type: 'storage' as const, buffer: c }];
  try {
    const kernels = [
      { name: 'register-blocked 64×64', wgsl: matmulWgsl(n), entryPoint: 'matmul_main', dispatch: [n / 64, n / 64, 1] as [number, number, number] },
      { name: 'tiled 16×16', wgsl: matmulSimpleWgsl(n), entryPoint: 'matmul_simple', dispatch: [n / 16, n / 16, 1] as [number, number, number] },
    ];
    for (const k of kernels) {
      const steps = await prepareSteps(gpu, [{ label: k.name, wgsl: k.wgsl, entryPoint: k.entryPoint, bindings, dispatch: k.dispatch }]);
      const t = await measure(() => steps.time(), { repeats });
      candidates[k.name] = flops / (t.median * 1e6);
    }
    if (tfjs) {
      const { tf } = tfjs;
      const ta = tf.tensor2d(av, [n, n]);
      const tb = tf.tensor2d(bv, [n, n]);
      const t = await measure(async () => {
        const t0 = performance.now();
        const out = tf.matMul(ta, tb);
        await tfjs.flush();
        out.dispose();
        return performance.now() - t0;
      }, { repeats });
      candidates['tfjs matMul'] = flops / (t.median * 1e6);
      ta.dispose();
      tb.dispose();
    }
  } finally {
    a.destroy();
    b.destroy();
    c.destroy();
  }
  const best = Object.entries(candidates).reduce((x, y) => (y[1] > x[1] ? y : x));
  return { n, candidates, best: best[0], gflops: best[1] };
}
