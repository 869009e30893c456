// Damaged files: whatever happens to the bytes of a valid file (flipped bytes, truncation, insertions, a rewritten
// header length, a header field replaced by arbitrary JSON), reading it returns a file or throws SafetensorsError —
// never another exception — and returns promptly.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readSafetensors, SafetensorsError, writeSafetensors } from '../../src/runtime/safetensors.ts';
import { handBuilt } from './build-file.ts';

const base = writeSafetensors(
  {
    'embed.tokens.weight': { shape: [4, 3], data: Float32Array.from({ length: 12 }, (_, i) => i / 7) },
    'norm.bias': { shape: [3], data: Float32Array.of(0, 1, -1), dtype: 'F16' },
    scalar: { shape: [], data: Float32Array.of(2) },
  },
  { model: 'fuzz' },
);
const headerLength = Number(new DataView(base.buffer).getBigUint64(0, true));
const header = JSON.parse(new TextDecoder().decode(base.subarray(8, 8 + headerLength))) as Record<string, Record<string, unknown>>;
const data = base.subarray(8 + headerLength);

/** Reads, and fails the property on anything but success or a SafetensorsError; also bounds the time taken. */
function readsCleanly(bytes: Uint8Array): boolean {
  const t0 = performance.now();
  try {
    const file = readSafetensors(bytes, 'fuzzed.safetensors');
    for (const t of file.tensors.values()) expect(t.data.length).toBe(t.shape.reduce((a, b) => a * b, 1));
  } catch (e) {
    if (!(e instanceof SafetensorsError)) throw e;
    expect(e.message.startsWith('fuzzed.safetensors: ')).toBe(true);
  }
  expect(performance.now() - t0).toBeLessThan(500);
  return true;
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant('length' as const), value: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function apply(bytes: Uint8Array, m: Mutation): Uint8Array {
  const at = 'at' in m ? m.at % (bytes.length + 1) : 0;
  switch (m.kind) {
    case 'set': {
      const out = bytes.slice();
      if (out.length) out[at % out.length] = m.value;
      return out;
    }
    case 'truncate':
      return bytes.slice(0, at);
    case 'insert':
      return Uint8Array.from([...bytes.subarray(0, at), ...m.bytes, ...bytes.subarray(at)]);
    case 'delete':
      return Uint8Array.from([...bytes.subarray(0, at), ...bytes.subarray(at + m.count)]);
    case 'length': {
      const out = bytes.slice();
      if (out.length >= 8) new DataView(out.buffer).setBigUint64(0, m.value, true);
      return out;
    }
  }
}

describe('damaged files', () => {
  it('the undamaged file reads', () => {
    expect([...readSafetensors(base).tensors.keys()]).toEqual(['embed.tokens.weight', 'norm.bias', 'scalar']);
  });

  it('random byte mutations, truncations, insertions and header lengths only ever give SafetensorsError', () => {
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => readsCleanly(ms.reduce(apply, base))),
      { numRuns: 3000 },
    );
  });

  it('header fields replaced by arbitrary JSON only ever give SafetensorsError', () => {
    const names = Object.keys(header);
    const field = fc.constantFrom('dtype', 'shape', 'data_offsets', 'whole');
    fc.assert(
      fc.property(fc.constantFrom(...names), field, fc.jsonValue(), (name, key, value) => {
        const h = structuredClone(header) as Record<string, unknown>;
        if (key === 'whole') h[name] = value;
        else (h[name] as Record<string, unknown>)[key] = value;
        return readsCleanly(handBuilt(h, data));
      }),
      { numRuns: 2000 },
    );
  });

  it('plausible but wrong numbers in shapes and offsets only ever give SafetensorsError', () => {
    const num = fc.oneof(fc.integer({ min: -2, max: 64 }), fc.constantFrom(2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 - 1, 1e308, -0, 0.5));
    fc.assert(
      fc.property(fc.constantFrom('embed.tokens.weight', 'norm.bias', 'scalar'), fc.array(num, { maxLength: 4 }), fc.tuple(num, num), (name, shape, offsets) => {
        const h = structuredClone(header);
        h[name] = { ...h[name], shape, data_offsets: offsets };
        return readsCleanly(handBuilt(h, data));
      }),
      { numRuns: 2000 },
    );
  });
});
