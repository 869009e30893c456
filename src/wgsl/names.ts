// Every identifier the attention kernel declares. They are fixed strings chosen here, never derived from a spec, so
// the only user-controlled text in a kernel is the mask module from `src/masks`, which owns the `mdl_` / `mask_`
// names of the kernel contract. Our names all start with `attn_`, `ATTN_` or `sm_` so the two sets cannot collide.

import { maskDataStart, type MaskWgsl } from '../masks/kernel-contract.ts';
import type { KernelBinding } from './kernel.ts';

export const ATTN_NAMES = {
  entryPoint: 'attn_main',
  paramsStruct: 'AttnParams',
  params: 'attn_params',
  q: 'attn_q',
  k: 'attn_k',
  v: 'attn_v',
  out: 'attn_out',
  tileClass: 'attn_tile_class',
  kTile: 'attn_k_tile',
  vTile: 'attn_v_tile',
  scores: 'attn_scores',
  modifyScore: 'attn_modify_score',
  lse: 'attn_lse',
} as const;

/** Names fixed by the kernel contract (`src/masks/kernel-contract.ts`); `table` is the binding the two views read. */
export const MASK_NAMES = {
  predicate: 'mdl_mask',
  params: 'mask_params',
  data: 'mask_data',
  table: 'mask_table',
} as const;

/**
 * The one binding a mask reads, under the role every step binds it by: the parameter slots at element 0 and the data
 * after them, each read through its generated view function.
 */
export function maskBinding(mask: Pick<MaskWgsl, 'params'>): KernelBinding & { role: 'mask' } {
  return {
    role: 'mask',
    name: MASK_NAMES.table,
    access: 'read',
    element: 'i32',
    views: [{ name: MASK_NAMES.params }, { name: MASK_NAMES.data, start: maskDataStart(mask) }],
  };
}

const OUR_PREFIXES = /\b(attn_|ATTN_|sm_|AttnParams\b)/;

/**
 * Rejects mask code that would shadow or redeclare one of the kernel's own identifiers, and mask code that does not
 * define the predicate the kernel calls. Both are bugs in the mask compiler, reported before WGSL compilation turns
 * them into a less readable error.
 */
export function checkMaskCode(code: string): void {
  const clash = OUR_PREFIXES.exec(code);
  if (clash) throw new Error(`mask WGSL uses the identifier prefix '${clash[1]}', which is reserved for the attention kernel`);
  if (!new RegExp(`\\bfn\\s+${MASK_NAMES.predicate}\\s*\\(`).test(code)) {
    throw new Error(`mask WGSL does not define 'fn ${MASK_NAMES.predicate}(b: i32, h: i32, q: i32, k: i32) -> bool'`);
  }
}
