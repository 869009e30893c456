// WGSL for the two small mask kernels that surround attention:
//
// - the dispatch-time tile classifier, for masks that read data (lengths, segment ids, tokens) or random bits: one
//   invocation per tile evaluates the compiled predicate over the tile's pairs and writes EMPTY / PARTIAL / FULL in
//   the attention kernel's layout. Its cost is one predicate per pair, no loads of Q, K or V, no floating point.
// - a dense mask writer, which evaluates the predicate for every (b, h, q, k) and writes 0/1. It materialises the
//   mask on purpose and is used only to check and draw masks (tests, `mdl mask --backend gpu`), never by attention.

import { declareKernel, type Kernel, type KernelBinding, type UniformField } from './kernel.ts';
import type { MaskWgsl } from '../masks/kernel-contract.ts';
import { ROW_WINDOW } from './attention.ts';
import { maskBinding } from './names.ts';

/**
 * Uniform block of both kernels. Rows q and k are positions q + q_offset and k + k_offset of the whole sequence
 * (both 0 unless decoding with a cache); the predicate is evaluated at those positions. `total` is the number of
 * cells (tiles, or pairs for the dense writer) the dispatch covers.
 */
export const MASK_KERNEL_UNIFORMS: readonly UniformField[] = ['lq', 'lk', 'n_q_tiles', 'n_k_tiles', 'tile_q', 'tile_k', 'heads', 'total', 'q_offset', 'k_offset'].map((name) => ({ name, type: 'u32' }));

/** The output (one u32 a cell) and the mask's table, under the role names attention binds them by. */
const bindingsFor = (mask: MaskWgsl): KernelBinding[] => [
  { role: 'tileClass', name: 'mdl_out', access: 'read_write', element: 'u32', extent: ({ u }) => u.total },
  maskBinding(mask),
];

export const MASK_KERNEL_WORKGROUP = 64;

const maskKernel = (family: string, entryPoint: string, body: string, bindings: KernelBinding[]): Kernel =>
  declareKernel({ family, entryPoint, struct: { type: 'MdlMaskGrid', name: 'grid' }, uniforms: [...MASK_KERNEL_UNIFORMS], bindings, workgroupSize: MASK_KERNEL_WORKGROUP, workgroupStorageBytes: 0, body });

/** Batch rows a classify dispatch covers, from its uniforms: `total` counts every row's tiles. */
const classifyRows = (u: Record<string, number>) => Math.ceil(u.total / Math.max(1, u.heads * u.n_q_tiles * u.n_k_tiles));

/**
 * The tile classifier. Invocation i handles tile i of `[(b * Hc + hc) * nQT + qt] * nKT + kt` (`heads` = Hc, 1 unless
 * the mask reads the head). Positions past Lq / Lk do not count, as in the attention kernel.
 */
export function classifierKernel(mask: MaskWgsl, rowWindows = false): Kernel {
  // With per-row windows (rows at different positions), each batch row's offsets and key count come from
  // `row_window` as in the attention kernel (ROW_WINDOW); key tiles past a row's keys come out EMPTY.
  const rw = (i: number) => `${ROW_WINDOW.name}[b * ${ROW_WINDOW.stride}u${i ? ` + ${i}u` : ''}]`;
  const [qOffset, kOffset, lk] = rowWindows ? [rw(0), rw(1), rw(2)] : ['grid.q_offset', 'grid.k_offset', 'grid.lk'];
  const bindings = rowWindows ? [...bindingsFor(mask), { role: ROW_WINDOW.role, name: ROW_WINDOW.name, access: 'read' as const, element: 'u32' as const, extent: ({ u }: { u: Record<string, number> }) => classifyRows(u) * ROW_WINDOW.stride }] : bindingsFor(mask);
  return maskKernel(rowWindows ? 'classify_rows' : 'classify', 'mdl_classify', `${mask.code}
@compute @workgroup_size(${MASK_KERNEL_WORKGROUP})
fn mdl_classify(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= grid.total) { return; }
  let kt = i % grid.n_k_tiles;
  let qt = (i / grid.n_k_tiles) % grid.n_q_tiles;
  let hb = i / (grid.n_k_tiles * grid.n_q_tiles);
  let h = hb % grid.heads;
  let b = hb / grid.heads;
  let q0 = qt * grid.tile_q;
  let q1 = min(q0 + grid.tile_q, grid.lq);
  let k0 = kt * grid.tile_k;
  let k1 = min(k0 + grid.tile_k, ${lk});
  var seen_visible = false;
  var seen_hidden = false;
  for (var q = q0; q < q1; q++) {
    for (var k = k0; k < k1; k++) {
      if (mdl_mask(i32(b), i32(h), i32(q + ${qOffset}), i32(k + ${kOffset}))) { seen_visible = true; } else { seen_hidden = true; }
    }
    if (seen_visible && seen_hidden) { break; }
  }
  // 0 EMPTY, 1 PARTIAL, 2 FULL (TileClass in kernel-contract.ts).
  var class_id = 1u;
  if (!seen_visible) { class_id = 0u; }
  if (!seen_hidden) { class_id = 2u; }
  mdl_out[i] = class_id;
}
`, bindings);
}

/** The dense writer: invocation i writes the mask bit of pair i of `[((b * H + h) * Lq + q) * Lk + k]`. */
export function denseMaskKernel(mask: MaskWgsl): Kernel {
  return maskKernel('dense_mask', 'mdl_dense', `${mask.code}
@compute @workgroup_size(${MASK_KERNEL_WORKGROUP})
fn mdl_dense(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= grid.total) { return; }
  let k = i % grid.lk;
  let q = (i / grid.lk) % grid.lq;
  let hb = i / (grid.lk * grid.lq);
  let h = hb % grid.heads;
  let b = hb / grid.heads;
  mdl_out[i] = select(0u, 1u, mdl_mask(i32(b), i32(h), i32(q + grid.q_offset), i32(k + grid.k_offset)));
}
`, bindingsFor(mask));
}
