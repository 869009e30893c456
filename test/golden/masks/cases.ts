// The golden mask cases: each is a mask expression, the sizes and data it is drawn at, and an independent formula —
// a direct JS reading of the mask's documented meaning, written without the policy lowering — that the pinned
// matrix must agree with. scripts/gen-golden-masks.ts writes one readable file per case from the CPU evaluator; the
// test checks file = evaluator = formula = compiled WGSL run on Dawn.

import { pairHash } from '../../../src/masks/hash.ts';

export interface MaskData {
  tgt?: number[][];
  src?: number[][];
  src_len?: number[];
  tgt_len?: number[];
  prefix_len?: number[];
  docs?: number[][];
}

export interface GoldenCase {
  name: string;
  mask: string;
  /** Query and key lengths. Self-attention cases run along T (Lq = Lk = T); cross-attention ones have T = Lq, S = Lk. */
  lq: number;
  lk: number;
  batch?: number;
  heads?: number;
  data?: MaskData;
  /** The mask's meaning, written independently of src/masks. */
  formula: (b: number, h: number, q: number, k: number, x: { lq: number; lk: number; d: MaskData }) => boolean;
}

const fdiv = (a: number, b: number) => Math.floor(a / b);
const fmod = (a: number, b: number) => a - b * Math.floor(a / b);
const TGT = [[5, 6, 7, 0, 0], [3, 4, 0, 0, 0]];
const DOCS = [[0, 0, 1, 1, 1, 2, 2]];

