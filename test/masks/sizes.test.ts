// Mask sizes computed from run-time dims: the built-ins record them, and a run whose dims make one too small is
// refused with the mask, the size and the dims (specs/README.md: window, chunk, prefix, step and sink sizes at least 1;
// band sides and monotonic margins at least 0).

import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { checkMaskSizes, MaskSizeError, sizeParams } from '../../src/masks/sizes.ts';

function policy(mask: string) {
  const r = checkSource(
    `model m {
  dim vocab = 300, d_model = 8, heads = 2, d_ff = 8
  dim B, S <= 64, T <= 64
  input src: tokens[B, S] pad 0
  input tgt: tokens[B, T] pad 0
  mask x = ${mask}
  embed tokens: learned(vocab, d_model), positions: sinusoidal
  stack encoder x 1 on src { attention self heads = heads
    ffn d_ff relu }
  stack decoder x 1 on tgt { attention self heads = heads mask = causal
    attention cross memory = encoder heads = heads mask = x
    ffn d_ff relu }
  output logits = project(decoder, vocab)
}`,
    'm.mdl',
  );
  if (!r.model) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.model.masks.get('x')!.policy!;
}

const refusal = (mask: string, dims: Record<string, number>) => {
  try {
    checkMaskSizes('x', policy(mask), dims);
  } catch (e) {
    expect(e).toBeInstanceOf(MaskSizeError);
    return (e as Error).message;
  }
  return undefined;
};

describe('run-time mask sizes', () => {
  it('are recorded only where a dim is symbolic', () => {
    expect(sizeParams(policy('window(8) & chunked(d_model)'))).toEqual([]);
    expect(sizeParams(policy('causal & chunked(S / 4)')).map((s) => [s.policy, s.key, s.text, s.min])).toEqual([['chunked(S / 4)', 'size', 'S / 4', 1]]);
    expect(sizeParams(policy('band(T - 3, 1) | sink(Lk - Lq)')).map((s) => [s.policy, s.key, s.text, s.min])).toEqual([
      ['band(T - 3, 1)', 'left', 'T - 3', 0],
      ['sink(Lk - Lq)', 'count', 'Lk - Lq', 1],
    ]);
  });

  it('chunked(S / 4) at S = 3 would be no mask at all: refused', () => {
    expect(refusal('chunked(S / 4)', { S: 3, T: 5, Lq: 5, Lk: 3 })).toBe(
      "mask 'x': chunked(S / 4) has size S / 4 = 0 at S = 3, but the size must be at least 1; choose lengths that make it so, or change the mask",
    );
    expect(refusal('chunked(S / 4)', { S: 4, T: 5, Lq: 5, Lk: 4 })).toBeUndefined();
  });

  it('window(Lk - Lq + 1) with more queries than keys would hide everything: refused', () => {
    expect(refusal('window(Lk - Lq + 1)', { S: 3, T: 5, Lq: 5, Lk: 3 })).toMatch(/^mask 'x': window\(Lk - Lq \+ 1\) has size Lk - Lq \+ 1 = -1 at Lk = 3, Lq = 5, but the size/);
    expect(refusal('window(Lk - Lq + 1)', { S: 5, T: 5, Lq: 5, Lk: 5 })).toBeUndefined();
  });

  it('band sides may be 0 but not negative; monotonic ratio parts at least 1', () => {
    expect(refusal('band(T - 3, 0)', { T: 3, S: 2, Lq: 3, Lk: 2 })).toBeUndefined();
    expect(refusal('band(T - 3, 0)', { T: 2, S: 2, Lq: 2, Lk: 2 })).toMatch(/band\(T - 3, 0\) has left T - 3 = -1 at T = 2, but the left must be at least 0/);
    expect(refusal('monotonic(S / (T - 2), 0, 1)', { T: 2, S: 4, Lq: 2, Lk: 4 })).toMatch(/has ratio divisor T - 2 = 0 at T = 2/);
  });

  it('inside compositions, and only when the dims are known', () => {
    expect(refusal('causal | !(sink(S - 2) & window(3))', { S: 2, T: 4, Lq: 4, Lk: 2 })).toMatch(/sink\(S - 2\) has count S - 2 = 0 at S = 2/);
    expect(refusal('chunked(S / 4)', { T: 4 })).toBeUndefined();
  });
});
