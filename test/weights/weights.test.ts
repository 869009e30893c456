// Binding weights to a spec: the parameter list from the IR, and one error listing every missing, extra or misshapen
// tensor, raised from the header before any data is read.

import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { buildIr } from '../../src/ir/build.ts';
import type { IrGraph } from '../../src/ir/ir.ts';
import { bytesSource, readSafetensors, SafetensorsError, writeSafetensors, type ByteSource } from '../../src/runtime/safetensors.ts';
import { bindWeights, checkWeights, loadWeights, paramsOf, seededWeightsFile, WeightsError } from '../../src/runtime/weights.ts';

const root = join(import.meta.dirname, '..', '..');
const translatorText = readFileSync(join(root, 'specs', 'translator.mdl'), 'utf8');

function irOf(text: string): IrGraph {
  const r = checkSource(text, 'spec.mdl');
  if (!r.model) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return buildIr(r.model);
}

const translator = irOf(translatorText);

const sameBytes = (a: ArrayBufferView, b: ArrayBufferView) =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

describe('paramsOf', () => {
  it('lists every parameter of the translator with its concrete shape', () => {
    const params = paramsOf(translator);
    const byName = new Map(params.map((p) => [p.name, p.shape]));
    expect(params).toHaveLength(89);
    expect(byName.get('embed.tokens.weight')).toEqual([480, 64]);
    expect(byName.get('encoder.layers.0.ffn.up_proj.weight')).toEqual([256, 64]);
    expect(byName.get('decoder.layers.1.cross_attn.k_proj.bias')).toEqual([64]);
    expect(byName.get('decoder.norm.weight')).toEqual([64]);
    expect(byName.has('lm_head.weight')).toBe(false); // tied to the embedding
    expect(params.every((p) => !p.name.startsWith('%'))).toBe(true);
  });
});

describe('checkWeights', () => {
  const params = [
    { name: 'a.weight', shape: [4, 2] },
    { name: 'a.bias', shape: [4] },
    { name: 'b.weight', shape: [3] },
  ];

  it('accepts exactly the expected tensors', () => {
    expect(() => checkWeights(params, new Map(params.map((p) => [p.name, p])), 'w.safetensors')).not.toThrow();
  });

  it('lists every missing, misshapen and unexpected tensor in one error', () => {
    const found = new Map([
      ['a.weight', { shape: [2, 4] }],
      ['b.weight', { shape: [3, 1] }],
      ['zz.extra', { shape: [] }],
      ['c.weight', { shape: [5] }],
    ]);
    let error: unknown;
    try {
      checkWeights(params, found, 'w.safetensors');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WeightsError);
    expect((error as WeightsError).problems).toEqual([
      'tensor a.weight: expected shape [4, 2], found [2, 4]',
      'missing tensor a.bias: expected shape [4]',
      'tensor b.weight: expected shape [3], found [3, 1]',
      'unexpected tensor c.weight [5]: the spec has no parameter of that name',
      'unexpected tensor zz.extra []: the spec has no parameter of that name',
    ]);
    expect((error as Error).message).toMatch(/^w\.safetensors: the weights do not match the spec \(5 problems\):\n {2}tensor a\.weight: /);
  });

  it('shortens a very long list', () => {
    const many = Array.from({ length: 40 }, (_, i) => ({ name: `p${i}`, shape: [1] }));
    const message = (() => {
      try {
        checkWeights(many, new Map(), 'w');
      } catch (e) {
        return (e as Error).message;
      }
    })();
    expect(message).toMatch(/\(40 problems\)/);
    expect(message).toMatch(/… and 10 more$/);
  });
});

