// The memory plan: values share device buffers only when their lifetimes do not overlap, outputs and host-filled
// buffers keep their own, and a 12-layer model needs a handful of activation buffers rather than one per value.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { formula } from '../../src/lower/formula.ts';
import { lower } from '../../src/lower/passes.ts';
import { boundBuffers } from '../../src/lower/program.ts';

const root = join(import.meta.dirname, '..', '..');
const specs = readdirSync(join(root, 'specs')).filter((f) => f.endsWith('.mdl')).sort();
const programOf = (f: string) => lower(checkSource(readFileSync(join(root, 'specs', f), 'utf8'), `specs/${f}`).model!).program;

describe('memory plan', () => {
  for (const f of specs) {
    it(`${f}: values sharing a slot are never live at the same step`, () => {
      const p = programOf(f);
      const live = new Map<string, [number, number]>();
      p.steps.forEach((s, i) => boundBuffers(s).forEach((id) => live.set(id, [live.get(id)?.[0] ?? i, i])));
      for (const slot of p.slots) {
        const spans = slot.values.map((id) => live.get(id)!).sort((a, b) => a[0] - b[0]);
        for (let i = 1; i < spans.length; i++) expect(spans[i][0], `slot ${slot.id}: ${slot.values.join(', ')}`).toBeGreaterThan(spans[i - 1][1]);
        for (const id of slot.values) {
          const b = p.buffers.find((x) => x.id === id)!;
          expect(formula.print(b.elements)).toBe(formula.print(slot.elements));
          expect(b.dtype).toBe(slot.dtype);
        }
      }
      for (const s of p.steps) {
        const slots = boundBuffers(s).map((id) => p.buffers.find((b) => b.id === id)!.slot).filter((x) => x !== undefined);
        expect(new Set(slots).size, `step ${s.node} binds one slot twice`).toBe(slots.length);
      }
      for (const o of p.outputs) expect(p.slots[p.buffers.find((b) => b.id === o)!.slot!].values).toEqual([o]);
      for (const b of p.buffers) if (b.role !== 'value' && b.role !== 'tile_classes') expect(b.slot).toBeUndefined();
    });
  }

  it('GPT-2 small: 111 intermediate values in 7 buffers', () => {
    const p = programOf('gpt2-small.mdl');
    expect(p.buffers.filter((b) => b.slot !== undefined)).toHaveLength(111);
    expect(p.slots.map((s) => formula.print(s.elements, 4))).toEqual(['3072*B*T', '3072*B*T', '3072*B*T', '3072*B*T', '3072*B*T', '12288*B*T', '201028*B*T']);
  });
});
