// Every way a safetensors file can be wrong gives one SafetensorsError naming the file and the problem, and nothing
// is allocated or read at a size the file only claims.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensorsFile } from '../../src/runtime/safetensors-file.ts';
import { MAX_HEADER_BYTES, readSafetensors, readSafetensorsFrom, SafetensorsError, writeSafetensors, type ByteSource } from '../../src/runtime/safetensors.ts';
import { f32le, handBuilt } from './build-file.ts';

const NAME = 'bad.safetensors';

function failure(bytes: Uint8Array): string {
  try {
    readSafetensors(bytes, NAME);
  } catch (e) {
    expect(e).toBeInstanceOf(SafetensorsError);
    const message = (e as Error).message;
    expect(message.startsWith(`${NAME}: `)).toBe(true);
    return message.slice(NAME.length + 2);
  }
  throw new Error('expected the file to be rejected');
}

const entry = (dtype: unknown, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });
const one = (e: unknown, data: number[] = f32le(1, 2)) => handBuilt({ w: e }, data);

const valid = writeSafetensors({ a: { shape: [2], data: Float32Array.of(1, 2) }, b: { shape: [3], data: Float32Array.of(3, 4, 5) } });

describe('the header length', () => {
  it('needs 8 bytes', () => {
    expect(failure(new Uint8Array(0))).toBe('not a safetensors file: 0 bytes, too short for the 8-byte header length');
    expect(failure(new Uint8Array(5))).toMatch(/5 bytes, too short/);
  });

  it('must be at least 2', () => {
    expect(failure(handBuilt('', []))).toMatch(/^header length 0 is too small/);
    expect(failure(handBuilt('{', []))).toMatch(/^header length 1 is too small/);
  });

  it('must fit in the file (truncated header)', () => {
    expect(failure(valid.subarray(0, 20))).toMatch(/^header length \d+ is larger than the 12 bytes that follow it/);
  });

  it('may declare up to 2^64 - 1 without anything of that size being read', () => {
    expect(failure(handBuilt('{}', [], { declaredLength: 2n ** 64n - 1n }))).toMatch(/^header length 18446744073709551615 is larger than the 2 bytes that follow it/);
    expect(failure(handBuilt('{}', [], { declaredLength: 2n ** 53n + 1n }))).toMatch(/^header length 9007199254740993 /);
  });

  it('is limited to 100 MB even when the file is larger, reading only the 8 length bytes', () => {
    const reads: number[] = [];
    const size = 300_000_000;
    const src: ByteSource = {
      size,
      read(offset, length) {
        reads.push(length);
        const out = new Uint8Array(length);
        if (offset === 0) new DataView(out.buffer).setBigUint64(0, BigInt(MAX_HEADER_BYTES + 1), true);
        return out;
      },
    };
    expect(() => readSafetensorsFrom(src, NAME)).toThrow(`${NAME}: header length ${MAX_HEADER_BYTES + 1} is over the ${MAX_HEADER_BYTES}-byte limit`);
    expect(reads).toEqual([8]);
  });
});

