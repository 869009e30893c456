// Hand-written compiled masks for the kernel tests, each following `src/masks/kernel-contract.ts` to the letter, with
// the JS predicate the CPU oracle uses and the inputs the runtime packs. Also: deterministic data, a brute-force tile
// classifier, and error measures.

import { TileClass, type MaskEnv, type MaskWgsl } from '../../src/masks/kernel-contract.ts';
import type { MaskFn } from '../../src/runtime/attention-cpu.ts';
import type { AttentionKernel } from '../../src/wgsl/attention.ts';

export interface MaskFixture {
  name: string;
  wgsl: MaskWgsl;
  /** The same predicate in JS, given the batch's inputs. */
  predicate: (env: MaskEnv) => MaskFn;
}

/** Top-left causal: query q sees keys 0..q. Reads nothing but its indices. */
export const causalTopLeft: MaskFixture = {
  name: 'causal (top-left)',
  wgsl: {
    code: 'fn mdl_mask(b: i32, h: i32, q: i32, k: i32) -> bool {\n  return k <= q;\n}',
    params: [],
    inputs: [],
    indexOnly: true,
    perHead: false,
  },
  predicate: () => (_b, _h, q, k) => k <= q,
};

/** Bottom-right causal: the last query is aligned with the last key (a KV cache holding Lk - Lq earlier positions). */
export const causalBottomRight: MaskFixture = {
  name: 'causal (bottom-right, KV offset)',
  wgsl: {
    code: [
      'fn mdl_mask(b: i32, h: i32, q: i32, k: i32) -> bool {',
      '  let lq = mask_params(0u);',
      '  let lk = mask_params(1u);',
      '  return k <= q + (lk - lq);',
      '}',
    ].join('\n'),
    params: [
      { kind: 'dim', name: 'Lq' },
      { kind: 'dim', name: 'Lk' },
    ],
    inputs: [],
    indexOnly: true,
    perHead: false,
  },
  predicate: (env) => (_b, _h, q, k) => k <= q + (env.dims.Lk - env.dims.Lq),
};

/** Key padding: batch row b has `lengths[b]` real keys. */
export const keyPadding: MaskFixture = {
  name: 'key padding (lengths)',
  wgsl: {
    code: [
      'fn mdl_mask(b: i32, h: i32, q: i32, k: i32) -> bool {',
      '  return k < mask_data(u32(mask_params(0u) + b));',
      '}',
    ].join('\n'),
    params: [{ kind: 'offset', input: 'lengths' }],
    inputs: [{ input: 'lengths', at: 'b' }],
    indexOnly: false,
    perHead: false,
  },
  predicate: (env) => (b, _h, _q, k) => k < env.data.lengths[b],
};

/** Packed documents: causal attention within a document, documents given by per-position segment ids. */
export const packedDocuments: MaskFixture = {
  name: 'packed documents (segment ids, causal)',
  wgsl: {
    code: [
      'fn mdl_seg_at(b: i32, pos: i32) -> i32 {',
      '  return mask_data(u32(mask_params(0u) + b * mask_params(1u) + pos));',
      '}',
      'fn mdl_mask(b: i32, h: i32, q: i32, k: i32) -> bool {',
      '  return k <= q && mdl_seg_at(b, q) == mdl_seg_at(b, k);',
      '}',
    ].join('\n'),
    params: [
      { kind: 'offset', input: 'segments' },
      { kind: 'stride', input: 'segments' },
    ],
    inputs: [
      { input: 'segments', at: 'q' },
      { input: 'segments', at: 'k' },
    ],
    indexOnly: false,
    perHead: false,
  },
  predicate: (env) => {
    const stride = env.strides?.segments ?? env.data.segments.length;
    const seg = (b: number, p: number) => env.data.segments[b * stride + p];
    return (b, _h, q, k) => k <= q && seg(b, q) === seg(b, k);
  },
};

/** Causal, plus every query q ≡ 1 (mod 3) sees nothing: rows that must come out as exact zeros. */
export const someRowsBlind: MaskFixture = {
  name: 'causal with fully masked rows',
  wgsl: {
    code: 'fn mdl_mask(b: i32, h: i32, q: i32, k: i32) -> bool {\n  return q % 3 != 1 && k <= q;\n}',
    params: [],
    inputs: [],
    indexOnly: true,
    perHead: false,
  },
  predicate: () => (_b, _h, q, k) => q % 3 !== 1 && k <= q,
};

