// The unfused baseline: attention as a framework without a fused kernel runs it — three dispatches with the whole
// Lq × Lk score matrix in memory between them.
//
//   1. scores = scale · Q Kᵀ        tiled 16 × 16 with Q and K rows staged in workgroup memory
//   2. P = softmax(mask ? scores : −∞) per row, reading a materialised 0/1 mask buffer, in place
//   3. out = P V                     16 × 16 tiles of P and the matching V rows staged in workgroup memory
//
// Each kernel is a reasonable implementation (tiled, vectorised, coalesced loads) so that the comparison measures
// fusion and mask-driven skipping, not a deliberately weak baseline. Layouts are mdl's: Q/out [B, Lq, H, D],
// K/V [B, Lk, kvHeads, D], scores [B, H, Lq, Lk], mask [Lq, Lk] shared by every batch row and head.

import type { AttentionShape } from '../src/runtime/attention-cpu.ts';
import type { GpuContext } from '../src/runtime/device.ts';
import { readBack } from '../src/runtime/gpu-buffers.ts';
import { prepareSteps, storageBuffer, uniformBuffer, type PreparedSteps } from './gpu-steps.ts';

const TILE = 16;
const SOFTMAX_THREADS = 64;

const DIMS_STRUCT = `struct Dims { lq: u32, lk: u32, heads: u32, kv_heads: u32, kv_group: u32, scale: f32, pad0: u32, pad1: u32 }
@group(0) @binding(0) var<uniform> dims: Dims;`;

function scoresWgsl(d4: number): string {
  return `${DIMS_STRUCT}
@group(0) @binding(1) var<storage, read> q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;
const D4: u32 = ${d4}u;
const T: u32 = ${TILE}u;
var<workgroup> q_tile: array<vec4<f32>, ${TILE * d4}>;
var<workgroup> k_tile: array<vec4<f32>, ${TILE * d4}>;

@compute @workgroup_size(${TILE}, ${TILE})
fn scores_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>,
               @builtin(local_invocation_index) li: u32) {
  let bh = wg.z;
  let b = bh / dims.heads;
  let h = bh % dims.heads;
  let kvh = h / dims.kv_group;
  let q0 = wg.y * T;
  let k0 = wg.x * T;
  for (var i = li; i < T * D4; i += T * T) {
    let r = i / D4;
    let c = i % D4;
    // Rows past the end read the last row (in bounds); their results are not stored.
    q_tile[i] = q[((b * dims.lq + min(q0 + r, dims.lq - 1u)) * dims.heads + h) * D4 + c];
    k_tile[i] = k[((b * dims.lk + min(k0 + r, dims.lk - 1u)) * dims.kv_heads + kvh) * D4 + c];
  }
  workgroupBarrier();
  var acc = vec4<f32>(0.0);
  for (var c = 0u; c < D4; c++) { acc = fma(q_tile[lid.y * D4 + c], k_tile[lid.x * D4 + c], acc); }
  let qp = q0 + lid.y;
  let kp = k0 + lid.x;
  if (qp < dims.lq && kp < dims.lk) {
    scores[(bh * dims.lq + qp) * dims.lk + kp] = (acc.x + acc.y + acc.z + acc.w) * dims.scale;
  }
}`;
}

function softmaxWgsl(masked: boolean): string {
  const n = SOFTMAX_THREADS;
  const visible = (k: string) => (masked ? `mask[mask_row + ${k}] != 0u` : 'true');
  const reduce = (op: string) => `  for (var s = ${n / 2}u; s > 0u; s >>= 1u) {
    if (li < s) { red[li] = ${op}(red[li], red[li + s]); }
    workgroupBarrier();
  }`;
  return `${DIMS_STRUCT}
@group(0) @binding(1) var<storage, read_write> scores: array<f32>;
${masked ? '@group(0) @binding(2) var<storage, read> mask: array<u32>;' : ''}
var<workgroup> red: array<f32, ${n}>;
fn add(a: f32, b: f32) -> f32 { return a + b; }

@compute @workgroup_size(${n})
fn softmax_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let row = wg.x;
  let base = (wg.y * dims.lq + row) * dims.lk;
  let mask_row = row * dims.lk;
  var m = -3.0e38;
  for (var k = li; k < dims.lk; k += ${n}u) { if (${visible('k')}) { m = max(m, scores[base + k]); } }
  red[li] = m;
  workgroupBarrier();
${reduce('max')}
  m = red[0];
  workgroupBarrier();
  var sum = 0.0;
  for (var k = li; k < dims.lk; k += ${n}u) { if (${visible('k')}) { sum += exp(scores[base + k] - m); } }
  red[li] = sum;
  workgroupBarrier();
${reduce('add')}
  // A row with no visible key gets all-zero probabilities, hence a zero output row, as in the fused kernel.
  let inv = select(0.0, 1.0 / red[0], red[0] > 0.0);
  for (var k = li; k < dims.lk; k += ${n}u) {
    var p = 0.0;
    if (${visible('k')}) { p = exp(scores[base + k] - m) * inv; }
    scores[base + k] = p;
  }
}`;
}

