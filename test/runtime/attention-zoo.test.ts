// The fused attention kernel with every mask of the shipped mask zoo compiled by src/masks (not hand-written), at
// self- and cross-attention shapes, with real tile classes from the classifier: GPU vs the CPU oracle ≤ 1e-4, for the
// default kernel shape and the row-wise one.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { emitMaskWgsl } from '../../src/masks/emit-wgsl.ts';
import { maskFunction } from '../../src/masks/evaluate.ts';
import { dataReads, toPredicate } from '../../src/masks/policy.ts';
import { classifyTiles } from '../../src/masks/tiles.ts';
import { attentionCpu } from '../../src/runtime/attention-cpu.ts';
import { attentionKernelFor, runAttention } from '../../src/runtime/attention-run.ts';
import { useGpu } from './gpu-harness.ts';
import { maxAbsError, randomFloats, zooEnv } from './mask-fixtures.ts';

const zoo = checkSource(readFileSync(join(import.meta.dirname, '..', '..', 'specs', 'mask-zoo.mdl'), 'utf8'), 'mask-zoo.mdl').model!;

describe('attention with every zoo mask', () => {
  const gpu = useGpu();
  const shapes = [
    { name: 'self', lq: 37, lk: 37, heads: 4, kvHeads: 2, headDim: 32 },
    { name: 'cross', lq: 19, lk: 45, heads: 4, kvHeads: 1, headDim: 80 },
  ];
  // The default shape with its own tiles, and the row-wise shape with small tiles (every tile class occurs), staged
  // and with K/V shared through subgroups. The adapter here runs 4-lane subgroups; a workgroup of 18 rows leaves
  // the last subgroup half empty, and 8-key tiles take two chunks of 4.
  const kernels = [
    { name: 'default' },
    { name: 'row-wise', tiles: { q: 16, k: 8, lanes: 1, rowwise: true } },
    { name: 'row-wise subgroup', tiles: { q: 18, k: 8, lanes: 1, rowwise: true, subgroups: true } },
  ];
  for (const mask of zoo.masks.values()) {
    for (const shape of shapes) for (const shapeOfKernel of kernels) {
      // A cross site runs queries along T and keys along S; masks that read T data at keys would be rejected by the
      // checker's axis rule (E410) there, so they are exercised at the self shape only.
      const axes = { q: 'T', k: shape.name === 'cross' ? 'S' : 'T' };
      if (dataReads(mask.policy!).some((r) => zoo.inputs.get(r.input)?.axis !== axes[r.along])) continue;
      it(`${mask.name} (${shape.name}, Lq=${shape.lq} Lk=${shape.lk}, D=${shape.headDim}, ${shapeOfKernel.name} kernel)`, async () => {
        const batch = 2;
        // Cross shapes put queries along T and keys along S; self shapes use T for both (S = T).
        const env = zooEnv(batch, shape.lq, shape.lk);
        const pred = toPredicate(mask.policy!);
        const wgsl = emitMaskWgsl(pred);
        const kernel = attentionKernelFor(gpu(), { headDim: shape.headDim, heads: shape.heads, kvHeads: shape.kvHeads, mask: wgsl, tiles: shapeOfKernel.tiles });
        expect(!!kernel.rowwise).toBe(shapeOfKernel.name.startsWith('row-wise'));
        expect(!!kernel.subgroups).toBe(shapeOfKernel.name === 'row-wise subgroup');
        const siteEnv = { ...env, dims: { ...env.dims, Lq: shape.lq, Lk: shape.lk } };
        const classes = classifyTiles(pred, { batch, heads: kernel.tileHeads, lq: shape.lq, lk: shape.lk, tileQ: kernel.tileQ, tileK: kernel.tileK }, siteEnv);
        const q = randomFloats(batch * shape.lq * shape.heads * shape.headDim, 11);
        const k = randomFloats(batch * shape.lk * shape.kvHeads * shape.headDim, 12);
        const v = randomFloats(batch * shape.lk * shape.kvHeads * shape.headDim, 13);
        const out = await runAttention(gpu(), kernel, { batch, lq: shape.lq, lk: shape.lk, q, k, v, maskEnv: env, tileClasses: classes });
        const cpu = attentionCpu({ batch, ...shape }, q, k, v, { mask: maskFunction(pred, siteEnv) });
        expect(maxAbsError(out, cpu)).toBeLessThanOrEqual(1e-4);
      });
    }
  }
});
