// The matmul's backward products under a register tiling, read four values at a time. For y[m, n] = Σ_k x[m, k] ·
// w[n, k] (w in `[out, in]` layout, M rows, N outputs, K inputs):
//
// - `input`:  dX[m, k] = Σ_n dY[m, n] · W[n, k]
// - `weight`: dW[n, k] = Σ_m dY[m, n] · X[m, k]
//
// Both outputs have K columns and both right-hand operands (W, X) are read along K, so with K a multiple of 4 each
// invocation keeps an R×4 block of outputs as R vec4 sums and each load of the right operand is one vec4 that feeds
// R of them. dY is read as vec4s too where N is a multiple of 4 (four steps of the inner index at once for `input`,
// four output rows at once for `weight`), else one value at a time. The generic strided form (backward-kernels.ts
// `stridedBlockedMatmulKernel`) reads every operand one scalar at a time at run-time strides, which a CPU-backed
// adapter (SwiftShader) runs at a fraction of the forward matmul's speed.
//
// Every output still sums its inner index in increasing order, one fused multiply-add a term (the determinism rule
// of backward-kernels.ts); rows past the edge are clamped for loading and not stored. The blocks are unrolled when
// generated, so no private array is indexed at run time.

import { declareKernel, type Kernel, type KernelBinding, type UniformField } from './kernel.ts';

type U = { u: Record<string, number> };
const PARAMS = { type: 'Params', name: 'u' };
const UNIFORMS: UniformField[] = ['M', 'N', 'K'].map((name) => ({ name, type: 'u32' }));

export type GradMatmulWrt = 'input' | 'weight';

/**
 * Output rows an invocation computes under a register tiling, whichever the tiling: measured on SwiftShader at the
 * benchmark's decoder shapes, 16 rows beat 8 by about 15% and 8 beat 4 by about 25% (each dY value read feeds four
 * sums and each vec4 of W or X feeds sixteen); 32 is no faster than 8.
 */
export const GRAD_MATMUL_ROWS = 16;

export interface GradMatmulOptions {
  wrt: GradMatmulWrt;
  /** Output rows an invocation computes (of dX for `input`, of dW for `weight`), 4 columns each; a multiple of 4. */
  rows: 4 | 8 | 16;
  /** dY is read as vec4s: N is a multiple of 4. */
  dyVec4: boolean;
}

/** True when the product can run this kernel: K (the weight's input size) a multiple of 4. */
export function gradMatmulFits(K: number | undefined): boolean {
  return K !== undefined && K % 4 === 0;
}

/** Invocations of a product: output row blocks × column quads. */
export function gradMatmulInvocations(o: Pick<GradMatmulOptions, 'wrt' | 'rows'>, u: { M: number; N: number; K: number }): number {
  return Math.ceil((o.wrt === 'input' ? u.M : u.N) / o.rows) * (u.K / 4);
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const lines = (n: number, line: (x: number) => string, indent: string) => range(n).map((x) => indent + line(x)).join('\n');
const LANES = ['x', 'y', 'z', 'w'];

export function gradMatmulKernel(o: GradMatmulOptions): Kernel {
  const R = o.rows;
  const outRows = o.wrt === 'input' ? 'u.M' : 'u.N';
  const bindings: KernelBinding[] = [
    { role: 'a', access: 'read', element: o.dyVec4 ? 'vec4<f32>' : 'f32', extent: ({ u }: U) => u.M * u.N },
    { role: 'b', access: 'read', element: 'vec4<f32>', extent: ({ u }: U) => (o.wrt === 'input' ? u.N : u.M) * u.K },
    { role: 'out', access: 'read_write', element: 'vec4<f32>', extent: ({ u }: U) => (o.wrt === 'input' ? u.M : u.N) * u.K },
  ];
  const acc = (x: number) => `acc${x}`;
  const fma = (x: number, s: string, v: string) => `${acc(x)} = fma(vec4<f32>(${s}), ${v}, ${acc(x)});`;
  let loop: string;
  if (o.wrt === 'input') {
    // Rows r0 … r0 + R − 1 of dY (clamped), along n.
    const rowsAt = lines(R, (x) => `let ar${x} = min(r0 + ${x}u, u.M - 1u) * ${o.dyVec4 ? 'N4' : 'u.N'};`, '  ');
    loop = o.dyVec4
      ? `${rowsAt}
  for (var n4 = 0u; n4 < N4; n4++) {
${lines(4, (j) => `let w${j} = b[(4u * n4 + ${j}u) * K4 + k4];`, '    ')}
${range(R)
  .map((x) => `    { let dv = a[ar${x} + n4];\n${lines(4, (j) => fma(x, `dv.${LANES[j]}`, `w${j}`), '      ')} }`)
  .join('\n')}
  }`
      : `${rowsAt}
  for (var n = 0u; n < u.N; n++) {
    let w = b[n * K4 + k4];
${lines(R, (x) => fma(x, `a[ar${x} + n]`, 'w'), '    ')}
  }`;
  } else {
    // Columns r0 … r0 + R − 1 of dY (clamped), along m.
    loop = o.dyVec4
      ? `${lines(R / 4, (q) => `let aq${q} = min(r0 / 4u + ${q}u, N4 - 1u);`, '  ')}
  for (var m = 0u; m < u.M; m++) {
    let xv = b[m * K4 + k4];
${range(R / 4)
  .map((q) => `    { let dv = a[m * N4 + aq${q}];\n${lines(4, (j) => fma(4 * q + j, `dv.${LANES[j]}`, 'xv'), '      ')} }`)
  .join('\n')}
  }`
      : `${lines(R, (x) => `let ac${x} = min(r0 + ${x}u, u.N - 1u);`, '  ')}
  for (var m = 0u; m < u.M; m++) {
    let xv = b[m * K4 + k4];
    let am = m * u.N;
${lines(R, (x) => fma(x, `a[am + ac${x}]`, 'xv'), '    ')}
  }`;
  }
  const body = `
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  let K4 = u.K / 4u;${o.dyVec4 ? '\n  let N4 = u.N / 4u;' : ''}
  if (i >= ((${outRows} + ${R - 1}u) / ${R}u) * K4) { return; }
  let r0 = (i / K4) * ${R}u; let k4 = i % K4;
${lines(R, (x) => `var ${acc(x)} = vec4<f32>(0.0);`, '  ')}
${loop}
${lines(R, (x) => `if (r0 + ${x}u < ${outRows}) { out[(r0 + ${x}u) * K4 + k4] = ${acc(x)}; }`, '  ')}
}`;
  return declareKernel({
    family: `matmul_grad_${o.wrt}_reg${R}x4${o.dyVec4 ? 'v4' : ''}`,
    entryPoint: 'main',
    struct: PARAMS,
    uniforms: UNIFORMS,
    bindings,
    workgroupSize: 64,
    workgroupStorageBytes: 0,
    body,
  });
}
