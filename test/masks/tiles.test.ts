// Tile classification: exactness of the static analysis on the common policies, its measured tightness on the
// zoo, and agreement of the dispatch-time GPU classifier with the CPU one for data-dependent masks.

import { describe, expect, it } from 'vitest';
import { emitMaskWgsl } from '../../src/masks/emit-wgsl.ts';
import { policyOf } from '../../src/masks/golden-spec.ts';
import type { MaskEnv } from '../../src/masks/kernel-contract.ts';
import { toPredicate } from '../../src/masks/policy.ts';
import { classifyTiles, isIndexOnly, measureTightness } from '../../src/masks/tiles.ts';
import { classifyTilesOnGpu } from '../../src/runtime/mask-run.ts';
import { useGpu } from '../runtime/gpu-harness.ts';

const L = 100;
const grid = { batch: 2, heads: 1, lq: L, lk: L, tileQ: 16, tileK: 16 };
const docs = Array.from({ length: L }, (_, i) => Math.floor(i / 30));
const env: MaskEnv = {
  dims: { Lq: L, Lk: L, B: 2, S: L, T: L },
  data: { src_len: Int32Array.from([37, 100]), tgt_len: Int32Array.from([60, 5]), prefix_len: Int32Array.from([20, 3]), docs: Int32Array.from([...docs, ...docs]), tgt: Int32Array.from(Array.from({ length: 2 * L }, (_, i) => (i % L < 70 ? 5 : 0))) },
  strides: { docs: L, tgt: L },
};

describe('static tile classification', () => {
  it.each(['causal', 'causal(align = bottom_right)', 'window(40)', 'band(8, 3)', 'chunked(32)', 'steps(8)', 'prefix(20)', 'sink(4)', 'diagonal', 'monotonic(Lk / Lq, 4, 4)', 'monotonic(2, 1, 3)'])(
    '%s is classified exactly (no PARTIAL tile is really EMPTY or FULL)',
    (mask) => {
      const pred = toPredicate(policyOf(mask));
      expect(isIndexOnly(pred)).toBe(true);
      const t = measureTightness(pred, classifyTiles(pred, grid, env), grid, env);
      expect(t.loose).toBe(0);
    },
  );

  it('reports its tightness on compositions whose terms are correlated', () => {
    const rows: string[] = [];
    for (const mask of ['dilated(64, 2)', 'window(40) & (q - k) % 3 == 0', 'sink(4) | window(24)', 'causal & !diagonal', 'k <= (q + 1) * S / T']) {
      const pred = toPredicate(policyOf(mask));
      const t = measureTightness(pred, classifyTiles(pred, grid, env), grid, env);
      rows.push(`${mask}: ${t.partial}/${t.tiles} tiles PARTIAL, ${t.loose} of them could have been skipped`);
      expect(t.loose).toBeLessThanOrEqual(t.partial);
    }
    console.log(`tile tightness at L=${L}, 16×16 tiles:\n  ${rows.join('\n  ')}`);
  });
});

describe('dispatch-time classification on Dawn', () => {
  const gpu = useGpu();
  it.each(['key_padding(src_len)', 'document(docs) & causal', 'prefix(prefix_len)', 'query_padding(tgt_len) & causal', 'key_padding(tgt) & window(50)', 'random(0.5, 9) & causal'])(
    '%s: GPU classes equal the CPU classes',
    async (mask) => {
      const pred = toPredicate(policyOf(mask));
      const wgsl = emitMaskWgsl(pred);
      const heads = wgsl.perHead ? 2 : 1;
      const g = { ...grid, heads };
      const cpu = classifyTiles(pred, g, env);
      const fromGpu = await classifyTilesOnGpu(gpu(), wgsl, env, g);
      expect(Array.from(fromGpu)).toEqual(Array.from(cpu));
    },
  );
});
