// Packing of the mask table (parameter slots, then data) exactly as the kernel contract describes it.

import { describe, expect, it } from 'vitest';
import type { MaskWgsl } from '../../src/masks/kernel-contract.ts';
import { packMaskBuffers } from '../../src/runtime/mask-buffers.ts';

function mask(params: MaskWgsl['params'], inputs: MaskWgsl['inputs']): MaskWgsl {
  return { code: 'fn mdl_mask(b: i32, h: i32, q: i32, k: i32) -> bool { return true; }', params, inputs, indexOnly: inputs.length === 0, perHead: false };
}

describe('mask buffers', () => {
  it('hold one element each when the mask reads nothing', () => {
    const packed = packMaskBuffers(mask([], []), { dims: { Lq: 4, Lk: 4 }, data: {} }, 2);
    expect(Array.from(packed.params)).toEqual([0]);
    expect(Array.from(packed.data)).toEqual([0]);
    expect(Array.from(packed.table)).toEqual([0, 0]);
  });

  it('fill dims, offsets and strides in slot order, storing an input read at q and k once', () => {
    const m = mask(
      [
        { kind: 'offset', input: 'segments' },
        { kind: 'dim', name: 'Lk' },
        { kind: 'stride', input: 'segments' },
        { kind: 'offset', input: 'lengths' },
        { kind: 'dim', name: 'S' },
      ],
      [
        { input: 'lengths', at: 'b' },
        { input: 'segments', at: 'q' },
        { input: 'segments', at: 'k' },
      ],
    );
    const env = {
      dims: { Lq: 3, Lk: 3, S: 42 },
      data: { lengths: Int32Array.of(3, 2), segments: Int32Array.of(0, 0, 1, 9, 5, 5, 5, 9) },
      strides: { segments: 4 },
    };
    const packed = packMaskBuffers(m, env, 2);
    expect(Array.from(packed.data)).toEqual([3, 2, 0, 0, 1, 9, 5, 5, 5, 9]);
    expect(Array.from(packed.params)).toEqual([2, 3, 4, 0, 42]);
    // The kernel reads the data view from element 5, right after the five slots.
    expect(Array.from(packed.table)).toEqual([2, 3, 4, 0, 42, 3, 2, 0, 0, 1, 9, 5, 5, 5, 9]);
  });

  it('infers the stride of a per-position input from its length', () => {
    const m = mask([{ kind: 'stride', input: 'ids' }], [{ input: 'ids', at: 'k' }]);
    const packed = packMaskBuffers(m, { dims: { Lq: 1, Lk: 5 }, data: { ids: new Int32Array(10) } }, 2);
    expect(Array.from(packed.params)).toEqual([5]);
  });

  it('explain what is missing or inconsistent', () => {
    const byLength = mask([{ kind: 'offset', input: 'lengths' }], [{ input: 'lengths', at: 'b' }]);
    expect(() => packMaskBuffers(byLength, { dims: {}, data: {} }, 1)).toThrow(/reads input 'lengths', but no data/);
    expect(() => packMaskBuffers(byLength, { dims: {}, data: { lengths: Int32Array.of(1) } }, 2)).toThrow(/needs 2 values/);

    const needsDim = mask([{ kind: 'dim', name: 'S' }], []);
    expect(() => packMaskBuffers(needsDim, { dims: { Lq: 1, Lk: 1 }, data: {} }, 1)).toThrow(/value of 'S'/);

    const perQuery = mask([], [{ input: 'seg', at: 'q' }]);
    const short = { dims: { Lq: 6, Lk: 6 }, data: { seg: new Int32Array(8) }, strides: { seg: 4 } };
    expect(() => packMaskBuffers(perQuery, short, 2)).toThrow(/rows need 6 values, but its stride is 4/);

    const both = mask([], [{ input: 'x', at: 'b' }, { input: 'x', at: 'q' }]);
    expect(() => packMaskBuffers(both, { dims: { Lq: 1, Lk: 1 }, data: { x: new Int32Array(2) } }, 2)).toThrow(/ambiguous/);

    const unknownSlot = mask([{ kind: 'offset', input: 'nope' }], []);
    expect(() => packMaskBuffers(unknownSlot, { dims: {}, data: {} }, 1)).toThrow(/not among its inputs/);
  });
});
