// Cache keys must not drift between releases (a drifted key silently discards every user's tuning) and must tell
// apart kernels that differ.

import { describe, expect, it } from 'vitest';
import type { MaskWgsl } from '../../src/masks/kernel-contract.ts';
import { adapterKey, attentionSignature, maskHash, signatureKey, stableHash } from '../../src/tune/signature.ts';

const causal: MaskWgsl = {
  code: 'fn mdl_mask(b: i32, h: i32, q: i32, k: i32) -> bool {\n  return k <= q;\n}',
  params: [],
  inputs: [],
  indexOnly: true,
  perHead: false,
};

describe('tuning cache keys', () => {
  it('are pinned', () => {
    expect(stableHash('')).toBe('811c9dc59747b28c');
    expect(maskHash(null)).toBe('none');
    expect(maskHash(causal)).toBe(PINNED_CAUSAL);
    expect(signatureKey(attentionSignature({ headDim: 64, heads: 8, kvHeads: 2, mask: causal }))).toBe(`d64.h8.kv2.m${PINNED_CAUSAL}`);
    expect(adapterKey({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver 5.0.0' })).toBe(
      'google/swiftshader/SwiftShader driver 5.0.0',
    );
    expect(adapterKey({ vendor: '', architecture: ' ', description: 'x' })).toBe('-/-/x');
  });

  it('separate masks, per-head layouts and score modifiers', () => {
    const keys = new Set([
      maskHash(causal),
      maskHash({ ...causal, perHead: true }),
      maskHash({ ...causal, code: causal.code.replace('<=', '<') }),
      maskHash(causal, [{ kind: 'softcap', cap: 30 }]),
      maskHash(null, [{ kind: 'softcap', cap: 30 }]),
      maskHash(null),
    ]);
    expect(keys.size).toBe(6);
  });

  it('ignore what the kernel does not see', () => {
    // Param and input tables are derived from the code; only the code and the head flag reach the kernel.
    expect(maskHash({ ...causal, indexOnly: false })).toBe(maskHash(causal));
  });
});

const PINNED_CAUSAL = '9b2a92a2d55a9785';