function weightedSumWgsl(d4: number): string {
  const rows = 256 / d4;
  return `${DIMS_STRUCT}
@group(0) @binding(1) var<storage, read> p: array<f32>;
@group(0) @binding(2) var<storage, read> v: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;
const D4: u32 = ${d4}u;
const ROWS: u32 = ${rows}u;
const TK: u32 = ${TILE}u;
var<workgroup> p_tile: array<f32, ${rows * TILE}>;
var<workgroup> v_tile: array<vec4<f32>, ${TILE * d4}>;

@compute @workgroup_size(256)
fn pv_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
  let bh = wg.y;
  let b = bh / dims.heads;
  let h = bh % dims.heads;
  let kvh = h / dims.kv_group;
  let q0 = wg.x * ROWS;
  let r = li / D4;
  let c = li % D4;
  var acc = vec4<f32>(0.0);
  for (var k0 = 0u; k0 < dims.lk; k0 += TK) {
    for (var i = li; i < ROWS * TK; i += 256u) {
      let qp = q0 + i / TK;
      let kp = k0 + i % TK;
      var x = 0.0;
      if (qp < dims.lq && kp < dims.lk) { x = p[(bh * dims.lq + qp) * dims.lk + kp]; }
      p_tile[i] = x;
    }
    for (var i = li; i < TK * D4; i += 256u) {
      let kp = k0 + i / D4;
      var x = vec4<f32>(0.0);
      if (kp < dims.lk) { x = v[((b * dims.lk + kp) * dims.kv_heads + kvh) * D4 + i % D4]; }
      v_tile[i] = x;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TK; kk++) { acc = fma(vec4<f32>(p_tile[r * TK + kk]), v_tile[kk * D4 + c], acc); }
    workgroupBarrier();
  }
  let qp = q0 + r;
  if (qp < dims.lq) { out[((b * dims.lq + qp) * dims.heads + h) * D4 + c] = acc; }
}`;
}

/** An attention problem (the CPU reference's shape) with its data. */
export interface UnfusedCase extends AttentionShape {
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  /** [Lq * Lk] 0/1, or undefined for no mask. */
  mask?: Uint8Array;
}

export interface PreparedUnfused extends PreparedSteps {
  output(): Promise<Float32Array>;
  /** Bytes of the intermediate score matrix, which the fused kernel never allocates. */
  scoreBytes: number;
  destroy(): void;
}

export async function prepareUnfused(gpu: GpuContext, c: UnfusedCase): Promise<PreparedUnfused> {
  const d4 = c.headDim / 4;
  if (!Number.isInteger(d4) || 256 % d4 !== 0) throw new Error(`unfused attention needs head dim / 4 to divide 256, got ${c.headDim}`);
  const dims = new Uint32Array(8);
  dims.set([c.lq, c.lk, c.heads, c.kvHeads, c.heads / c.kvHeads]);
  new Float32Array(dims.buffer)[5] = 1 / Math.sqrt(c.headDim);
  const bh = c.batch * c.heads;
  const scoreBytes = bh * c.lq * c.lk * 4;
  const outBytes = c.batch * c.lq * c.heads * c.headDim * 4;
  const buffers = {
    dims: uniformBuffer(gpu, 'unfused dims', dims),
    q: storageBuffer(gpu, 'unfused Q', c.q),
    k: storageBuffer(gpu, 'unfused K', c.k),
    v: storageBuffer(gpu, 'unfused V', c.v),
    scores: storageBuffer(gpu, 'unfused scores', scoreBytes),
    out: storageBuffer(gpu, 'unfused out', outBytes),
    mask: c.mask ? storageBuffer(gpu, 'unfused mask', Uint32Array.from(c.mask)) : undefined,
  };
  const uni = { type: 'uniform' as const, buffer: buffers.dims };
  const ro = (buffer: GPUBuffer) => ({ type: 'read-only-storage' as const, buffer });
  const rw = (buffer: GPUBuffer) => ({ type: 'storage' as const, buffer });
  const steps = await prepareSteps(gpu, [
    {
      label: 'scores = Q·Kᵀ',
      wgsl: scoresWgsl(d4),
      entryPoint: 'scores_main',
      bindings: [uni, ro(buffers.q), ro(buffers.k), rw(buffers.scores)],
      dispatch: [Math.ceil(c.lk / TILE), Math.ceil(c.lq / TILE), bh],
    },
    {
      label: 'mask + softmax',
      wgsl: softmaxWgsl(!!buffers.mask),
      entryPoint: 'softmax_main',
      bindings: [uni, rw(buffers.scores), ...(buffers.mask ? [ro(buffers.mask)] : [])],
      dispatch: [c.lq, bh, 1],
    },
    {
      label: 'out = P·V',
      wgsl: weightedSumWgsl(d4),
      entryPoint: 'pv_main',
      bindings: [uni, ro(buffers.scores), ro(buffers.v), rw(buffers.out)],
      dispatch: [Math.ceil(c.lq / (256 / d4)), bh, 1],
    },
  ]);
  return {
    ...steps,
    scoreBytes,
    output: async () => new Float32Array(await readBack(gpu, buffers.out, outBytes)),
    destroy: () => Object.values(buffers).forEach((b) => b?.destroy()),
  };
}
