// The compiled mask: generated identifiers only, one parameter slot per distinct value, the flags the runtime and the
// kernel rely on, and the random mask's hash reproduced on Dawn for extreme seeds.

import { describe, expect, it } from 'vitest';
import { emitMaskWgsl } from '../../src/masks/emit-wgsl.ts';
import { denseMask } from '../../src/masks/evaluate.ts';
import { policyOf } from '../support/mask-scope.ts';
import { pairHash } from '../../src/masks/hash.ts';
import type { MaskEnv } from '../../src/masks/kernel-contract.ts';
import { toPredicate } from '../../src/masks/policy.ts';
import { and, cmp, C, P, V, type BoolExpr } from '../../src/masks/predicate.ts';
import { denseMaskOnGpu } from '../support/mask-run.ts';
import { useGpu } from '../runtime/gpu-harness.ts';

const load = (input: string, at: 'b' | 'q' | 'k') => ({ kind: 'load', input, at }) as const;

describe('emitted WGSL', () => {
  it('never contains a name from the spec: inputs and dims are reached through parameter slots', () => {
    const named = (doc: string, len: string, dim: string) => and(cmp('==', load(doc, 'q'), load(doc, 'k')), cmp('<', V('k'), load(len, 'b')), cmp('<', V('q'), P(dim)));
    const w = emitMaskWgsl(named('我的文档', 'fn', 'return'));
    // The code is the same whatever the names: they live only in the slot table.
    expect(w.code).toBe(emitMaskWgsl(named('docs', 'lens', 'S')).code);
    expect(w.params).toEqual([
      { kind: 'offset', input: '我的文档' },
      { kind: 'stride', input: '我的文档' },
      { kind: 'offset', input: 'fn' },
      { kind: 'dim', name: 'return' },
    ]);
    expect(w.inputs).toEqual([{ input: '我的文档', at: 'q' }, { input: '我的文档', at: 'k' }, { input: 'fn', at: 'b' }]);
  });

  it('gives a dim read many times one slot', () => {
    const w = emitMaskWgsl(toPredicate(policyOf('causal(align = bottom_right) & k >= Lk - Lq - 3')));
    expect(w.params).toEqual([{ kind: 'dim', name: 'Lk' }, { kind: 'dim', name: 'Lq' }]);
  });

  it.each<[string, boolean, boolean]>([
    ['causal & window(8)', true, false],
    ['key_padding(src_len)', false, false],
    ['document(docs) & causal', false, false],
    ['h < 2 | causal', true, true],
    ['random(0.5, 1) & causal', false, true],
  ])('%s: indexOnly %s, perHead %s', (mask, indexOnly, perHead) => {
    const w = emitMaskWgsl(toPredicate(policyOf(mask)));
    expect([w.indexOnly, w.perHead]).toEqual([indexOnly, perHead]);
  });

  it('uses the division helpers only when the mask divides', () => {
    expect(emitMaskWgsl(toPredicate(policyOf('causal'))).code).not.toContain('mdl_div');
    expect(emitMaskWgsl(toPredicate(policyOf('chunked(4)'))).code).toContain('mdl_div');
  });

  it('compiles constant-only subexpressions away, even those that overflow', () => {
    const pred: BoolExpr = cmp('<', V('k'), { kind: 'bin', op: '+', a: C(2147483647), b: C(1) });
    const w = emitMaskWgsl(pred);
    expect(w.code).toContain('i32(-2147483647 - 1)');
    expect(w.code).not.toContain('2147483647 + 1');
  });
});

describe('the random mask on Dawn', () => {
  const gpu = useGpu();
  it.each([0, 1, 2147483647])('seed %i: the same bits as the CPU hash, per batch row and head', async (seed) => {
    const pred = toPredicate(policyOf(`random(0.7, ${seed})`));
    const env: MaskEnv = { dims: { Lq: 9, Lk: 7, B: 2 }, data: {} };
    const bits = await denseMaskOnGpu(gpu(), emitMaskWgsl(pred), env, { batch: 2, heads: 3, lq: 9, lk: 7 });
    const cpu: number[] = [];
    for (let b = 0; b < 2; b++) for (let h = 0; h < 3; h++) for (const row of denseMask(pred, env, b, h)) cpu.push(...row.map(Number));
    expect(Array.from(bits)).toEqual(cpu);
    // The hash itself, not a constant: both outcomes occur, and the threshold is floor(0.7 · 2^32).
    expect(new Set(cpu).size).toBe(2);
    expect(cpu[0]).toBe(pairHash(seed, 0, 0, 0, 0) >= Math.floor(0.7 * 2 ** 32) ? 1 : 0);
  });
});