/** A per-head sliding window: head h sees the last 3 + 5h keys up to the diagonal (ALiBi-style head diversity). */
export const perHeadWindow: MaskFixture = {
  name: 'per-head causal window',
  wgsl: {
    code: 'fn mdl_mask(b: i32, h: i32, q: i32, k: i32) -> bool {\n  return k <= q && q - k < 3 + 5 * h;\n}',
    params: [],
    inputs: [],
    indexOnly: true,
    perHead: true,
  },
  predicate: () => (_b, h, q, k) => k <= q && q - k < 3 + 5 * h,
};

/** Inputs for the data-reading masks: the second batch row is shorter (empty when Lk is 1: fully masked rows). */
export function envFor(fixture: MaskFixture | undefined, batch: number, lq: number, lk: number): MaskEnv {
  const data: Record<string, Int32Array> = {};
  const strides: Record<string, number> = {};
  if (fixture === keyPadding) {
    data.lengths = Int32Array.from({ length: batch }, (_, b) => (b === 0 ? lk : Math.max(0, Math.floor(lk / 2) - 1)));
  }
  if (fixture === packedDocuments) {
    const stride = Math.max(lq, lk);
    // Documents of 5, 16, 27, ... positions, a different packing per batch row.
    data.segments = Int32Array.from({ length: batch * stride }, (_, i) => Math.floor((i % stride) / (5 + 11 * Math.floor(i / stride))));
    strides.segments = stride;
  }
  return { dims: { Lq: lq, Lk: lk }, data, strides };
}

/** Data for every input the zoo's masks read, at lengths L (T axis) and S (S axis). */
export function zooEnv(batch: number, t: number, s: number): MaskEnv {
  const rows = (len: number, f: (b: number, i: number) => number) => Int32Array.from({ length: batch * len }, (_, i) => f(Math.floor(i / len), i % len));
  return {
    dims: { B: batch, T: t, S: s },
    data: {
      tgt: rows(t, (b, i) => (i < t - 3 * b ? 5 : 0)),
      src: rows(s, (b, i) => (i < s - 2 * b ? 7 : 0)),
      src_len: Int32Array.from({ length: batch }, (_, b) => Math.max(0, s - 5 * b)),
      prefix_len: Int32Array.from({ length: batch }, (_, b) => 2 + b),
      docs: rows(t, (b, i) => Math.floor((i + b) / 9)),
    },
    strides: { tgt: t, src: s, docs: t },
  };
}

/** Exact tile classes by brute force over every pair; positions past Lq/Lk are ignored, as the kernel contract allows. */
export function classifyTiles(kernel: AttentionKernel, batch: number, lq: number, lk: number, mask: MaskFn): Uint32Array {
  const qTiles = Math.ceil(lq / kernel.tileQ);
  const kTiles = Math.ceil(lk / kernel.tileK);
  const heads = kernel.tileHeads;
  const classes = new Uint32Array(batch * heads * qTiles * kTiles);
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < heads; h++) {
      for (let qt = 0; qt < qTiles; qt++) {
        for (let kt = 0; kt < kTiles; kt++) {
          let seen = 0;
          let visible = 0;
          for (let q = qt * kernel.tileQ; q < Math.min(lq, (qt + 1) * kernel.tileQ); q++) {
            for (let k = kt * kernel.tileK; k < Math.min(lk, (kt + 1) * kernel.tileK); k++) {
              seen++;
              if (mask(b, h, q, k)) visible++;
            }
          }
          const cls = visible === 0 ? TileClass.Empty : visible === seen ? TileClass.Full : TileClass.Partial;
          classes[((b * heads + h) * qTiles + qt) * kTiles + kt] = cls;
        }
      }
    }
  }
  return classes;
}

/** Deterministic values in [-1, 1) (a small LCG), so failures reproduce. */
export function randomFloats(length: number, seed: number, amplitude = 1): Float32Array {
  const out = new Float32Array(length);
  let state = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = amplitude * (state / 2 ** 31 - 1);
  }
  return out;
}

/** Largest |a - b|; NaN if either side has a NaN where the other does not agree. */
export function maxAbsError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (Number.isNaN(d)) return NaN;
    if (d > worst) worst = d;
  }
  return worst;
}

export function allFinite(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}
