// The matmul's tilings: one product (`out = act(a · wᵀ + bias) + res`, w in `[out, in]` layout), several ways of
// cutting it into workgroups. Which is fastest depends on the adapter: a GPU pays for staging operands in workgroup
// memory and gets the bandwidth back many times over; a CPU implementation of WebGPU (SwiftShader) runs a workgroup's
// invocations as SIMD lanes on one core, where staging is a copy, barriers are costly and the cache already does what
// workgroup memory would. The tuner measures them per adapter and lowering takes its choice (`Step.kernel.tiling`).
//
// Every tiling has the same uniforms and bindings as the default (`matmulKernel`), so a step binds the same buffers
// whichever runs; only the grid differs (`matmulTileOf`). Loads past the edges are clamped and stores guarded, so any
// M, N and K work.

import { declareKernel, type Kernel, type KernelBinding } from './kernel.ts';
import { matmulKernel, matmulParts, STAGED_ACC_DECL, stagedBlockStep, stagedBlockStore, type MatmulOptions } from './kernels.ts';

/**
 * `wg32`: the default, 32×32 outputs a workgroup staged 16 columns of K at a time through workgroup memory, 4×4 per
 * invocation. `wg64`: the same with 64×64 tiles, 8×8 per invocation. `reg4x4`, `reg8x4`: no workgroup memory and no
 * barriers; each invocation keeps a 4×4 (8×4) block of outputs in registers and reads its rows of a and w straight
 * from storage, four values of K at a time, as `dot`s of vec4s. The `v4` forms bind a and w as arrays of vec4 (one
 * load per four values) and need K to be a multiple of 4, which lowering checks.
 */
export type MatmulTiling = 'wg32' | 'wg64' | 'reg4x4' | 'reg8x4' | 'reg4x4v4' | 'reg8x4v4';

export const MATMUL_TILINGS: readonly MatmulTiling[] = ['wg32', 'wg64', 'reg4x4', 'reg8x4', 'reg4x4v4', 'reg8x4v4'];

export const DEFAULT_MATMUL_TILING: MatmulTiling = 'wg32';

/** Output rows and columns one workgroup computes: the grid is ceil(N / cols) × ceil(M / rows). */
export function matmulTileOf(tiling: MatmulTiling): { rows: number; cols: number } {
  switch (tiling) {
    case 'wg32':
    case 'reg4x4':
    case 'reg4x4v4':
      return { rows: 32, cols: 32 };
    case 'wg64':
      return { rows: 64, cols: 64 };
    case 'reg8x4':
    case 'reg8x4v4':
      return { rows: 64, cols: 32 };
  }
}

/** True when the tiling can run a product with this inner size (undefined: not known when lowering). */
export function tilingFits(tiling: MatmulTiling, K: number | undefined): boolean {
  return !tiling.endsWith('v4') || (K !== undefined && K % 4 === 0);
}

/** The tiling to lower with: the chosen one where it fits this K, else its scalar form, else the default. */
export function tilingFor(chosen: MatmulTiling | undefined, K: number | undefined): MatmulTiling {
  if (!chosen) return DEFAULT_MATMUL_TILING;
  if (tilingFits(chosen, K)) return chosen;
  const scalar = chosen.replace(/v4$/, '') as MatmulTiling;
  return tilingFits(scalar, K) ? scalar : DEFAULT_MATMUL_TILING;
}

/**
 * The rows per invocation of the training program's backward products (dX = dY · W, dW = dYᵀ · X) under a tiling:
 * the register tilings block them the same way (R×4, `stridedBlockedMatmulKernel`); the staged ones, and no choice,
 * keep one output per invocation.
 */
export function backwardMatmulBlock(tiling: MatmulTiling | undefined): 4 | 8 | undefined {
  if (!tiling?.startsWith('reg')) return undefined;
  return tiling.startsWith('reg8') ? 8 : 4;
}

export function isMatmulTiling(x: unknown): x is MatmulTiling {
  return typeof x === 'string' && (MATMUL_TILINGS as readonly string[]).includes(x);
}

/** The matmul kernel of this tiling. */
export function tiledMatmulKernel(opts: MatmulOptions, tiling: MatmulTiling = DEFAULT_MATMUL_TILING): Kernel {
  if (tiling === 'wg32') return matmulKernel(opts);
  if (tiling === 'wg64') return stagedKernel(opts, 64, tiling);
  const rows = tiling.startsWith('reg8') ? 8 : 4;
  return registerKernel(opts, rows, 4, tiling.endsWith('v4'), tiling);
}

const PARAMS = { type: 'Params', name: 'u' };

