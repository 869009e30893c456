// Fills the table a compiled mask reads (its parameter slots, then its data) from what the runtime knows at dispatch
// time, exactly as `src/masks/kernel-contract.ts` describes it.

import { maskDataStart, type MaskEnv, type MaskWgsl } from '../masks/kernel-contract.ts';
import type { LoadAt } from '../masks/predicate.ts';

export interface MaskBuffers {
  /** One i32 per `mask.params` slot (at least one element). */
  params: Int32Array;
  /** Every distinct input of `mask.inputs`, concatenated in order of first appearance (at least one element). */
  data: Int32Array;
  /** The buffer the kernel binds: `params`, then `data` from `maskDataStart(mask)` on. */
  table: Int32Array;
  /** Where each input starts in `data`, in elements. */
  offsets: Record<string, number>;
  /** The row stride of each input (1 for per-sequence scalars). */
  strides: Record<string, number>;
}

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;

function checkI32(what: string, value: number): number {
  if (!Number.isInteger(value) || value < I32_MIN || value > I32_MAX) {
    throw new Error(`${what} must be a 32-bit integer, got ${value}`);
  }
  return value;
}

/**
 * Packs the mask inputs for a batch of `batch` sequences.
 *
 * An input the predicate reads both at `q` and at `k` (segment ids compared across the two axes) is stored once: the
 * contract keys offsets and strides by input name. A per-position input's rows must cover every position the
 * predicate can read, so its stride must be at least Lq when read at `q` and at least Lk when read at `k`.
 */
export function packMaskBuffers(mask: MaskWgsl, env: MaskEnv, batch: number): MaskBuffers {
  const readAt = new Map<string, Set<LoadAt>>();
  for (const { input, at } of mask.inputs) {
    if (!readAt.has(input)) readAt.set(input, new Set());
    readAt.get(input)!.add(at);
  }

  const offsets: Record<string, number> = {};
  const strides: Record<string, number> = {};
  const chunks: Int32Array[] = [];
  let length = 0;
  for (const [input, ats] of readAt) {
    const values = env.data[input];
    if (!values) throw new Error(`the mask reads input '${input}', but no data was given for it`);
    const perPosition = ats.has('q') || ats.has('k');
    if (perPosition && ats.has('b')) {
      throw new Error(`mask input '${input}' is read both per sequence and per position; its layout is ambiguous`);
    }
    let stride = 1;
    if (perPosition) {
      stride = env.strides?.[input] ?? values.length / batch;
      if (!Number.isInteger(stride) || stride < 1) {
        throw new Error(`mask input '${input}' has ${values.length} values, not a whole row per sequence for batch ${batch}`);
      }
      for (const axis of ['q', 'k'] as const) {
        const need = env.dims[axis === 'q' ? 'Lq' : 'Lk'];
        if (ats.has(axis) && need !== undefined && stride < need) {
          throw new Error(
            `mask input '${input}' is read at every ${axis === 'q' ? 'query' : 'key'} position, so its rows need ` +
              `${need} values, but its stride is ${stride}`,
          );
        }
      }
    }
    const expected = batch * stride;
    if (values.length < expected) {
      throw new Error(`mask input '${input}' needs ${expected} values (batch ${batch} × ${stride}), got ${values.length}`);
    }
    offsets[input] = length;
    strides[input] = stride;
    chunks.push(values.subarray(0, expected));
    length += expected;
  }

  const data = new Int32Array(Math.max(1, length));
  let at = 0;
  for (const chunk of chunks) {
    data.set(chunk, at);
    at += chunk.length;
  }

  const params = new Int32Array(Math.max(1, mask.params.length));
  mask.params.forEach((slot, i) => {
    switch (slot.kind) {
      case 'dim': {
        const value = env.dims[slot.name];
        if (value === undefined) throw new Error(`the mask needs the value of '${slot.name}' at dispatch, but none was given`);
        params[i] = checkI32(`dim '${slot.name}'`, value);
        break;
      }
      case 'offset':
      case 'stride': {
        const table = slot.kind === 'offset' ? offsets : strides;
        const value = table[slot.input];
        if (value === undefined) {
          throw new Error(`mask parameter slot ${i} asks for the ${slot.kind} of '${slot.input}', which is not among its inputs`);
        }
        params[i] = checkI32(`${slot.kind} of '${slot.input}'`, value);
        break;
      }
      default:
        throw new Error(`unknown mask parameter slot ${JSON.stringify(slot)}`);
    }
  });
  const table = new Int32Array(maskDataStart(mask) + data.length);
  table.set(params, 0);
  table.set(data, maskDataStart(mask));
  return { params, data, table, offsets, strides };
}
