// The CPU oracle itself, on cases small enough to check by hand.

import { describe, expect, it } from 'vitest';
import { attentionCpu } from '../../src/runtime/attention-cpu.ts';
import type { ScoreModifier } from '../../src/wgsl/score-modifiers.ts';
import { randomFloats } from './mask-fixtures.ts';

const one = { batch: 1, lq: 1, lk: 2, heads: 1, kvHeads: 1, headDim: 4 };
const q = Float64Array.of(1, 0, 0, 0);
const k = Float64Array.of(1, 0, 0, 0, 0, 0, 0, 0);
const v = Float64Array.of(1, 2, 3, 4, -1, -2, -3, -4);

describe('CPU attention oracle', () => {
  it('computes softmax(q·k * scale) · V', () => {
    // Scores 1 and 0 with scale 1: weights e/(1+e) and 1/(1+e).
    const w = Math.E / (1 + Math.E);
    const out = attentionCpu(one, q, k, v, { scale: 1 });
    expect(Array.from(out)).toEqual([1, 2, 3, 4].map((x) => x * w - x * (1 - w)).map((x) => expect.closeTo(x, 12)));
  });

  it('outputs zeros for a row with no visible key, and treats a -inf bias as masked', () => {
    expect(Array.from(attentionCpu(one, q, k, v, { mask: () => false }))).toEqual([0, 0, 0, 0]);
    // A learned relative bias of -inf at every distance hides every key.
    const hideAll: ScoreModifier[] = [{ kind: 'relative_bias', heads: 1, buckets: 2, maxDistance: 2, bidirectional: false, table: [-Infinity, -Infinity] }];
    expect(Array.from(attentionCpu(one, q, k, v, { modifiers: hideAll }))).toEqual([0, 0, 0, 0]);
    const onlySecond = attentionCpu(one, q, k, v, { mask: (_b, _h, _q, key) => key === 1 });
    expect(Array.from(onlySecond)).toEqual([-1, -2, -3, -4]);
  });

  it('maps query heads onto shared kv heads in groups', () => {
    const shape = { batch: 2, lq: 3, lk: 4, heads: 4, kvHeads: 2, headDim: 4 };
    const qs = randomFloats(2 * 3 * 4 * 4, 1);
    const ks = randomFloats(2 * 4 * 2 * 4, 2);
    const vs = randomFloats(2 * 4 * 2 * 4, 3);
    // The same attention with K/V repeated per query head: head h uses kv head floor(h / 2).
    const repeat = (x: Float32Array) => {
      const out = new Float32Array(2 * 4 * 4 * 4);
      for (let b = 0; b < 2; b++)
        for (let t = 0; t < 4; t++)
          for (let h = 0; h < 4; h++)
            out.set(x.subarray(((b * 4 + t) * 2 + (h >> 1)) * 4, ((b * 4 + t) * 2 + (h >> 1)) * 4 + 4), ((b * 4 + t) * 4 + h) * 4);
      return out;
    };
    const grouped = attentionCpu(shape, qs, ks, vs);
    const full = attentionCpu({ ...shape, kvHeads: 4 }, qs, repeat(ks), repeat(vs));
    expect(Array.from(grouped)).toEqual(Array.from(full));
  });

  it('rejects inputs whose size does not match the shape', () => {
    expect(() => attentionCpu({ ...one, lk: 3 }, q, k, v)).toThrow(/K has 8 values, expected B·Lk·kvH·D = 12/);
  });
});
