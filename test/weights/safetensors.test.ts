// Safetensors reading and writing: round trips, hand-built F16/BF16 files with independently known values, and the
// exact bytes the writer produces.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { f16BitsToF32, f32ToF16Bits } from '../../src/runtime/half-float.ts';
import { readSafetensors, readSafetensorsFrom, writeSafetensors, type ByteSource } from '../../src/runtime/safetensors.ts';
import { f32le, handBuilt, u16le } from './build-file.ts';

const bitsOf = (a: Float32Array) => Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));

describe('f32 round trip', () => {
  it('gives back every tensor bit for bit, with shapes and metadata', () => {
    const special = Float32Array.of(0, -0, 1, -1, NaN, Infinity, -Infinity, 1.4e-45, 3.4028234663852886e38, Math.fround(Math.PI));
    const tensors = new Map([
      ['b.weight', { shape: [2, 5], data: special }],
      ['a.bias', { shape: [3], data: Float32Array.of(0.5, -2, 65504) }],
      ['empty', { shape: [0, 7], data: new Float32Array(0) }],
      ['scalar', { shape: [], data: Float32Array.of(42) }],
    ]);
    const file = readSafetensors(writeSafetensors(tensors, { model: 'm', seed: '3' }), 'rt.safetensors');
    expect(file.metadata).toEqual({ model: 'm', seed: '3' });
    expect([...file.tensors.keys()]).toEqual(['a.bias', 'b.weight', 'empty', 'scalar']);
    for (const [name, t] of tensors) {
      const got = file.tensors.get(name)!;
      expect(got.dtype).toBe('F32');
      expect(got.shape).toEqual(t.shape);
      expect(bitsOf(got.data)).toEqual(bitsOf(t.data));
    }
  });

  it('round-trips random tensors (property)', () => {
    const tensor = fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }).chain((shape) =>
      fc.float32Array({ minLength: shape.reduce((a, b) => a * b, 1), maxLength: shape.reduce((a, b) => a * b, 1) }).map((data) => ({ shape, data })),
    );
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }).filter((s) => s !== '__metadata__'), tensor, { maxKeys: 5 }), (tensors) => {
        const file = readSafetensors(writeSafetensors(tensors));
        expect([...file.tensors.keys()].sort()).toEqual(Object.keys(tensors).sort());
        for (const [name, t] of Object.entries(tensors)) expect(bitsOf(file.tensors.get(name)!.data)).toEqual(bitsOf(t.data));
      }),
      { numRuns: 200 },
    );
  });

  it('keeps names that are special in JavaScript objects', () => {
    const tensors = new Map([['__proto__', { shape: [1], data: Float32Array.of(1) }], ['constructor', { shape: [1], data: Float32Array.of(2) }]]);
    const file = readSafetensors(writeSafetensors(tensors, Object.fromEntries([['__proto__', 'x']])));
    expect([...file.tensors.keys()]).toEqual(['__proto__', 'constructor']);
    expect(Object.entries(file.metadata)).toEqual([['__proto__', 'x']]);
  });

  it('reads F32 data that is not 4-byte aligned in memory', () => {
    const bytes = writeSafetensors({ w: { shape: [3], data: Float32Array.of(1.5, -2, 3e-40) } });
    const src: ByteSource = {
      size: bytes.length,
      read(offset, length) {
        const shifted = new Uint8Array(length + 1);
        shifted.set(bytes.subarray(offset, offset + length), 1);
        return shifted.subarray(1);
      },
    };
    expect(Array.from(readSafetensorsFrom(src, 'unaligned').tensors.get('w')!.data)).toEqual([1.5, -2, Math.fround(3e-40)]);
  });
});

describe('writing', () => {
  it('is deterministic: sorted names in the header and the data, whatever the insertion order', () => {
    const a = { shape: [1], data: Float32Array.of(1) };
    const b = { shape: [1], data: Float32Array.of(2) };
    const x = writeSafetensors(new Map([['10', a], ['2', b], ['0', a]]), { z: '1', a: '2' });
    const y = writeSafetensors({ '0': a, '2': b, '10': a }, { a: '2', z: '1' });
    expect(x).toEqual(y);
    const n = Number(new DataView(x.buffer).getBigUint64(0, true));
    const header = new TextDecoder().decode(x.subarray(8, 8 + n));
    // Code-unit order: "0" < "10" < "2"; metadata first.
    expect(header.trimEnd()).toBe(
      '{"__metadata__":{"a":"2","z":"1"},"0":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"10":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"2":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}',
    );
    expect(Array.from(x.subarray(8 + n))).toEqual(f32le(1, 1, 2));
  });

  it('pads the header with spaces so the data starts at a multiple of 8', () => {
    for (let len = 1; len < 12; len++) {
      const bytes = writeSafetensors({ ['n'.repeat(len)]: { shape: [1], data: Float32Array.of(1) } });
      const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      expect(n % 8).toBe(0);
      expect(bytes[8 + n - 1] === 0x7d || bytes[8 + n - 1] === 0x20).toBe(true);
    }
    expect(new TextDecoder().decode(writeSafetensors({}).subarray(8))).toBe('{}      ');
  });

  it('refuses data that does not fill the shape', () => {
    expect(() => writeSafetensors({ w: { shape: [2, 2], data: new Float32Array(3) } })).toThrow(/shape \[2,2\] has 4 elements but the data has 3/);
  });

  it('stores F16 rounded to nearest even, reading back the rounded values', () => {
    const values = [1, -2, 0.5, 65504, 65519, 65520, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -24, 2 ** -25, 2 ** -25 * 1.5, -0, 1e-10];
    const file = readSafetensors(writeSafetensors({ h: { shape: [values.length], data: Float32Array.from(values), dtype: 'F16' } }));
    const expected = [1, -2, 0.5, 65504, 65504, Infinity, 1, 1 + 2 ** -9, 2 ** -24, 0, 2 ** -24, -0, 0];
    expect(file.tensors.get('h')!.dtype).toBe('F16');
    expect(Array.from(file.tensors.get('h')!.data)).toEqual(expected);
  });

  it('stores BF16 (the top 16 bits of an f32) rounded to nearest even', () => {
    // bf16 keeps 8 significand bits: 1 + 2^-8 is a tie between 1 and 1 + 2^-7 and goes to the even 1;
    // 1 + 3·2^-8 ties between 1 + 2^-7 (odd) and 1 + 2^-6, going to 1 + 2^-6; 1 + 2^-8 + 2^-20 is above the tie.
    // The largest finite bf16 is (2 − 2^-7)·2^127; f32's largest finite value rounds past it to inf.
    const max = (2 - 2 ** -7) * 2 ** 127;
    const values = [1, -2, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 1 + 2 ** -8 + 2 ** -20, max, 3.4028234663852886e38, NaN, -0];
    const file = readSafetensors(writeSafetensors({ b: { shape: [values.length], data: Float32Array.from(values), dtype: 'BF16' } }));
    expect(file.tensors.get('b')!.dtype).toBe('BF16');
    expect(Array.from(file.tensors.get('b')!.data)).toEqual([1, -2, 1, 1 + 2 ** -6, 1 + 2 ** -7, max, Infinity, NaN, -0]);
  });
});

