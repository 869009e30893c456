// The subgroup form of the row-wise attention kernel is a tuner candidate only on adapters whose smallest subgroup has
// 8 lanes or more, and a tuned choice of it is used only on such a device. Adapters are described here, not owned:
// no device, no timing.

import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { subgroupSupport } from '../../src/runtime/subgroups.ts';
import { recordEntries } from '../../src/tune/cache.ts';
import { attentionSignature } from '../../src/tune/signature.ts';
import { tunedTilesFor } from '../../src/tune/tuned-tiles.ts';
import { attentionVariants, fitsLimits, subgroupSharingAllowed, tileLabel } from '../../src/tune/variants.ts';
import { chooseTiles, DEFAULT_KERNEL_LIMITS } from '../../src/wgsl/attention.ts';

/** An adapter as WebGPU describes it: its features and the subgroup sizes in its info. */
const described = (features: string[], minSize?: number, maxSize?: number) => ({
  features: new Set(features),
  info: { subgroupMinSize: minSize, subgroupMaxSize: maxSize },
});

const FOUR_LANES = described(['shader-f16', 'subgroups', 'subgroup-size-control'], 4, 4);
const EIGHT_TO_32 = described(['subgroups'], 8, 32);
const WAVE_64 = described(['subgroups'], 64, 64);
const NO_FEATURE = described(['shader-f16'], 32, 32);

const subgroupShapes = (headDim: number, adapter: ReturnType<typeof described>, max?: number) =>
  attentionVariants(headDim, DEFAULT_KERNEL_LIMITS, max, subgroupSupport(adapter)).filter((t) => t.subgroups);

describe('subgroup sharing of K/V in the tuner', () => {
  it('reads the subgroup sizes only from an adapter that has the feature', () => {
    expect(subgroupSupport(FOUR_LANES)).toEqual({ minSize: 4, maxSize: 4 });
    expect(subgroupSupport(EIGHT_TO_32)).toEqual({ minSize: 8, maxSize: 32 });
    expect(subgroupSupport(NO_FEATURE)).toBeUndefined();
    expect(subgroupSupport(described(['subgroups']))).toBeUndefined();
    expect(subgroupSupport({ features: new Set(['subgroups']) })).toBeUndefined();
  });

  it('is not offered on a 4-lane adapter, nor without the feature', () => {
    expect(subgroupSharingAllowed(subgroupSupport(FOUR_LANES))).toBe(false);
    expect(subgroupSharingAllowed(subgroupSupport(NO_FEATURE))).toBe(false);
    expect(subgroupSharingAllowed(subgroupSupport(described(['subgroups'], 4, 64)))).toBe(false);
    for (const headDim of [16, 64, 128]) {
      expect(subgroupShapes(headDim, FOUR_LANES, Infinity)).toEqual([]);
      expect(subgroupShapes(headDim, NO_FEATURE, Infinity)).toEqual([]);
    }
    // And the other candidates are exactly those of an adapter with no subgroups at all.
    expect(attentionVariants(64, DEFAULT_KERNEL_LIMITS, 12, subgroupSupport(FOUR_LANES))).toEqual(attentionVariants(64, DEFAULT_KERNEL_LIMITS, 12));
  });

  it('is offered, 64 and 32 rows over 32-key tiles, where the smallest subgroup has 8 lanes or more', () => {
    for (const adapter of [EIGHT_TO_32, WAVE_64]) {
      expect(subgroupSharingAllowed(subgroupSupport(adapter))).toBe(true);
      for (const headDim of [16, 64, 128]) {
        // Within the default 12 candidates too: the tuner's own call must see it.
        const shapes = subgroupShapes(headDim, adapter);
        expect(shapes.map(tileLabel)).toEqual(['64×32/1 row-wise subgroups', '32×32/1 row-wise subgroups']);
        expect(shapes).toEqual([
          { q: 64, k: 32, lanes: 1, rowwise: true, subgroups: true },
          { q: 32, k: 32, lanes: 1, rowwise: true, subgroups: true },
        ]);
      }
    }
    // It stages nothing, so even a head dim whose staged row-wise tiles must shrink keeps 32 keys.
    const big = attentionVariants(256, DEFAULT_KERNEL_LIMITS, Infinity, subgroupSupport(EIGHT_TO_32));
    expect(big.filter((t) => t.rowwise && !t.subgroups).every((t) => t.k < 32)).toBe(true);
    expect(big.filter((t) => t.subgroups).map((t) => t.k)).toEqual([32, 32]);
  });

  it('is a form of the row-wise shape only', () => {
    expect(fitsLimits(64, { q: 64, k: 32, lanes: 1, subgroups: true }, DEFAULT_KERNEL_LIMITS)).toBe(false);
    expect(fitsLimits(64, { q: 64, k: 32, lanes: 1, rowwise: true, subgroups: true }, DEFAULT_KERNEL_LIMITS)).toBe(true);
    expect(() => chooseTiles(64, DEFAULT_KERNEL_LIMITS, { q: 64, k: 32, lanes: 1, subgroups: true })).toThrow(/form of the row-wise/);
    expect(chooseTiles(64, DEFAULT_KERNEL_LIMITS, { q: 64, k: 32, lanes: 1, rowwise: true, subgroups: true })).toMatchObject({ subgroups: true, rowwise: true });
  });

  it('a tuned choice of it is used only on a device that the tuner would offer it to', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdl-subgroup-gate-'));
    const cachePath = join(dir, 'tune.json');
    const adapter = { vendor: 'example', architecture: 'wide', description: 'a described adapter' };
    const signature = attentionSignature({ headDim: 64, heads: 4, kvHeads: 4 });
    const tiles = { q: 64, k: 32, lanes: 1, rowwise: true, subgroups: true };
    recordEntries(adapter, [{ signature, entry: { tiles, ms: 1, defaultMs: 2, problem: 'B=1 L=64', measuredAt: '2026-12-02T00:00:00.000Z' } }], cachePath);
    expect(tunedTilesFor(adapter, signature, { cachePath, subgroups: subgroupSupport(EIGHT_TO_32) })).toEqual({ ...tiles, source: 'tuned' });
    for (const subgroups of [subgroupSupport(FOUR_LANES), undefined]) {
      const fallback = tunedTilesFor(adapter, signature, { cachePath, subgroups });
      expect(fallback.source).toBe('default');
      expect(fallback.subgroups).toBeUndefined();
    }
  });
});
