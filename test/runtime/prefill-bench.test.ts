// The prefill and sliding-window benchmark sections, run small: what they measure is checked, never how fast. The
// prefill section tunes the translator as `mdl tune` does, compiles it twice, refuses to time programs whose logits
// disagree, and profiles every step; the window section compares each kernel shape's output with the default's and
// counts the tiles its bound comes from.

import { describe, expect, it } from 'vitest';
import { measurePrefill, PREFILL_CASES, renderPrefill } from '../../bench/prefill.ts';
import { measureWindowSkip, renderWindowSkip } from '../../bench/window-skip.ts';
import { useGpu } from './gpu-harness.ts';

describe('benchmark sections: prefill and window', () => {
  const gpu = useGpu();

  it('prefill: the tuned picks compile, old and tuned logits agree, every step is profiled', { timeout: 600_000 }, async () => {
    const translator = { ...PREFILL_CASES[0], length: 12, source: 10 };
    expect(translator.name).toBe('translator');
    const result = await measurePrefill(gpu(), 2, () => 0, () => {}, [translator]);
    const [row] = result.rows;
    expect(row.model).toBe('translator');
    // Two attention signatures (self-attention over the source, and over the target), and the matmul tiling.
    expect(row.picks.map((p) => p.site)).toEqual([expect.stringMatching(/mask src_keys/), expect.stringMatching(/mask look_back/)]);
    for (const p of row.picks) {
      expect(Object.keys(p.all)).toContain(p.tiles);
      expect(Object.keys(p.all)).toContain(p.defaultTiles);
      expect(Object.keys(p.all).some((label) => label.endsWith('row-wise'))).toBe(true);
    }
    expect(row.matmul!.problems).toMatch(/^12×192×64 \(×4\), /);
    expect(Object.keys(row.matmul!.all)).toContain(row.matmul!.tiling);
    // The norm form over the translator's layer norms (width 64 at 12 rows), and the tuned program runs the pick.
    expect(row.norm!.problems).toMatch(/^layer 12×64 \(×\d+\)$/);
    expect(Object.keys(row.norm!.all).sort()).toEqual(['rows', 'workgroup']);
    expect(row.tunedProfile.map((p) => p.kind)).toContain(row.norm!.form === 'rows' ? 'norm rows' : 'norm');
    expect(row.oldProfile.map((p) => p.kind)).toContain('norm');
    expect(row.relDiff).toBeLessThan(1e-3);
    expect(row.oldSamples.length).toBe(row.tunedSamples.length);
    expect(row.oldSamples.length).toBeGreaterThanOrEqual(2);
    for (const profile of [row.oldProfile, row.tunedProfile]) expect(profile.reduce((n, p) => n + p.steps, 0)).toBe(row.steps);
    // The tuned profile names the picked kernels: the matmul tiling, and each attention step's tiles.
    expect(row.tunedProfile.map((p) => p.kind)).toContain(`matmul ${row.matmul!.tiling}`);
    expect(row.oldProfile.map((p) => p.kind)).toContain('matmul wg32');
    const text = renderPrefill({ rows: result, date: 'now', loadBefore: [0], loadAfter: [0] }).join('\n');
    expect(text).toMatch(/^\| translator \| S=10, T=12 \| 50 \| [\d.]+ ms \| [\d.]+ ms \| \*\*[\d.]+×\*\* \| /m);
  });

  it('window: every shape computes the default shape’s output, and the bound is the share of tiles not EMPTY', { timeout: 600_000 }, async () => {
    const result = await measureWindowSkip(gpu(), 256, 1, () => 0);
    expect(result.rows.map((r) => r.shape)).toEqual(['32×16/4 (default)', '64×32/1 row-wise', '32×32/1 row-wise']);
    for (const r of result.rows) {
      expect(r.maxDiff).toBeLessThan(1e-4);
      expect(r.tiles.empty + r.tiles.partial + r.tiles.full).toBe(r.tiles.total);
      // 8 heads share one causal window's classes: (256 / q) × (256 / k) tiles, some of each kind.
      expect(r.tiles.empty).toBeGreaterThan(0);
      expect(r.tiles.full).toBeGreaterThan(0);
    }
    // The classes are shared by the heads: 4 query tiles × 8 key tiles of 64×32, 8 × 8 of 32×32.
    expect(result.rows[1].tiles.total).toBe(4 * 8);
    expect(result.rows[2].tiles.total).toBe(8 * 8);
    const text = renderWindowSkip(result).join('\n');
    expect(text).toMatch(/^\| 64×32\/1 row-wise \| \d+ ms \| \d+ ms \| \*\*[\d.]+\*\* \| [\d.]+ \(\d+ \/ \d+ \/ \d+\) \|/m);
  });
});