describe('loading weights for a graph', () => {
  it('binds a seeded file to the translator and hands back every parameter', () => {
    const bytes = seededWeightsFile(translator, 7);
    const weights = loadWeights(bytes, translator, 'seeded');
    expect([...weights.keys()]).toEqual(paramsOf(translator).map((p) => p.name));
    expect(weights.get('embed.tokens.weight')!.length).toBe(480 * 64);
    const bound = bindWeights(translator, readSafetensors(bytes), 'seeded');
    // Compared as bytes: deep equality over a million elements is needlessly slow.
    expect([...bound.keys()]).toEqual([...weights.keys()]);
    for (const [name, data] of bound) expect(sameBytes(data, weights.get(name)!), name).toBe(true);
  });

  it('rejects a file for another shape of model from its header alone, naming the tensors', () => {
    const smaller = irOf(translatorText.replace('d_ff = 256', 'd_ff = 128'));
    const bytes = seededWeightsFile(translator, 7);
    const inner = bytesSource(bytes);
    let largest = 0;
    const src: ByteSource = { size: inner.size, read: (offset, length) => ((largest = Math.max(largest, length)), inner.read(offset, length)) };
    expect(() => loadWeights(src, smaller, 'translator.safetensors')).toThrow(WeightsError);
    expect(largest).toBeLessThan(20_000); // the header only: no tensor was read
    expect(() => loadWeights(bytes, smaller, 'translator.safetensors')).toThrow(
      /translator\.safetensors: the weights do not match the spec \(12 problems\):\n {2}tensor encoder\.layers\.0\.ffn\.up_proj\.weight: expected shape \[128, 64\], found \[256, 64\]/,
    );
  });

  it('names a tensor missing from the file and one the spec does not have', () => {
    const file = readSafetensors(seededWeightsFile(translator, 1));
    const tensors = new Map([...file.tensors].filter(([name]) => name !== 'decoder.norm.bias').map(([name, t]) => [name, { shape: t.shape, data: t.data }]));
    tensors.set('lm_head.weight', { shape: [320, 64], data: new Float32Array(320 * 64) });
    const bytes = writeSafetensors(tensors);
    expect(() => loadWeights(bytes, translator, 'w.safetensors')).toThrow(
      'w.safetensors: the weights do not match the spec (2 problems):\n  missing tensor decoder.norm.bias: expected shape [64]\n  unexpected tensor lm_head.weight [320, 64]: the spec has no parameter of that name',
    );
  });
});

describe('seeded weights files', () => {
  it('are the same bytes for the same seed and differ for another seed', () => {
    const a = seededWeightsFile(translator, 1);
    expect(sameBytes(seededWeightsFile(translator, 1), a)).toBe(true);
    expect(sameBytes(seededWeightsFile(translator, 2), a)).toBe(false);
  });

  it('are pinned: the translator with seed 1 has these exact bytes on every machine', () => {
    // A seed names a file, so any change to the initialiser or the writer that moves a single bit must be deliberate
    // (and this digest updated with it). The digest is of the translator at the dims it had when it was pinned.
    const pinned = irOf(translatorText.replace('vocab = 480, d_model = 64, heads = 4, d_ff = 256', 'vocab = 320, d_model = 128, heads = 4, d_ff = 512'));
    const digest = createHash('sha256').update(seededWeightsFile(pinned, 1)).digest('hex');
    expect(digest).toBe('15841a090de0784953aae2dd37ddb407bbc18bb9ff061b5e3f058df7b0ebc4ff');
  });

  it('record the model and seed, and store F16 when asked', () => {
    const file = readSafetensors(seededWeightsFile(translator, 5, 'F16'));
    expect(file.metadata).toEqual({ format: 'pt', model: 'translator', seed: '5' });
    expect(new Set([...file.tensors.values()].map((t) => t.dtype))).toEqual(new Set(['F16']));
  });
});

describe('non-finite weights', () => {
  const good = readSafetensors(seededWeightsFile(translator, 2));
  const withValue = (name: string, index: number, value: number) =>
    writeSafetensors(new Map([...good.tensors].map(([n, t]) => [n, { shape: t.shape, data: n === name ? t.data.map((x, i) => (i === index ? value : x)) : t.data }])));

  it('are refused when loaded, naming the tensor, the value and the first bad index (flat and per axis)', () => {
    expect(() => loadWeights(withValue('encoder.layers.1.ffn.down_proj.weight', 300, Infinity), translator, 'w.safetensors')).toThrow(
      new SafetensorsError('w.safetensors', 'tensor encoder.layers.1.ffn.down_proj.weight holds Infinity at index 300 ([1, 44]); every value must be finite'),
    );
    expect(() => loadWeights(withValue('decoder.norm.bias', 63, NaN), translator, 'w.safetensors')).toThrow('tensor decoder.norm.bias holds NaN at index 63; every value');
  });

  it('the largest finite f32 is fine', () => {
    expect(() => loadWeights(withValue('decoder.norm.bias', 0, 3.4028234663852886e38), translator, 'w.safetensors')).not.toThrow();
  });
});
