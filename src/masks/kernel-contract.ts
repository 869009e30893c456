// The contract between a compiled mask and the attention kernel that embeds it.
//
// `src/masks` turns a mask predicate into a WGSL function; `src/wgsl` splices that function into the fused
// attention kernel; `src/runtime` fills the two buffers the function reads. Keeping all three sides on this one
// description means a mask never needs to know which kernel it lives in, and the kernel never needs to know which
// mask it runs.

import type { LoadAt } from './predicate.ts';

/** Tile classes, as stored in tile-class buffers (u32) and used by the classifier on the CPU. */
export const enum TileClass {
  /** No visible pair: the kernel never loads this K/V tile. */
  Empty = 0,
  /** Some pairs visible, some not: the kernel evaluates the predicate per pair. */
  Partial = 1,
  /** Every pair visible: the kernel skips the predicate. */
  Full = 2,
}

/** One i32 slot of `mask_params`, filled by the runtime before each dispatch. */
export type MaskParamSlot =
  /** A dispatch-time integer: `Lq`, `Lk`, or a symbolic dim of the spec such as `S`. */
  | { kind: 'dim'; name: string }
  /** Where an input's data starts inside `mask_data`, in i32 elements. */
  | { kind: 'offset'; input: string }
  /** The row length of a per-position input inside `mask_data` (elements between `data[b, 0]` and `data[b + 1, 0]`). */
  | { kind: 'stride'; input: string };

/**
 * A mask compiled to WGSL.
 *
 * `code` defines helper functions and `fn mdl_mask(b: i32, h: i32, q: i32, k: i32) -> bool`, which reads nothing but
 * two functions that the embedding kernel must declare with exactly these names:
 *
 *     fn mask_params(i: u32) -> i32
 *     fn mask_data(i: u32) -> i32
 *
 * Both read one i32 buffer, the mask table: `params.length` slots (at least one) and then the data, from
 * `maskDataStart(mask)` on. Keeping them in one binding saves a storage buffer in every kernel that evaluates the mask.
 * `mask_params(i)` is the value described by `params[i]`. `mask_data` is every input listed in `inputs` concatenated
 * as i32 (per-sequence scalars `[B]`, per-position values `[B, stride]`), at least one element even when unused, so
 * the table is never smaller than its two parts.
 */
export interface MaskWgsl {
  code: string;
  params: MaskParamSlot[];
  inputs: { input: string; at: LoadAt }[];
  /** The predicate reads only b/h/q/k and params: its tiles can be classified before dispatch, without data. */
  indexOnly: boolean;
  /** The predicate depends on the head index: tile classes must be kept per head, not only per batch row. */
  perHead: boolean;
}

/** What the runtime knows at dispatch time about one attention site's mask inputs. */
export interface MaskEnv {
  /** Values of the dims the mask reads: always `Lq` and `Lk`, plus any symbolic spec dims. */
  dims: Record<string, number>;
  /** Integer data per input name: `[B]` for per-sequence scalars, `[B * stride]` for per-position values. */
  data: Record<string, Int32Array>;
  /** The row stride of each per-position input in `data`. */
  strides?: Record<string, number>;
}

/** Where the mask's data starts inside its table: after the parameter slots, of which there is always at least one. */
export function maskDataStart(mask: Pick<MaskWgsl, 'params'>): number {
  return Math.max(1, mask.params.length);
}
