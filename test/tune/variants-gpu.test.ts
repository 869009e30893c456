// Every kernel variant the tuner may choose computes the same attention as the CPU oracle, on Dawn: tile shapes and
// lanes change only the schedule, never the result. Also: a small tuning run end to end.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { lower } from '../../src/lower/passes.ts';
import { attentionSignature } from '../../src/tune/signature.ts';
import { tuneSitesOf } from '../../src/tune/sites.ts';
import { isDefaultChoice, neutralMaskEnv, tuneSite } from '../../src/tune/tuner.ts';
import { attentionVariants, compileLimits, tileLabel } from '../../src/tune/variants.ts';
import { runCase, useGpu } from '../runtime/gpu-harness.ts';
import { causalTopLeft, classifyTiles, packedDocuments, envFor } from '../runtime/mask-fixtures.ts';

const gpu = useGpu();

describe('tuner variants', () => {
  it('every head-dim-64 variant matches the oracle (causal, classified tiles, GQA, ragged lengths)', async () => {
    const variants = attentionVariants(64, gpu().limits, Infinity);
    expect(variants.length).toBeGreaterThan(10);
    const failures: string[] = [];
    for (const tiles of variants) {
      const r = await runCase(gpu(), {
        batch: 2, lq: 37, lk: 45, heads: 4, kvHeads: 2, headDim: 64,
        fixture: causalTopLeft,
        kernel: { tiles },
        classes: (kernel, mask) => classifyTiles(kernel, 2, 37, 45, mask!),
      });
      if (!(r.error < 1e-4)) failures.push(`${tileLabel(tiles)}: max error ${r.error}`);
    }
    expect(failures).toEqual([]);
  });

  it('every head-dim-16 variant matches the oracle (packed documents, data-dependent mask)', async () => {
    const failures: string[] = [];
    for (const tiles of attentionVariants(16, gpu().limits, Infinity)) {
      const r = await runCase(gpu(), {
        batch: 2, lq: 29, lk: 29, heads: 2, kvHeads: 2, headDim: 16,
        fixture: packedDocuments,
        env: envFor(packedDocuments, 2, 29, 29),
        kernel: { tiles },
      });
      if (!(r.error < 1e-4)) failures.push(`${tileLabel(tiles)}: max error ${r.error}`);
    }
    expect(failures).toEqual([]);
  });

  it('tunes a spec site: one signature for a stack, a measured choice among agreeing variants', async () => {
    const text = readFileSync(join(import.meta.dirname, '..', '..', 'specs', 'packed.mdl'), 'utf8');
    const model = checkSource(text, 'packed.mdl').model!;
    const groups = tuneSitesOf(lower(model).program);
    expect(groups).toHaveLength(1);
    expect(groups[0].nodes).toHaveLength(2);
    const { site } = groups[0];
    expect(site.signature).toEqual(attentionSignature({ headDim: 16, heads: 8, kvHeads: 2, mask: site.mask, modifiers: site.modifiers }));
    const variants = attentionVariants(16, gpu().limits, 3);
    const outcome = await tuneSite(gpu(), site, { batch: 1, lq: 40, lk: 40 }, { variants, repeats: 1 });
    expect(outcome.results.map((r) => r.rejected)).toEqual([undefined, undefined, undefined]);
    expect(outcome.results.every((r) => r.maxDiff! <= 1e-4)).toBe(true);
    expect(variants).toContainEqual(outcome.best.tiles);
    expect(outcome.fallback.tiles).toEqual(variants[0]);
  });

  it('times the variants round by round and picks the fastest, given the measurements', async () => {
    const text = readFileSync(join(import.meta.dirname, '..', '..', 'specs', 'translator.mdl'), 'utf8');
    const { site } = tuneSitesOf(lower(checkSource(text, 'translator.mdl').model!).program)[1];
    const variants = attentionVariants(16, compileLimits(gpu().limits), 4);
    const labels = variants.map(tileLabel);
    expect(labels.slice(1, 3)).toEqual(['64×32/1 row-wise', '32×32/1 row-wise']);
    const tune = async (times: number[], budgetMs = 0) => {
      const calls: string[] = [];
      const outcome = await tuneSite(gpu(), site, { batch: 1, lq: 20, lk: 20 }, {
        variants,
        repeats: 3,
        budgetMs,
        timer: async (tiles, run) => {
          await run();
          calls.push(tileLabel(tiles));
          return times[labels.indexOf(tileLabel(tiles))] + calls.length * 1e-3;
        },
      });
      return { outcome, calls };
    };
    const first = await tune([10, 6, 5, 20]);
    expect(tileLabel(first.outcome.best.tiles)).toBe('32×32/1 row-wise');
    expect(first.calls).toEqual([...labels, ...labels, ...labels]);
    expect(first.outcome.results.map((r) => r.timing!.samples.length)).toEqual([3, 3, 3, 3]);
    // Within the 5% margin of the default: the default stays.
    expect(isDefaultChoice((await tune([10, 9.7, 9.8, 20])).outcome)).toBe(true);
    expect(tileLabel((await tune([10, 20, 20, 4])).outcome.best.tiles)).toBe(labels[3]);
    // Kernels this fast get more rounds, up to 5× the rounds asked for, until each variant's samples sum to the
    // budget: here 15 rounds (the 5 ms variant reaches 50 ms at most), and 3 when every variant takes 20 ms or more.
    const fast = await tune([10, 6, 5, 20], 60);
    expect(fast.calls).toHaveLength(4 * 12);
    expect(fast.outcome.results.map((r) => r.timing!.samples.length)).toEqual([12, 12, 12, 12]);
    expect((await tune([20, 30, 40, 50], 60)).calls).toHaveLength(4 * 3);
    expect((await tune([1, 1, 1, 1], 60)).calls).toHaveLength(4 * 15);
  });

  it('gives data-reading masks neutral inputs of the right sizes', () => {
    const env = neutralMaskEnv(packedDocuments.wgsl, { batch: 2, lq: 7, lk: 9 });
    expect(env.data.segments).toHaveLength(18);
    expect(env.strides).toEqual({ segments: 9 });
    expect(env.dims).toEqual({ Lq: 7, Lk: 9 });
  });
});