export const goldenCases: GoldenCase[] = [
  // ---- every built-in ----
  { name: 'none', mask: 'none', lq: 4, lk: 5, formula: () => true },
  { name: 'full', mask: 'full', lq: 3, lk: 3, formula: () => true },
  { name: 'causal', mask: 'causal', lq: 6, lk: 6, formula: (_b, _h, q, k) => k <= q },
  { name: 'causal-cross-top-left', mask: 'causal', lq: 4, lk: 7, formula: (_b, _h, q, k) => k <= q },
  { name: 'causal-bottom-right', mask: 'causal(align = bottom_right)', lq: 3, lk: 7, formula: (_b, _h, q, k, x) => k <= q + x.lk - x.lq },
  { name: 'causal-offset', mask: 'causal(offset = 2)', lq: 5, lk: 7, formula: (_b, _h, q, k) => k <= q + 2 },
  { name: 'causal-negative-offset', mask: 'causal(offset = -1)', lq: 5, lk: 5, formula: (_b, _h, q, k) => k <= q - 1 },
  { name: 'diagonal', mask: 'diagonal', lq: 5, lk: 5, formula: (_b, _h, q, k) => q === k },
  { name: 'diagonal-cross', mask: 'diagonal', lq: 4, lk: 6, formula: (_b, _h, q, k) => q === k },
  { name: 'steps', mask: 'steps(3)', lq: 9, lk: 9, formula: (_b, _h, q, k) => fdiv(k, 3) <= fdiv(q, 3) },
  { name: 'window', mask: 'window(3)', lq: 8, lk: 8, formula: (_b, _h, q, k) => k <= q && k > q - 3 },
  { name: 'band', mask: 'band(2, 1)', lq: 7, lk: 7, formula: (_b, _h, q, k) => k >= q - 2 && k <= q + 1 },
  { name: 'dilated', mask: 'dilated(6, 2)', lq: 9, lk: 9, formula: (_b, _h, q, k) => k <= q && q - k < 6 && (q - k) % 2 === 0 },
  { name: 'prefix', mask: 'prefix(3)', lq: 7, lk: 7, formula: (_b, _h, q, k) => k < 3 || k <= q },
  { name: 'prefix-per-sequence', mask: 'prefix(prefix_len)', lq: 6, lk: 6, batch: 2, data: { prefix_len: [2, 4] }, formula: (b, _h, q, k, x) => k < x.d.prefix_len![b] || k <= q },
  { name: 'chunked', mask: 'chunked(3)', lq: 7, lk: 7, formula: (_b, _h, q, k) => fdiv(q, 3) === fdiv(k, 3) },
  { name: 'sink', mask: 'sink(2)', lq: 5, lk: 6, formula: (_b, _h, _q, k) => k < 2 },
  { name: 'key-padding-tokens', mask: 'key_padding(tgt)', lq: 5, lk: 5, batch: 2, data: { tgt: TGT }, formula: (b, _h, _q, k, x) => x.d.tgt![b][k] !== 0 },
  { name: 'key-padding-lengths-cross', mask: 'key_padding(src_len)', lq: 4, lk: 6, batch: 2, data: { src_len: [3, 6] }, formula: (b, _h, _q, k, x) => k < x.d.src_len![b] },
  { name: 'query-padding-lengths', mask: 'query_padding(tgt_len)', lq: 5, lk: 5, batch: 2, data: { tgt_len: [5, 2] }, formula: (b, _h, q, _k, x) => q < x.d.tgt_len![b] },
  { name: 'document', mask: 'document(docs)', lq: 7, lk: 7, data: { docs: DOCS }, formula: (b, _h, q, k, x) => x.d.docs![b][q] === x.d.docs![b][k] },
  // The random mask's definition is the hash itself; the test also checks the hidden share against the rate.
  { name: 'random', mask: 'random(0.3, 11)', lq: 6, lk: 6, heads: 2, formula: (b, h, q, k) => pairHash(11, b, h, q, k) >= Math.floor(0.3 * 2 ** 32) },
  { name: 'monotonic', mask: 'monotonic(Lk / Lq, 1, 1)', lq: 4, lk: 8, formula: (_b, _h, q, k, x) => Math.abs(k - fdiv(q * x.lk, x.lq)) <= 1 },
  { name: 'monotonic-ratio', mask: 'monotonic(2, 0, 2)', lq: 4, lk: 9, formula: (_b, _h, q, k) => k >= 2 * q && k <= 2 * q + 2 },
  // S / T is taken as an exact fraction: the centre is q * S / T, not q * (S / T) = 2q.
  { name: 'monotonic-fraction', mask: 'monotonic(S / T, 0, 1)', lq: 3, lk: 8, formula: (_b, _h, q, k, x) => k >= fdiv(q * x.lk, x.lq) && k <= fdiv(q * x.lk, x.lq) + 1 },
  { name: 'length-one', mask: 'causal', lq: 1, lk: 1, formula: (_b, _h, q, k) => k <= q },
  { name: 'length-one-query-cross', mask: 'window(2)', lq: 1, lk: 5, formula: (_b, _h, q, k) => k <= q && k > q - 2 },

  // ---- compositions ----
  { name: 'causal-and-padding', mask: 'causal & key_padding(tgt)', lq: 5, lk: 5, batch: 2, data: { tgt: TGT }, formula: (b, _h, q, k, x) => k <= q && x.d.tgt![b][k] !== 0 },
  { name: 'causal-in-document', mask: 'document(docs) & causal', lq: 7, lk: 7, data: { docs: DOCS }, formula: (b, _h, q, k, x) => k <= q && x.d.docs![b][q] === x.d.docs![b][k] },
  { name: 'sinks-or-window', mask: 'sink(2) | window(3)', lq: 8, lk: 8, formula: (_b, _h, q, k) => k < 2 || (k <= q && k > q - 3) },
  { name: 'strictly-causal', mask: 'causal & !diagonal', lq: 5, lk: 5, formula: (_b, _h, q, k) => k < q },
  { name: 'prefix-and-lengths', mask: 'prefix(2) & key_padding(tgt_len)', lq: 6, lk: 6, batch: 2, data: { tgt_len: [6, 3] }, formula: (b, _h, q, k, x) => (k < 2 || k <= q) && k < x.d.tgt_len![b] },
  { name: 'chunked-causal', mask: 'chunked(4) & causal', lq: 10, lk: 10, formula: (_b, _h, q, k) => fdiv(q, 4) === fdiv(k, 4) && k <= q },
  { name: 'window-every-second', mask: 'window(4) & (q - k) % 2 == 0', lq: 8, lk: 8, formula: (_b, _h, q, k) => k <= q && k > q - 4 && fmod(q - k, 2) === 0 },
  { name: 'not-causal', mask: '!causal', lq: 5, lk: 5, formula: (_b, _h, q, k) => !(k <= q) },
  { name: 'streaming-cross', mask: 'k <= (q + 1) * S / T', lq: 4, lk: 10, formula: (_b, _h, q, k, x) => k <= fdiv((q + 1) * x.lk, x.lq) },
  { name: 'streaming-with-padding', mask: 'key_padding(src_len) & k < (q + 1) * S / T', lq: 3, lk: 9, batch: 2, data: { src_len: [9, 4] }, formula: (b, _h, q, k, x) => k < x.d.src_len![b] && k < fdiv((q + 1) * x.lk, x.lq) },
  { name: 'steps-and-padding', mask: 'steps(2) & key_padding(tgt)', lq: 5, lk: 5, batch: 2, data: { tgt: TGT }, formula: (b, _h, q, k, x) => fdiv(k, 2) <= fdiv(q, 2) && x.d.tgt![b][k] !== 0 },
  { name: 'band-or-sink', mask: 'band(1, 1) | sink(1)', lq: 6, lk: 6, formula: (_b, _h, q, k) => (k >= q - 1 && k <= q + 1) || k < 1 },
  { name: 'kv-cache-window', mask: 'causal(align = bottom_right) & window(3)', lq: 3, lk: 8, formula: (_b, _h, q, k, x) => k <= q + x.lk - x.lq && k > q - 3 && k <= q },
  { name: 'anti-causal-in-document', mask: 'document(docs) & !causal', lq: 7, lk: 7, data: { docs: DOCS }, formula: (b, _h, q, k, x) => k > q && x.d.docs![b][q] === x.d.docs![b][k] },
  { name: 'random-and-causal', mask: 'random(0.5, 3) & causal', lq: 6, lk: 6, formula: (b, h, q, k) => k <= q && pairHash(3, b, h, q, k) >= 2 ** 31 },
  { name: 'near-or-first', mask: 'abs(q - k) <= 1 | k == 0', lq: 6, lk: 6, formula: (_b, _h, q, k) => Math.abs(q - k) <= 1 || k === 0 },
  { name: 'min-clamp', mask: 'min(q, 3) >= k', lq: 7, lk: 7, formula: (_b, _h, q, k) => Math.min(q, 3) >= k },
  { name: 'both-paddings-causal', mask: 'query_padding(tgt) & key_padding(tgt) & causal', lq: 5, lk: 5, batch: 2, data: { tgt: TGT }, formula: (b, _h, q, k, x) => k <= q && x.d.tgt![b][q] !== 0 && x.d.tgt![b][k] !== 0 },
  { name: 'causal-twice', mask: 'causal & causal', lq: 4, lk: 4, formula: (_b, _h, q, k) => k <= q },
  { name: 'none-and-window', mask: 'none & window(2)', lq: 5, lk: 5, formula: (_b, _h, q, k) => k <= q && k > q - 2 },
  { name: 'documents-by-predicate', mask: 'docs[q] == docs[k] & k <= q', lq: 7, lk: 7, data: { docs: DOCS }, formula: (b, _h, q, k, x) => k <= q && x.d.docs![b][q] === x.d.docs![b][k] },
  { name: 'window-not-tile-multiple', mask: 'window(5)', lq: 11, lk: 11, formula: (_b, _h, q, k) => k <= q && k > q - 5 },
  { name: 'per-head', mask: '(h == 0 & causal) | (h == 1 & !causal)', lq: 4, lk: 4, heads: 2, formula: (_b, h, q, k) => (h === 0 ? k <= q : k > q) },
  { name: 'per-batch-row', mask: 'b == 1 | causal', lq: 4, lk: 4, batch: 2, formula: (b, _h, q, k) => b === 1 || k <= q },
  // Floor division and the floored modulo of negative numbers: (k - q) / 3 is -1 for k - q in [-3, -1].
  { name: 'floor-of-negatives', mask: '(k - q) / 3 == -1 | (k - q) % 4 == 3', lq: 7, lk: 7, formula: (_b, _h, q, k) => fdiv(k - q, 3) === -1 || fmod(k - q, 4) === 3 },
  { name: 'prefix-rows-and-lengths', mask: 'prefix(prefix_len) & key_padding(tgt_len)', lq: 6, lk: 6, batch: 2, data: { prefix_len: [3, 1], tgt_len: [6, 4] }, formula: (b, _h, q, k, x) => (k < x.d.prefix_len![b] || k <= q) && k < x.d.tgt_len![b] },
  { name: 'sinks-window-padded-cross', mask: '(sink(1) | band(1, 1)) & key_padding(src_len)', lq: 4, lk: 6, batch: 2, data: { src_len: [6, 3] }, formula: (b, _h, q, k, x) => (k < 1 || (k >= q - 1 && k <= q + 1)) && k < x.d.src_len![b] },
];
