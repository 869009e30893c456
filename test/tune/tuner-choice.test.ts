// What the tuner offers and how it chooses, without timing anything: every attention site of every shipped spec is
// offered the row-wise shape among the shapes compiled kernels can use, every tiled matmul of every shipped program
// takes a tuned register tiling, and the choice among given measurements is the fastest one that beats the default
// by the margin (or the default).

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { formula } from '../../src/lower/formula.ts';
import { lower } from '../../src/lower/passes.ts';
import type { Step } from '../../src/lower/program.ts';
import { pickFastest } from '../../src/tune/measure.ts';
import { tuneSitesOf } from '../../src/tune/sites.ts';
import { matmulProblemsOf } from '../../src/tune/tune-model.ts';
import { attentionVariants, compileLimits, defaultTiles, fitsLimits, tileLabel } from '../../src/tune/variants.ts';
import { DEFAULT_KERNEL_LIMITS } from '../../src/wgsl/attention.ts';
import { MATMUL_TILINGS, tilingFor } from '../../src/wgsl/matmul-tilings.ts';

const specsDir = join(import.meta.dirname, '..', '..', 'specs');
const shipped = readdirSync(specsDir)
  .filter((f) => f.endsWith('.mdl'))
  .map((f) => ({ file: f, model: checkSource(readFileSync(join(specsDir, f), 'utf8'), f).model! }));

/** A software adapter's limits, larger than the WebGPU defaults the compiled kernels are generated for. */
const LARGE_ADAPTER = { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 1024, maxComputeWorkgroupSizeX: 1024 };

describe('what the tuner offers', () => {
  it('finds the five shipped specs, each with attention sites', () => {
    expect(shipped.map((s) => s.file).sort()).toEqual(['gpt2-small.mdl', 'mask-zoo.mdl', 'packed.mdl', 'streaming.mdl', 'translator.mdl']);
    for (const { file, model } of shipped) expect(tuneSitesOf(lower(model).program).length, file).toBeGreaterThan(0);
  });

  it('offers every attention site the row-wise shapes within the default number of variants, all usable by compile', () => {
    for (const { file, model } of shipped) {
      for (const { site } of tuneSitesOf(lower(model).program)) {
        // 8: `mdl tune`'s default --variants.
        const offered = attentionVariants(site.headDim, compileLimits(LARGE_ADAPTER), 8);
        const where = `${file} ${site.label} d${site.headDim}`;
        expect(offered[0], where).toEqual(defaultTiles(site.headDim, DEFAULT_KERNEL_LIMITS));
        expect(offered.filter((t) => t.rowwise).map(tileLabel), where).toEqual(expect.arrayContaining([expect.stringMatching(/^64×(32|16|8)\/1 row-wise$/), expect.stringMatching(/^32×(32|16|8)\/1 row-wise$/)]));
        // A shape the adapter allows but the compiled kernels' limits do not would be measured, cached, and then
        // silently replaced by the default: none is offered.
        for (const t of offered) expect(fitsLimits(site.headDim, t, DEFAULT_KERNEL_LIMITS), `${where} ${tileLabel(t)}`).toBe(true);
      }
    }
  });

  it('offers the 32-key row-wise tile at head dim 64 and 16, and 16 keys only where 32 does not fit', () => {
    const rowwise = (d: number) => attentionVariants(d, compileLimits(LARGE_ADAPTER), 8).filter((t) => t.rowwise).map(tileLabel);
    expect(rowwise(64)).toEqual(['64×32/1 row-wise', '32×32/1 row-wise']);
    expect(rowwise(16)).toEqual(['64×32/1 row-wise', '32×32/1 row-wise']);
    expect(rowwise(128)).toEqual(['64×16/1 row-wise', '32×16/1 row-wise']);
  });

  it('clamps an adapter to the WebGPU defaults, and a smaller adapter to its own limits', () => {
    expect(compileLimits(LARGE_ADAPTER)).toEqual(DEFAULT_KERNEL_LIMITS);
    const small = { maxComputeWorkgroupStorageSize: 8192, maxComputeInvocationsPerWorkgroup: 128, maxComputeWorkgroupSizeX: 128 };
    expect(compileLimits(small)).toEqual(small);
    // The staged 32×32, 4-lane shape needs 20 KiB at head dim 64: the adapter above allows it, compile does not.
    expect(attentionVariants(64, LARGE_ADAPTER, Infinity).map(tileLabel)).toContain('32×32/4');
    expect(attentionVariants(64, compileLimits(LARGE_ADAPTER), Infinity).map(tileLabel)).not.toContain('32×32/4');
  });

  it('gives every tiled matmul of every shipped program the tuned tiling (its scalar form where K is not a multiple of 4)', () => {
    for (const { file, model } of shipped) {
      for (const tiling of MATMUL_TILINGS) {
        const lowered = lower(model, { matmulTiling: tiling });
        const programs = [lowered.program, lowered.decode?.prefill.program].filter((p) => p !== undefined);
        for (const program of programs) {
          const tiled = program.steps.filter((s) => s.kernel.kind === 'matmul' && s.kernel.shape === 'tiled');
          expect(tiled.length, file).toBeGreaterThan(0);
          for (const s of tiled) {
            const kernel = s.kernel as { tiling?: string };
            const want = tilingFor(tiling, constantK(s.uniforms.K));
            expect(kernel.tiling ?? 'wg32', `${file} ${s.node}`).toBe(want);
            // Every shipped matmul has K a multiple of 4: the tuned tiling itself runs everywhere.
            expect(want, `${file} ${s.node}`).toBe(tiling);
          }
        }
      }
    }
  });

  it("measures the program's matmul shapes weighted by how often each occurs", () => {
    const gpt2 = shipped.find((s) => s.file === 'gpt2-small.mdl')!.model;
    const problems = matmulProblemsOf(lower(gpt2).program, 256);
    // Per layer: packed q/k/v, the output projection, the FFN's two; 12 layers of each.
    expect(problems).toEqual([
      { M: 256, N: 2304, K: 768, count: 12 },
      { M: 256, N: 768, K: 768, count: 12 },
      { M: 256, N: 3072, K: 768, count: 12 },
      { M: 256, N: 768, K: 3072, count: 12 },
    ]);
  });
});