describe('F16 and BF16 files built by hand', () => {
  it('F16 bit patterns read as their exact values', () => {
    const cases: [number, number][] = [
      [0x3c00, 1],
      [0xc000, -2],
      [0x3800, 0.5],
      [0x7bff, 65504],
      [0x0001, 2 ** -24], // smallest subnormal
      [0x03ff, 1023 * 2 ** -24], // largest subnormal
      [0x0400, 2 ** -14], // smallest normal
      [0x3555, 0.333251953125],
      [0x7c00, Infinity],
      [0xfc00, -Infinity],
      [0x8000, -0],
    ];
    const data = u16le(...cases.map(([bits]) => bits), 0x7e00);
    const file = readSafetensors(handBuilt({ h: { dtype: 'F16', shape: [cases.length + 1], data_offsets: [0, data.length] } }, data));
    const got = Array.from(file.tensors.get('h')!.data);
    expect(got.slice(0, -1)).toEqual(cases.map(([, v]) => v));
    expect(got.at(-1)).toBeNaN();
  });

  it('BF16 bit patterns read as their exact values', () => {
    const cases: [number, number][] = [
      [0x3f80, 1],
      [0xc000, -2],
      [0x3f00, 0.5],
      [0x4049, 3.140625],
      [0x477f, 65280],
      [0x7f7f, 3.3895313892515355e38], // largest finite
      [0x0001, 2 ** -133], // an f32 subnormal
      [0x0080, 2 ** -126],
      [0x7f80, Infinity],
      [0xff80, -Infinity],
      [0x8000, -0],
    ];
    const data = u16le(...cases.map(([bits]) => bits), 0x7fc0);
    const file = readSafetensors(handBuilt({ b: { dtype: 'BF16', shape: [3, 4], data_offsets: [0, data.length] } }, data));
    const t = file.tensors.get('b')!;
    expect(t.dtype).toBe('BF16');
    expect(t.shape).toEqual([3, 4]);
    expect(Array.from(t.data).slice(0, -1)).toEqual(cases.map(([, v]) => v));
    expect(t.data[11]).toBeNaN();
  });

  it('reads tensors of mixed dtypes laid out one after another', () => {
    const data = [...f32le(1.5, -3), ...u16le(0x3c00), ...u16le(0x4000)];
    const header = {
      __metadata__: { format: 'pt' },
      f: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      h: { dtype: 'F16', shape: [1], data_offsets: [8, 10] },
      g: { dtype: 'BF16', shape: [1], data_offsets: [10, 12] },
    };
    const file = readSafetensors(handBuilt(header, data));
    expect(Array.from(file.tensors.get('f')!.data)).toEqual([1.5, -3]);
    expect(Array.from(file.tensors.get('h')!.data)).toEqual([1]);
    expect(Array.from(file.tensors.get('g')!.data)).toEqual([2]);
    expect(file.metadata).toEqual({ format: 'pt' });
  });
});

describe('half-float conversion', () => {
  it('every non-NaN half survives half → f32 → half', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) === 0x7c00 && h & 0x3ff) continue;
      if (f32ToF16Bits(f16BitsToF32(h)) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });

  it('picks the nearest half (property)', () => {
    fc.assert(
      fc.property(fc.float({ min: -65504, max: 65504, noNaN: true }), (x) => {
        const h = f32ToF16Bits(x);
        const err = Math.abs(f16BitsToF32(h) - x);
        for (const n of [h - 1, h + 1]) {
          if ((n & 0x7fff) >= 0x7c00 || n < 0 || n > 0xffff || (n & 0x8000) !== (h & 0x8000)) continue;
          expect(err).toBeLessThanOrEqual(Math.abs(f16BitsToF32(n) - x));
        }
      }),
      { numRuns: 2000 },
    );
  });
});