/** A staged kernel of 8×8 invocations over a T×T tile, each a (T/8)×(T/8) block (T = 32 is `matmulKernel`). */
function stagedKernel(opts: MatmulOptions, T: number, tiling: MatmulTiling): Kernel {
  const m = matmulParts(opts);
  const b = T / 8;
  const loads = (T * 16) / 64;
  const body = `${m.prelude}
var<workgroup> ta: array<array<f32, 16>, ${T}>;
var<workgroup> tw: array<array<f32, 16>, ${T}>;
@compute @workgroup_size(8, 8)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = u.M; let N = u.N; let K = u.K;
  let row0 = wid.y * ${T}u;
  let col0 = wid.x * ${T}u;
  let tid = lid.y * 8u + lid.x;
${STAGED_ACC_DECL(b)}
  for (var k0 = 0u; k0 < K; k0 += 16u) {
    for (var i = 0u; i < ${loads}u; i++) {
      let e = tid + i * 64u;
      let r = e / 16u;
      let kk = e % 16u;
      let gk = k0 + kk;
      let ar = row0 + r;
      ta[r][kk] = select(0.0, a[min(ar, M - 1u) * K + min(gk, K - 1u)], ar < M && gk < K);
      let wr = col0 + r;
      tw[r][kk] = select(0.0, w[min(wr, N - 1u) * K + min(gk, K - 1u)], wr < N && gk < K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
${stagedBlockStep(b, 'fma')}
    }
    workgroupBarrier();
  }
${stagedBlockStore(b, m.epilogue)}
}`;
  return declareKernel({ family: `${m.family}_${tiling}`, entryPoint: 'main', struct: PARAMS, uniforms: m.uniforms, bindings: m.bindings, workgroupSize: 64, workgroupStorageBytes: 2 * T * 16 * 4, body });
}

/**
 * 8×8 invocations, each an R×C block of outputs (C = 4): rows and columns past the edge are clamped to the last one
 * for loading (so every load is in bounds without a branch) and not stored. The blocks are unrolled when generated:
 * a CPU-backed adapter (SwiftShader) keeps a private array indexed in a loop in memory, one access per lane each,
 * where named values stay in registers.
 */
function registerKernel(opts: MatmulOptions, R: number, C: number, vec4: boolean, tiling: MatmulTiling): Kernel {
  const m = matmulParts(opts);
  // The v4 forms read a and w as vec4s; their extents (in scalars) are unchanged.
  const bindings: KernelBinding[] = vec4 ? m.bindings.map((bd) => (bd.role === 'a' || bd.role === 'w' ? { ...bd, element: 'vec4<f32>' } : bd)) : m.bindings;
  const rows = Array.from({ length: R }, (_, i) => i);
  const cols = Array.from({ length: C }, (_, j) => j);
  const each = (n: number[], line: (x: number) => string, indent: string) => n.map((x) => indent + line(x)).join('\n');
  const load = (arr: string, base: string) => (vec4 ? `${arr}[${base} + k4]` : `vec4<f32>(${arr}[${base} + k], ${arr}[${base} + k + 1u], ${arr}[${base} + k + 2u], ${arr}[${base} + k + 3u])`);
  const dots = `vec4<f32>(${cols.map((j) => `dot(av, w${j})`).join(', ')})`;
  const inner = `
${each(cols, (j) => `let w${j} = ${load('w', `wr${j}`)};`, '    ')}
${each(rows, (i) => `{ let av = ${load('a', `ar${i}`)}; acc${i} += ${dots}; }`, '    ')}`;
  const loop = vec4
    ? `  for (var k4 = 0u; k4 < K4; k4++) {${inner}
  }`
    : `  let K4 = K & ~3u;
  for (var k = 0u; k < K4; k += 4u) {${inner}
  }
  // The last K % 4 columns, one at a time.
  for (var k = K4; k < K; k++) {
    let wk = vec4<f32>(${cols.map((j) => `w[wr${j} + k]`).join(', ')});
${each(rows, (i) => `acc${i} += a[ar${i} + k] * wk;`, '    ')}
  }`;
  const stride = vec4 ? 'K4' : 'K';
  const body = `${m.prelude}
@compute @workgroup_size(8, 8)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = u.M; let N = u.N; let K = u.K;
  let row0 = wid.y * ${8 * R}u + lid.y * ${R}u;
  let col0 = wid.x * ${8 * C}u + lid.x * ${C}u;
  if (row0 >= M || col0 >= N) { return; }
${vec4 ? '  let K4 = K / 4u;\n' : ''}${each(rows, (i) => `let ar${i} = min(row0 + ${i}u, M - 1u) * ${stride};`, '  ')}
${each(cols, (j) => `let wr${j} = min(col0 + ${j}u, N - 1u) * ${stride};`, '  ')}
${each(rows, (i) => `var acc${i} = vec4<f32>(0.0);`, '  ')}
${loop}
${rows
  .flatMap((i) => cols.map((j) => `  { let row = row0 + ${i}u; let col = col0 + ${j}u;\n    if (row < M && col < N) {\n      ${m.epilogue(`acc${i}[${j}]`, '      ')}\n    }\n  }`))
  .join('\n')}
}`;
  return declareKernel({ family: `${m.family}_${tiling}`, entryPoint: 'main', struct: PARAMS, uniforms: m.uniforms, bindings, workgroupSize: 64, workgroupStorageBytes: 0, body });
}