describe('how the tuner chooses', () => {
  const ms = (x: { ms?: number }) => x.ms;
  const fallback = { name: 'default', ms: 100 };

  it('takes the fastest candidate that beats the default by the margin', () => {
    const a = { name: 'a', ms: 80 };
    const b = { name: 'b', ms: 60 };
    expect(pickFastest(fallback, [fallback, a, b], ms).name).toBe('b');
    expect(pickFastest(fallback, [b, a, fallback], ms).name).toBe('b');
  });

  it('keeps the default when the fastest gains less than the margin', () => {
    expect(pickFastest(fallback, [fallback, { name: 'a', ms: 96 }], ms).name).toBe('default');
    expect(pickFastest(fallback, [fallback, { name: 'a', ms: 96 }], ms, 1.02).name).toBe('a');
    expect(pickFastest(fallback, [fallback, { name: 'a', ms: 100 / 1.05 }], ms).name).toBe('a');
  });

  it('never picks a candidate without a finite measurement', () => {
    const picked = pickFastest(fallback, [{ name: 'unmeasured' }, { name: 'nan', ms: NaN }, { name: 'inf', ms: -Infinity }, { name: 'a', ms: 90 }], ms);
    expect(picked.name).toBe('a');
  });

  it('refuses to choose without a measured default', () => {
    expect(() => pickFastest({ name: 'default' }, [{ name: 'a', ms: 1 }], ms)).toThrow(/fallback/);
  });
});

/** K of a matmul step when it is a constant (the vec4 tilings need it a multiple of 4). */
function constantK(k: Step['uniforms'][string]): number | undefined {
  return 'f32' in k || 'scalar' in k ? undefined : formula.asConstant(k);
}
