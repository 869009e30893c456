// The one-Chromium section's arithmetic on made-up samples: which mdl shape counts as the tuner's pick, the ratios
// the targets are judged on, and the round-by-round pairing, each worked out by hand below.

import { describe, expect, it } from 'vitest';
import { bestMdl, type ChromiumRow, type ChromiumSection } from '../../bench/chromium-attention.ts';
import { chromiumSpeedup, pairedOrtRatio, renderChromium } from '../../bench/chromium-report.ts';

function row(length: number, maskId: string, samples: Record<string, number[]>): ChromiumRow {
  return {
    length,
    maskId,
    mask: maskId,
    contenders: [
      { id: 'node a', runtime: 'node', kind: 'mdl', label: '32×16/4 (default)', isDefault: true },
      { id: 'chromium a', runtime: 'chromium', kind: 'mdl', label: '32×16/4 (default)', isDefault: true },
      { id: 'node b', runtime: 'node', kind: 'mdl', label: '64×32/1 row-wise' },
      { id: 'chromium b', runtime: 'chromium', kind: 'mdl', label: '64×32/1 row-wise' },
      { id: 'chromium ORT Web', runtime: 'chromium', kind: 'ort', label: 'ORT Web (WebGPU EP)' },
      { id: 'chromium unfused', runtime: 'chromium', kind: 'unfused', label: 'unfused (3 dispatches)' },
      { id: 'node unfused', runtime: 'node', kind: 'unfused', label: 'unfused (3 dispatches)' },
    ],
    samples,
    maxDiff: Object.fromEntries(Object.keys(samples).map((k) => [k, 1e-7])),
    skipped: {},
  };
}

const none = row(1024, 'none', {
  'node a': [60, 70, 80],
  'chromium a': [30, 40, 50],
  'node b': [50, 40, 90],
  'chromium b': [20, 25, 40],
  'chromium ORT Web': [40, 30, 100],
  'chromium unfused': [500, 600, 700],
  'node unfused': [100, 120, 140],
});

describe('the one-Chromium section', () => {
  it("takes the fastest median mdl shape of each runtime as the tuner's pick", () => {
    // Chromium medians: a 40, b 25. Node medians: a 70, b 50.
    expect(bestMdl(none, 'chromium')).toMatchObject({ ms: 25, contender: { id: 'chromium b' } });
    expect(bestMdl(none, 'node')).toMatchObject({ ms: 50, contender: { id: 'node b' } });
  });

  it('gives ORT and the unfused path over mdl within one runtime, by medians and round by round', () => {
    expect(chromiumSpeedup(none, 'ort')).toBeCloseTo(40 / 25, 12);
    expect(chromiumSpeedup(none, 'unfused')).toBeCloseTo(600 / 25, 12);
    expect(chromiumSpeedup(none, 'unfused', 'node')).toBeCloseTo(120 / 50, 12);
    // Rounds: 40/20 = 2, 30/25 = 1.2, 100/40 = 2.5 → median 2.
    expect(pairedOrtRatio(none)).toBeCloseTo(2, 12);
  });

  it('renders the row with both runtimes and drops a contender marked wrong', () => {
    const wrong = row(1024, 'causal', { 'chromium a': [10], 'chromium b': [5], 'node a': [20], 'node b': [30] });
    wrong.skipped['chromium ORT Web'] = 'wrong result: max |diff| = 0.5';
    wrong.skipped['chromium unfused'] = 'same dense work as without a mask (not re-measured)';
    wrong.skipped['node unfused'] = wrong.skipped['chromium unfused'];
    const section: ChromiumSection = {
      rows: [none, wrong], rounds: 3, warmup: 1, date: 'D', command: 'C', adapter: 'A', nodeAdapter: 'N', browserAdapter: 'B', ortWorkaround: '', ortVersion: '1',
      loadBefore: [1, 1, 1], loadAfter: [1, 1, 1], seconds: 60,
    };
    const text = renderChromium(section).join('\n');
    expect(text).toContain('| 1024 | none | 25.0 ms (64×32/1 row-wise) | 40.0 ms | 1.60× | 2.00× | 600 ms | 24.00× | 40.0 ms | 50.0 ms (64×32/1 row-wise) | 70.0 ms | 120 ms | 2.40× |');
    expect(text).toContain('| 1024 | causal | 5.00 ms (64×32/1 row-wise) | n/a (wrong result) | — | — | (as none) |');
    expect(text).toContain('Dropped as wrong: chromium ORT Web at L=1024 causal');
  });
});
