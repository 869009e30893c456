// Names from a spec never reach WGSL: identifiers that are WGSL keywords, non-ASCII or very long compile to the
// same generated identifiers as ordinary ones.

import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { lower } from '../../src/lower/passes.ts';

const long = `n${'x'.repeat(400)}`;
const spec = (names: { model: string; input: string; mask: string; stack: string; dim: string }) => `model ${names.model} {
  dim vocab = 300, d_model = 32, heads = 4
  dim B, ${names.dim} <= 64
  input ${names.input}: tokens[B, ${names.dim}] pad 0
  input docs_${names.input}: segments[B, ${names.dim}]
  mask ${names.mask} = causal & key_padding(${names.input}) & document(docs_${names.input})
  embed tokens: learned(vocab, d_model), positions: sinusoidal
  stack ${names.stack} x 1 on ${names.input} {
    attention self heads = heads mask = ${names.mask}
    ffn 64 gelu
  }
  output logits = project(${names.stack}, vocab, tied = tokens)
}`;

describe('hostile identifiers', () => {
  it('WGSL keywords, unicode and 400-character names produce the same kernels as plain names', () => {
    const plain = lower(checkSource(spec({ model: 'm', input: 'ids', mask: 'look', stack: 'dec', dim: 'T' }), 'a.mdl').model!).rendered;
    const hostile = { model: 'fn', input: 'loop', mask: '我的掩码', stack: 'var', dim: long };
    const r = checkSource(spec(hostile), 'b.mdl');
    expect(r.diagnostics).toEqual([]);
    const rendered = lower(r.model!).rendered;
    expect(rendered.kernels.map((k) => k.wgsl)).toEqual(plain.kernels.map((k) => k.wgsl));
    for (const k of rendered.kernels) {
      expect(k.wgsl).not.toContain('我');
      expect(k.wgsl).not.toContain(long);
      expect(k.file).toMatch(/^[0-9]{2}-[a-z0-9_]+\.wgsl$/);
    }
    // Spec names appear only as JSON strings in the manifest.
    expect(JSON.parse(rendered.manifest).model).toBe('fn');
  });
});
