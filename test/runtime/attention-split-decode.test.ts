// The split-key decode kernel (src/wgsl/attention-split-decode.ts) against the CPU oracle: every zoo mask compiled by
// src/masks with real tile classes, grouped-query heads, the score modifiers, key lengths that are not multiples of
// the key tile or of tile × lanes, Inf/NaN in masked V rows, rows that see no key, and EMPTY tiles never read.
// Small tiles (8 keys, 4 lanes) make each lane walk several tiles and leave some lanes with none, so the combine step
// sees lanes that saw nothing next to lanes that did; 16-key tiles over 32 lanes have fewer tiles than lanes, so
// tiles are dealt out in slices of their keys.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { emitMaskWgsl } from '../../src/masks/emit-wgsl.ts';
import { maskFunction } from '../../src/masks/evaluate.ts';
import { TileClass } from '../../src/masks/kernel-contract.ts';
import { dataReads, toPredicate } from '../../src/masks/policy.ts';
import { classifyTiles as classifyPredicate } from '../../src/masks/tiles.ts';
import { attentionCpu } from '../../src/runtime/attention-cpu.ts';
import { attentionKernelFor, runAttention } from '../../src/runtime/attention-run.ts';
import { alibiSlopes, type ScoreModifier } from '../../src/wgsl/score-modifiers.ts';
import { describeCase, runCase, useGpu, type AttentionCase } from './gpu-harness.ts';
import { allFinite, causalBottomRight, classifyTiles, keyPadding, maxAbsError, randomFloats, someRowsBlind, zooEnv } from './mask-fixtures.ts';

const TOLERANCE = 1e-4;
const SPLIT = { q: 1, k: 8, lanes: 4, splitKeys: true };
const zoo = checkSource(readFileSync(join(import.meta.dirname, '..', '..', 'specs', 'mask-zoo.mdl'), 'utf8'), 'mask-zoo.mdl').model!;