describe('the header text', () => {
  it('must be UTF-8 JSON', () => {
    expect(failure(handBuilt('{nope', []))).toMatch(/^the header is not valid JSON \(/);
    const bytes = handBuilt('{"a"}', []);
    bytes[9] = 0xff;
    expect(failure(bytes)).toBe('the header is not valid UTF-8');
  });

  it('must be an object', () => {
    expect(failure(handBuilt('[1, 2]'))).toBe('the header must be a JSON object, not an array');
    expect(failure(handBuilt('42'))).toBe('the header must be a JSON object, not a number');
    expect(failure(handBuilt('null'))).toBe('the header must be a JSON object, not null');
    expect(failure(handBuilt('"x"'))).toBe('the header must be a JSON object, not a string');
  });

  it('has string-to-string metadata', () => {
    expect(failure(handBuilt({ __metadata__: [] }))).toMatch(/"__metadata__" must be an object of strings, not an array/);
    expect(failure(handBuilt({ __metadata__: { seed: 1 } }))).toBe(`"__metadata__" entry 'seed' must be a string, not a number`);
  });
});

describe('a tensor entry', () => {
  it('is an object', () => {
    expect(failure(one(7))).toBe(`tensor 'w': the entry must be an object with dtype, shape and data_offsets, not a number`);
  });

  it('has a known, supported dtype', () => {
    expect(failure(one(entry('F64', [1], [0, 8])))).toBe(`tensor 'w': dtype F64 is not supported (only F32, F16 and BF16 are)`);
    expect(failure(one(entry('Q4', [2], [0, 8])))).toBe(`tensor 'w': unknown dtype "Q4" (expected F32, F16 or BF16)`);
    expect(failure(one(entry(4, [2], [0, 8])))).toBe(`tensor 'w': dtype must be a string, not a number`);
    expect(failure(one(entry(undefined, [2], [0, 8])))).toBe(`tensor 'w': dtype must be a string, not nothing`);
  });

  it('has a shape of non-negative integers', () => {
    expect(failure(one(entry('F32', [-2], [0, 8])))).toBe(`tensor 'w': shape [-2] has -2, not a non-negative integer`);
    expect(failure(one(entry('F32', [1.5], [0, 8])))).toBe(`tensor 'w': shape [1.5] has 1.5, not a non-negative integer`);
    expect(failure(one(entry('F32', ['2'], [0, 8])))).toBe(`tensor 'w': shape ["2"] has "2", not a non-negative integer`);
    expect(failure(one(entry('F32', 2, [0, 8])))).toBe(`tensor 'w': shape must be an array of dimensions, not a number`);
  });

  it('has a shape whose element count does not overflow', () => {
    expect(failure(one(entry('F32', [2 ** 30, 2 ** 30, 2 ** 30], [0, 8])))).toBe(
      `tensor 'w': shape [1073741824,1073741824,1073741824] overflows: its element count is not a safe integer`,
    );
    // Huge but exactly representable: a plain size mismatch, not a crash or an allocation.
    expect(failure(one(entry('F32', [2 ** 26, 2 ** 26], [0, 8])))).toMatch(/hold 8 bytes, but F32 \[67108864,67108864\] needs 18014398509481984$/);
  });

  it('has offsets inside the data section', () => {
    expect(failure(one(entry('F32', [2], [0, 9])))).toBe(`tensor 'w': data_offsets [0, 9] reach past the end of the data section (8 bytes)`);
    expect(failure(one(entry('F32', [2], [8, 0])))).toBe(`tensor 'w': data_offsets [8, 0] end before they begin`);
    expect(failure(one(entry('F32', [2], [-8, 0])))).toBe(`tensor 'w': data_offsets [-8,0] must be non-negative integers`);
    expect(failure(one(entry('F32', [2], [0, 8.5])))).toBe(`tensor 'w': data_offsets [0,8.5] must be non-negative integers`);
    expect(failure(one(entry('F32', [2], [0])))).toBe(`tensor 'w': data_offsets must be [begin, end], not [0]`);
    expect(failure(one(entry('F32', [2], undefined)))).toBe(`tensor 'w': data_offsets must be [begin, end], not nothing`);
  });

  it('spans exactly its shape times its dtype size', () => {
    expect(failure(one(entry('F32', [3], [0, 8])))).toBe(`tensor 'w': data_offsets [0, 8] hold 8 bytes, but F32 [3] needs 12`);
    expect(failure(one(entry('BF16', [2], [0, 8])))).toBe(`tensor 'w': data_offsets [0, 8] hold 8 bytes, but BF16 [2] needs 4`);
  });
});

describe('the data layout', () => {
  it('has no overlapping tensors', () => {
    const file = handBuilt({ a: entry('F32', [2], [0, 8]), b: entry('F32', [2], [4, 12]) }, f32le(1, 2, 3));
    expect(failure(file)).toBe(`tensors 'a' [0, 8] and 'b' [4, 12] overlap`);
  });

  it('has no gaps', () => {
    expect(failure(handBuilt({ a: entry('F32', [1], [4, 8]) }, f32le(1, 2)))).toBe(`4 unused bytes before tensor 'a' at data offset 0 (tensors must be packed without gaps)`);
  });

  it('has no trailing bytes', () => {
    expect(failure(handBuilt({ a: entry('F32', [1], [0, 4]) }, f32le(1, 2)))).toBe(`4 bytes of trailing data after the last tensor (tensors must fill the data section exactly)`);
  });

  it('is complete: a truncated file says where the data ends', () => {
    expect(failure(valid.subarray(0, valid.length - 1))).toBe(`tensor 'b': data_offsets [8, 20] reach past the end of the data section (19 bytes)`);
  });
});

describe('reading', () => {
  it('never reads a tensor before the whole header has been validated', () => {
    const bytes = handBuilt({ a: entry('F32', [2], [0, 8]), z: entry('F32', [1], [8, 13]) }, [...f32le(1, 2, 3), 0]);
    const reads: [number, number][] = [];
    const src: ByteSource = {
      size: bytes.length,
      read(offset, length) {
        reads.push([offset, length]);
        return bytes.slice(offset, offset + length);
      },
    };
    expect(() => readSafetensorsFrom(src, NAME)).toThrow(/tensor 'z': data_offsets \[8, 13\] hold 5 bytes/);
    expect(reads.map(([offset]) => offset)).toEqual([0, 8]);
  });

  it('reports missing files and directories as SafetensorsError', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdl-st-'));
    expect(() => readSafetensorsFile(join(dir, 'none.safetensors'))).toThrow(`${join(dir, 'none.safetensors')}: no such file`);
    expect(() => readSafetensorsFile(dir)).toThrow(SafetensorsError);
    const file = join(dir, 'short.safetensors');
    writeFileSync(file, valid.subarray(0, valid.length - 10));
    expect(() => readSafetensorsFile(file)).toThrow(`${file}: tensor 'b': data_offsets [8, 20] reach past the end of the data section (10 bytes)`);
  });

  it('reads a file from disk the same as from memory', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdl-st-'));
    const file = join(dir, 'ok.safetensors');
    writeFileSync(file, valid);
    expect(readSafetensorsFile(file)).toEqual(readSafetensors(valid));
  });
});
