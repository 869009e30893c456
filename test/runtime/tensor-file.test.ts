// Tensors from .npy files (the reader behind `mdl run --features`): the dtypes and layouts NumPy writes, and a
// sentence for each kind of file that cannot be read.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNpy, readTensorFile, TensorFileError } from '../../src/runtime/tensor-file.ts';
import { writeSafetensors } from '../../src/runtime/safetensors.ts';
import { npyBytes, npyHalfBits } from '../support/npy.ts';

const problem = (bytes: Uint8Array) => {
  try {
    parseNpy(bytes, 'x.npy');
  } catch (e) {
    expect(e).toBeInstanceOf(TensorFileError);
    return (e as Error).message;
  }
  throw new Error('expected a refusal');
};

describe('.npy', () => {
  it('reads float32, float64 and float16 in C order', () => {
    expect(parseNpy(npyBytes([2, 3], [1, 2, 3, 4, 5, 6.5]), 'a')).toEqual({ shape: [2, 3], data: Float32Array.of(1, 2, 3, 4, 5, 6.5) });
    expect(parseNpy(npyBytes([3], [0.25, -1, 1e10], '<f8'), 'a')).toEqual({ shape: [3], data: Float32Array.of(0.25, -1, 1e10) });
    // 0x3c00 = 1, 0xc000 = -2, 0x3800 = 0.5 in IEEE half precision.
    expect(parseNpy(npyHalfBits([1, 3], [0x3c00, 0xc000, 0x3800]), 'a')).toEqual({ shape: [1, 3], data: Float32Array.of(1, -2, 0.5) });
  });

  it('reads a version 2 header (a 4-byte header length)', () => {
    const v1 = npyBytes([2], [7, 8]);
    const headerLength = new DataView(v1.buffer).getUint16(8, true);
    const v2 = new Uint8Array(v1.length + 2);
    v2.set(v1.subarray(0, 6));
    v2.set([2, 0], 6);
    new DataView(v2.buffer).setUint32(8, headerLength, true);
    v2.set(v1.subarray(10), 12);
    expect(parseNpy(v2, 'a')).toEqual({ shape: [2], data: Float32Array.of(7, 8) });
  });

  it('refuses what it cannot read, saying what', () => {
    expect(problem(new TextEncoder().encode('not numpy at all'))).toBe('x.npy: not a .npy file (no \\x93NUMPY magic)');
    expect(problem(npyBytes([2], [1, 2], '<i4'))).toMatch(/^x\.npy: dtype '<i4' is not supported; save little-endian float16, float32 or float64/);
    expect(problem(npyBytes([2, 2], [1, 2, 3, 4], '<f4', { fortran: true }))).toBe('x.npy: the array is in Fortran order; save it in C order (numpy.ascontiguousarray)');
    expect(problem(npyBytes([2, 3], [1, 2, 3, 4, 5]))).toBe('x.npy: shape (2, 3) needs 24 data bytes, the file has 20');
  });
});

describe('readTensorFile', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mdl-tensor-file-'));
  const st = join(dir, 'two.safetensors');
  writeFileSync(st, writeSafetensors({ a: { shape: [2], data: Float32Array.of(1, 2) }, b: { shape: [1], data: Float32Array.of(3) } }));

  it('takes the named tensor of a safetensors file, or says none has that name', () => {
    expect(readTensorFile(st, 'b')).toEqual({ shape: [1], data: Float32Array.of(3) });
    expect(() => readTensorFile(st, 'c')).toThrow(`${st}: holds 2 tensors and none is named 'c'`);
  });

  it('names the file it cannot use', () => {
    expect(() => readTensorFile(join(dir, 'absent.npy'), 'a')).toThrow(`${join(dir, 'absent.npy')}: no such file`);
    expect(() => readTensorFile(join(dir, 'x.csv'), 'a')).toThrow(`${join(dir, 'x.csv')}: give a .npy or .safetensors file`);
  });
});
