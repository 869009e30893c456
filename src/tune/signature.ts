// What a tuning result is keyed by. The best tile shape depends on the adapter (its SIMD width, workgroup memory,
// scheduler) and on the kernel's signature — head dim, heads, kv heads, and the mask and score modifiers spliced
// into it (a per-pair predicate shifts the balance between the score and accumulation phases) — but not on the
// sequence lengths, which the kernel takes at dispatch time. Keys are plain strings so the cache stays readable JSON;
// hashing is done here in plain JavaScript so that the browser build can compute the same keys.

import type { MaskWgsl } from '../masks/kernel-contract.ts';
import type { AdapterSummary } from '../runtime/device.ts';
import type { AttentionHeads, AttentionKernelShape } from '../wgsl/attention.ts';
import type { ScoreModifier } from '../wgsl/score-modifiers.ts';

export interface KernelSignature extends AttentionHeads {
  /** `none`, or a hash of the mask's WGSL and flags plus the score modifiers (see `maskHash`). */
  maskHash: string;
  /** `decode`: the kernel of the decode step (a few query rows against a KV cache), tuned apart from the full pass's. */
  site?: 'decode';
}

/** The adapter fields that identify a kind of device (not one physical card: two of the same model share results). */
export type AdapterIdentity = Pick<AdapterSummary, 'vendor' | 'architecture' | 'description'>;

export function adapterKey(a: AdapterIdentity): string {
  return [a.vendor, a.architecture, a.description].map((s) => (s ?? '').trim() || '-').join('/');
}

export function signatureKey(s: KernelSignature): string {
  return `d${s.headDim}.h${s.heads}.kv${s.kvHeads}.m${s.maskHash}${s.site === 'decode' ? '.decode' : ''}`;
}

/** Two FNV-1a passes with different offsets: 64 bits, ample for telling a handful of masks apart. */
export function stableHash(text: string): string {
  let a = 0x811c9dc5;
  let b = 0x9747b28c;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193) >>> 0;
    b = Math.imul(b ^ c, 0x01000193) >>> 0;
  }
  return a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
}

/**
 * Hash of what the mask and modifiers put into the kernel. The WGSL is the mask's meaning after compilation, so two
 * spellings of the same policy that compile alike share a result; `perHead` changes the tile-class layout.
 */
export function maskHash(mask: MaskWgsl | null | undefined, modifiers: readonly ScoreModifier[] = []): string {
  if (!mask && modifiers.length === 0) return 'none';
  const parts = [mask ? `${mask.perHead ? 'per-head' : 'shared'}\n${mask.code}` : 'no-mask'];
  if (modifiers.length) parts.push(JSON.stringify(modifiers));
  return stableHash(parts.join('\n--\n'));
}

export function attentionSignature(s: AttentionKernelShape, site?: 'decode'): KernelSignature {
  return { headDim: s.headDim, heads: s.heads, kvHeads: s.kvHeads, maskHash: maskHash(s.mask, s.modifiers), ...(site ? { site } : {}) };
}