describe('the split-key decode kernel', () => {
  const gpu = useGpu();

  it('is generated with one query row per workgroup and its lanes over the keys', () => {
    const kernel = attentionKernelFor(gpu(), { headDim: 64, heads: 2, kvHeads: 2, tiles: { q: 1, k: 32, lanes: 32, splitKeys: true } });
    expect(kernel.splitKeys).toBe(true);
    expect([kernel.tileQ, kernel.tileK, kernel.workgroupSize]).toEqual([1, 32, 32]);
    // The partial (max, sum, row) per lane, nothing staged.
    expect(kernel.workgroupStorageBytes).toBe(4 * 32 * (2 + 64));
    expect(() => attentionKernelFor(gpu(), { headDim: 64, heads: 2, kvHeads: 2, tiles: { q: 4, k: 32, lanes: 32, splitKeys: true } })).toThrow(/query tile must be 1/);
  });

  // Few query rows (as a decode step has) and self/cross key lengths off every multiple of 8 and of 8 × 4.
  const shapes = [
    { name: 'self', lq: 3, lk: 45, heads: 4, kvHeads: 2, headDim: 32 },
    { name: 'cross', lq: 2, lk: 70, heads: 4, kvHeads: 1, headDim: 80 },
  ];
  // The second shape has fewer key tiles than lanes at these lengths: tiles are cut into slices shared by lanes.
  const WIDE = { q: 1, k: 16, lanes: 32, splitKeys: true };
  for (const mask of zoo.masks.values()) {
    for (const [shape, tiles] of [...shapes.map((sh) => [sh, SPLIT] as const), [shapes[0], WIDE] as const]) {
      const axes = { q: 'T', k: shape.name === 'cross' ? 'S' : 'T' };
      if (dataReads(mask.policy!).some((r) => zoo.inputs.get(r.input)?.axis !== axes[r.along])) continue;
      it(`zoo mask ${mask.name} (${shape.name}, Lq=${shape.lq} Lk=${shape.lk}, H=${shape.heads}/${shape.kvHeads}, D=${shape.headDim}, ${tiles.k}-key tiles × ${tiles.lanes} lanes)`, async () => {
        const batch = 2;
        const env = zooEnv(batch, Math.max(shape.lq, shape.lk), shape.lk);
        const pred = toPredicate(mask.policy!);
        const kernel = attentionKernelFor(gpu(), { headDim: shape.headDim, heads: shape.heads, kvHeads: shape.kvHeads, mask: emitMaskWgsl(pred), tiles });
        const siteEnv = { ...env, dims: { ...env.dims, Lq: shape.lq, Lk: shape.lk } };
        const classes = classifyPredicate(pred, { batch, heads: kernel.tileHeads, lq: shape.lq, lk: shape.lk, tileQ: kernel.tileQ, tileK: kernel.tileK }, siteEnv);
        const q = randomFloats(batch * shape.lq * shape.heads * shape.headDim, 11);
        const k = randomFloats(batch * shape.lk * shape.kvHeads * shape.headDim, 12);
        const v = randomFloats(batch * shape.lk * shape.kvHeads * shape.headDim, 13);
        const out = await runAttention(gpu(), kernel, { batch, lq: shape.lq, lk: shape.lk, q, k, v, maskEnv: env, tileClasses: classes });
        const cpu = attentionCpu({ batch, ...shape }, q, k, v, { mask: maskFunction(pred, siteEnv) });
        expect(maxAbsError(out, cpu)).toBeLessThanOrEqual(TOLERANCE);
      });
    }
  }

  // The query row at the last position, as in a decode step: bottom-right causal shows it every key.
  for (const [lk, tiles] of [[1, SPLIT], [37, SPLIT], [200, { q: 1, k: 32, lanes: 32, splitKeys: true }], [161, { q: 1, k: 16, lanes: 16, splitKeys: true }]] as const) {
    it(`one query row against ${lk} keys, tiles ${tiles.k} × ${tiles.lanes} lanes`, async () => {
      const c: AttentionCase = { batch: 2, lq: 1, lk, heads: 4, kvHeads: 2, headDim: 64, fixture: causalBottomRight, kernel: { tiles }, classes: (kernel, mask) => classifyTiles(kernel, 2, 1, lk, mask!) };
      const result = await runCase(gpu(), c);
      expect(result.error, describeCase(c)).toBeLessThanOrEqual(TOLERANCE);
    });
  }

  const modifierCases: [string, ScoreModifier[]][] = [
    ['ALiBi', [{ kind: 'alibi', slopes: alibiSlopes(6), form: 'distance' }]],
    ['soft-cap', [{ kind: 'softcap', cap: 2 }]],
    ['ALiBi then soft-cap', [{ kind: 'alibi', slopes: alibiSlopes(6), form: 'distance' }, { kind: 'softcap', cap: 1.5 }]],
  ];
  for (const [name, modifiers] of modifierCases) {
    it(`score modifier: ${name}`, async () => {
      const result = await runCase(gpu(), {
        batch: 2, lq: 3, lk: 53, heads: 6, kvHeads: 3, headDim: 32, fixture: causalBottomRight, kernel: { modifiers, tiles: SPLIT },
        q: randomFloats(2 * 3 * 6 * 32, 21, 3),
      });
      expect(result.error).toBeLessThanOrEqual(TOLERANCE);
    });
  }

  it('Inf and NaN in masked V rows of PARTIAL and EMPTY tiles do not reach the output', async () => {
    const [batch, lq, lk, kvHeads, headDim] = [2, 3, 40, 2, 32];
    const env = { dims: { Lq: lq, Lk: lk }, data: { lengths: Int32Array.of(21, 9) } };
    const v = randomFloats(batch * lk * kvHeads * headDim, 6);
    for (const [b, length] of [[0, 21], [1, 9]]) {
      for (let key = length; key < lk; key++) {
        const start = (b * lk + key) * kvHeads * headDim;
        v.fill(key % 2 ? Infinity : NaN, start, start + kvHeads * headDim);
      }
    }
    const c: AttentionCase = {
      batch, lq, lk, heads: 4, kvHeads, headDim, fixture: keyPadding, env, v, kernel: { tiles: SPLIT },
      classes: (kernel, mask) => classifyTiles(kernel, batch, lq, lk, mask!),
    };
    const result = await runCase(gpu(), c);
    expect(result.kernel.splitKeys).toBe(true);
    expect(allFinite(result.gpu), describeCase(c)).toBe(true);
    expect(result.error).toBeLessThanOrEqual(TOLERANCE);
  });

  it('rows with no visible key are exactly zero', async () => {
    const [batch, lq, lk, heads, headDim] = [2, 5, 29, 4, 32];
    const result = await runCase(gpu(), { batch, lq, lk, heads, kvHeads: 2, headDim, fixture: someRowsBlind, kernel: { tiles: SPLIT } });
    expect(result.error).toBeLessThanOrEqual(TOLERANCE);
    for (let b = 0; b < batch; b++) for (let h = 0; h < heads; h++) for (const q of [1, 4]) {
      const base = ((b * lq + q) * heads + h) * headDim;
      expect(Array.from(result.gpu.subarray(base, base + headDim)).every((x) => x === 0)).toBe(true);
    }
  });

  it('a tile marked EMPTY is not read, even when the mask would show it', async () => {
    const [lq, lk, headDim] = [2, 37, 32];
    const k = randomFloats(lk * headDim, 7);
    const v = randomFloats(lk * headDim, 8);
    v.fill(NaN, 16 * headDim, 24 * headDim);
    const result = await runCase(gpu(), {
      batch: 1, lq, lk, heads: 2, kvHeads: 1, headDim, k, v, kernel: { tiles: SPLIT },
      classes: (kernel) => {
        const kTiles = Math.ceil(lk / kernel.tileK);
        const classes = new Uint32Array(lq * kTiles).fill(TileClass.Full);
        for (let qt = 0; qt < lq; qt++) classes[qt * kTiles + 2] = TileClass.Empty;
        return classes;
      },
      oracleMask: (_b, _h, _q, key) => key < 16 || key >= 24,
    });
    expect(allFinite(result.gpu)).toBe(true);
    expect(result.error).toBeLessThanOrEqual(TOLERANCE);
  });
});
