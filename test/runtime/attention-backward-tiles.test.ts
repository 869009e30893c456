// The attention backward pass with the shipped mask zoo compiled by src/masks and classified by its tile classifier,
// and with deliberately wrong tile classes: the gradients then follow the classes rather than the mask, in both of
// the backward walks (dQ reads a row of the class buffer, dK/dV a column), which shows what they skip.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { emitMaskWgsl } from '../../src/masks/emit-wgsl.ts';
import { maskFunction } from '../../src/masks/evaluate.ts';
import { TileClass } from '../../src/masks/kernel-contract.ts';
import { dataReads, toPredicate } from '../../src/masks/policy.ts';
import { classifyTiles as classifyPredicate } from '../../src/masks/tiles.ts';
import { allFinite, causalTopLeft, classifyTiles, randomFloats, zooEnv } from './mask-fixtures.ts';
import { attentionGradsReference, normRelError, runBackwardCase } from './attention-backward-harness.ts';
import { useGpu } from './gpu-harness.ts';

const TOLERANCE = 1e-3;
const SMALL_TILES = { q: 8, k: 8 };
const zoo = checkSource(readFileSync(join(import.meta.dirname, '..', '..', 'specs', 'mask-zoo.mdl'), 'utf8'), 'mask-zoo.mdl').model!;

describe('attention backward with every zoo mask', () => {
  const gpu = useGpu();
  const shapes = [
    { name: 'self', lq: 21, lk: 21 },
    { name: 'cross', lq: 11, lk: 26 },
  ];
  for (const mask of zoo.masks.values()) {
    for (const shape of shapes) {
      // As in the forward zoo test: masks reading T data at keys are checked at the self shape only.
      const axes = { q: 'T', k: shape.name === 'cross' ? 'S' : 'T' };
      if (dataReads(mask.policy!).some((r) => zoo.inputs.get(r.input)?.axis !== axes[r.along])) continue;
      it(`${mask.name} (${shape.name}, Lq=${shape.lq} Lk=${shape.lk})`, async () => {
        const batch = 2;
        const env = zooEnv(batch, shape.lq, shape.lk);
        const siteEnv = { ...env, dims: { ...env.dims, Lq: shape.lq, Lk: shape.lk } };
        const pred = toPredicate(mask.policy!);
        const r = await runBackwardCase(gpu(), {
          batch, lq: shape.lq, lk: shape.lk, heads: 4, kvHeads: 2, headDim: 16, tiles: SMALL_TILES,
          mask: emitMaskWgsl(pred), env, oracleMask: maskFunction(pred, siteEnv),
          classes: (kernel) => classifyPredicate(pred, { batch, heads: kernel.tileHeads, lq: shape.lq, lk: shape.lk, tileQ: kernel.tileQ, tileK: kernel.tileK }, siteEnv),
        });
        for (const [name, e] of Object.entries(r.errors)) if (e !== undefined) expect(e, name).toBeLessThanOrEqual(TOLERANCE);
      });
    }
  }
});

describe('attention backward with wrong tile classes', () => {
  const gpu = useGpu();

  it('a key tile marked EMPTY is never read by either walk: NaN there stays out, its keys get zero gradient', async () => {
    // No mask; key tile 2 (keys 16..23) is declared EMPTY for every query tile, and its K and V rows are NaN. The
    // gradients must equal those of attention over the other keys, and keys 16..23 get exactly zero dK and dV.
    const [lq, lk, kvHeads, headDim] = [20, 37, 1, 16];
    const k = randomFloats(lk * kvHeads * headDim, 7, 2);
    const v = randomFloats(lk * kvHeads * headDim, 8);
    k.fill(NaN, 16 * headDim, 24 * headDim);
    v.fill(NaN, 16 * headDim, 24 * headDim);
    const r = await runBackwardCase(gpu(), {
      batch: 1, lq, lk, heads: 2, kvHeads, headDim, k, v, tiles: SMALL_TILES,
      classes: (kernel) => {
        const [qTiles, kTiles] = [Math.ceil(lq / kernel.tileQ), Math.ceil(lk / kernel.tileK)];
        const classes = new Uint32Array(qTiles * kTiles).fill(TileClass.Full);
        for (let qt = 0; qt < qTiles; qt++) classes[qt * kTiles + 2] = TileClass.Empty;
        return classes;
      },
      oracleMask: (_b, _h, _q, key) => key < 16 || key >= 24,
    });
    for (const g of [r.gpu.dq, r.gpu.dk, r.gpu.dv]) expect(allFinite(g)).toBe(true);
    expect(Array.from(r.gpu.dk.subarray(16 * headDim, 24 * headDim)).every((x) => x === 0)).toBe(true);
    expect(Array.from(r.gpu.dv.subarray(16 * headDim, 24 * headDim)).every((x) => x === 0)).toBe(true);
    for (const [name, e] of Object.entries(r.errors)) if (e !== undefined) expect(e, name).toBeLessThanOrEqual(TOLERANCE);
  });

  it('a tile marked FULL skips the predicate in both walks', async () => {
    // Causal, but the diagonal tile of query tile 1 (queries 8..15, keys 8..15) is declared FULL: there queries also
    // see the keys after them, in the forward pass and in both backward kernels alike.
    const [lq, lk] = [24, 24];
    const causal = causalTopLeft.predicate({ dims: {}, data: {} });
    const fullTile = (q: number, k: number) => q >= 8 && q < 16 && k >= 8 && k < 16;
    const r = await runBackwardCase(gpu(), {
      batch: 1, lq, lk, heads: 2, kvHeads: 2, headDim: 16, mask: causalTopLeft.wgsl, tiles: SMALL_TILES,
      classes: (kernel) => {
        const classes = classifyTiles(kernel, 1, lq, lk, causal);
        const kTiles = Math.ceil(lk / kernel.tileK);
        expect(classes[1 * kTiles + 1]).toBe(TileClass.Partial);
        classes[1 * kTiles + 1] = TileClass.Full;
        return classes;
      },
      oracleMask: (_b, _h, q, k) => k <= q || fullTile(q, k),
    });
    for (const [name, e] of Object.entries(r.errors)) if (e !== undefined) expect(e, name).toBeLessThanOrEqual(TOLERANCE);
    // The true causal gradients differ clearly: a kernel that evaluated the predicate anyway would fail above.
    const { q, k, v, dOut } = r.data;
    const truth = attentionGradsReference({ batch: 1, lq, lk, heads: 2, kvHeads: 2, headDim: 16 }, q, k, v, dOut, { mask: causal });
    expect(normRelError(r.gpu.dq, truth.dq)).toBeGreaterThan(1e-2);
    expect(normRelError(r.gpu.dk, truth.dk)).toBeGreaterThan(1e-2);
    expect(normRelError(r.gpu.dv, truth.dv)).toBeGreaterThan(1e-2);
  });
});
