// Why a pair is visible or hidden: the reason names the part of the policy that decided it, and the verdict always
// agrees with dense evaluation of the whole policy.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { maskView } from '../../src/runtime/mask-view.ts';
import { describePair, explainPair } from '../../src/masks/explain.ts';

const zoo = checkSource(readFileSync(join(import.meta.dirname, '..', '..', 'specs', 'mask-zoo.mdl'), 'utf8'), 'mask-zoo.mdl').model!;
const view = (mask: string, extra: Record<string, unknown> = {}) => maskView(zoo, { mask, batch: '0', head: '0', dims: 'T=8,S=8', axes: 'T,T', ...extra });

describe('explaining a pair', () => {
  it('names the part of an & that hid the pair', () => {
    const v = view('packed_docs', { segments: ['docs=0,0,0,1,1,1,1,1'] });
    expect(describePair(v.policy, { b: 0, h: 0, q: 3, k: 5 }, v.env)).toBe('(b 0, h 0, q 3, k 5) hidden by causal (k <= q)');
    expect(describePair(v.policy, { b: 0, h: 0, q: 5, k: 1 }, v.env)).toBe('(b 0, h 0, q 5, k 1) hidden by document(docs) (docs[q] == docs[k])');
    expect(describePair(v.policy, { b: 0, h: 0, q: 1, k: 5 }, v.env)).toContain('hidden by document(docs) (docs[q] == docs[k]) and causal (k <= q)');
    expect(describePair(v.policy, { b: 0, h: 0, q: 5, k: 4 }, v.env)).toMatch(/visible: /);
  });

  it('names the part of an | that let the pair through, and every part when none did', () => {
    const v = view('sinks');
    expect(describePair(v.policy, { b: 0, h: 0, q: 7, k: 1 }, v.env)).toBe('(b 0, h 0, q 7, k 1) visible: sink(2) (k < 2)');
    expect(describePair(v.policy, { b: 0, h: 0, q: 7, k: 3 }, v.env)).toMatch(/^\(b 0, h 0, q 7, k 3\) hidden by none of sink\(2\)/);
  });

  it('agrees with the dense grid on every pair of every mask of the zoo', () => {
    for (const name of zoo.masks.keys()) {
      const v = view(name, name === 'cross_pad' || name === 'streaming' ? { axes: 'T,S', dims: 'T=6,S=9' } : {});
      v.figure.rows.forEach((row, q) => row.forEach((visible, k) => expect(explainPair(v.policy, { b: 0, h: 0, q, k }, v.env).visible, `${name} ${q},${k}`).toBe(visible)));
    }
  });
});
