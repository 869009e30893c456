// The norm tuner on Dawn: both forms of the inference norm kernel are checked against the host's f64 norm (on rows
// with a large offset) before their times count, a kernel that computes something else is turned away, and the
// problems are a program's own norm shapes.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { lower } from '../../src/lower/passes.ts';
import { normKernelOf, normProblemsOf, referenceNorm, tuneNorm } from '../../src/tune/norm-tuner.ts';
import { normRowsKernel } from '../../src/wgsl/norm-training.ts';
import { useGpu } from '../runtime/gpu-harness.ts';

const root = join(import.meta.dirname, '..', '..');

describe('the norm tuner', () => {
  const gpu = useGpu();

  it('holds the forms to a norm worked by hand', () => {
    // Row [1, 3]: mean 2, variance 1, so x̂ = [-1, 1]; γ = [2, 1], β = [0, 10]. RMS: 1 / sqrt((1 + 9) / 2).
    const x = Float32Array.of(1, 3);
    const gamma = Float32Array.of(2, 1);
    expect(Array.from(referenceNorm(x, gamma, Float32Array.of(0, 10), { rows: 1, D: 2, type: 'layer', bias: true, eps: 0 }))).toEqual([-2, 11]);
    const rms = referenceNorm(x, gamma, undefined, { rows: 1, D: 2, type: 'rms', bias: false, eps: 0 });
    expect(rms[0]).toBeCloseTo(2 / Math.sqrt(5), 6);
    expect(rms[1]).toBeCloseTo(3 / Math.sqrt(5), 6);
  });

  it('measures both forms on odd shapes, each within f32 rounding of the f64 norm, and picks one of them', async () => {
    const problems = [
      { rows: 70, D: 37, type: 'layer' as const, bias: true, eps: 1e-5, count: 3 },
      { rows: 70, D: 100, type: 'rms' as const, bias: false, eps: 1e-6 },
      { rows: 5, D: 200, type: 'layer' as const, bias: false, eps: 1e-5 },
    ];
    const outcome = await tuneNorm(gpu(), problems, { rounds: 2, budgetMs: 0 });
    expect(outcome.results.map((r) => r.form)).toEqual(['workgroup', 'rows']);
    for (const r of outcome.results) {
      expect(r.rejected, r.form).toBeUndefined();
      expect(r.maxErr!, r.form).toBeLessThan(2e-4);
      expect(r.ms, r.form).toHaveLength(3);
      expect(r.totalMs).toBeCloseTo(r.ms![0] * 3 + r.ms![1] + r.ms![2], 9);
    }
    expect(outcome.fallback.form).toBe('workgroup');
    expect(outcome.results).toContain(outcome.best);
  });

  it('turns away a form whose kernel computes something else', async () => {
    // An RMS norm in place of the layer norm: it runs, on the form's grid, and the f64 comparison refuses it.
    const outcome = await tuneNorm(gpu(), [{ rows: 9, D: 16, type: 'layer', bias: true, eps: 1e-5 }], {
      rounds: 1,
      budgetMs: 0,
      kernelOf: (form, p) => (form === 'rows' ? normRowsKernel('rms', false, false) : normKernelOf(form, p)),
    });
    expect(outcome.results[0].rejected).toBeUndefined();
    expect(outcome.results[1].rejected).toMatch(/differs from the f64 norm by/);
    expect(outcome.best.form).toBe('workgroup');
  });

  it("takes a program's norm shapes: the translator's layer norms, counted", () => {
    const model = checkSource(readFileSync(join(root, 'specs', 'translator.mdl'), 'utf8'), 'translator.mdl').model!;
    const program = lower(model).program;
    const problems = normProblemsOf(program, 64);
    const norms = program.steps.filter((s) => s.kind === 'norm');
    expect(problems.length).toBeGreaterThan(0);
    expect(problems.reduce((n, p) => n + (p.count ?? 1), 0)).toBe(norms.length);
    for (const p of problems) expect(p).toMatchObject({ rows: 64, type: 'layer', bias: true });
  });
});
