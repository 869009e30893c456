// The optimizer programs as lowering builds them: one accumulation, one share of the norm and one AdamW launch per
// trained parameter and none for a frozen one; the norm's partials laid out back to back with no gap or overlap;
// weight decay only where the CPU reference applies it; every run-time scalar declared; and the verifier catching
// a scalar the program does not declare.

import { describe, expect, it } from 'vitest';
import { buildTrainingIr } from '../../src/ir/training.ts';
import { formula } from '../../src/lower/formula.ts';
import { buildGradGraph } from '../../src/lower/grad.ts';
import { isDecayed, lowerOptimizer, scheduleOptimizerStep, stateIds, trainedParams } from '../../src/lower/optimizer-program.ts';
import { kernelOfStep } from '../../src/lower/step-kernels.ts';
import { verifyProgram } from '../../src/lower/verify-program.ts';
import { GRAD_NORM_CHUNK } from '../../src/wgsl/optimizer-kernels.ts';
import { checkedModel } from '../support/gpu-gradients.ts';
import { copySpec } from '../cli/train-support.ts';

const graph = () => buildGradGraph(buildTrainingIr(checkedModel(copySpec(32, 4))));
const constant = (w: unknown) => formula.evaluate(w as never, {});

describe('the optimizer programs', () => {
  it('have one launch of each kind per trained parameter, none for a frozen one', () => {
    const g = graph();
    const frozen = 'decoder.layers.0.ffn.up_proj.weight';
    const all = lowerOptimizer(g);
    const some = lowerOptimizer(g, new Set([frozen]));
    expect(all.params.map((p) => p.name)).toEqual([...g.grads.keys()]);
    expect(some.params.map((p) => p.name)).toEqual([...g.grads.keys()].filter((n) => n !== frozen));
    const kinds = (p: typeof all.step.program) => p.steps.map((s) => (s.kernel.kind === 'optimizer' ? s.kernel.op.name : s.kind));
    const n = some.params.length;
    expect(kinds(some.accumulate.program)).toEqual(Array(n).fill('grad_accumulate'));
    expect(kinds(some.step.program)).toEqual([...Array(n).fill('grad_sq_partials'), 'clip_factor', ...Array(n).fill('adamw')]);
    const touched = new Set([...some.accumulate.program.steps, ...some.step.program.steps].flatMap((s) => Object.values(s.bind)));
    for (const id of Object.values(stateIds(frozen))) expect(touched.has(id), id).toBe(false);
    // Each AdamW launch updates its parameter's own weight and moments from its own gradient sum.
    for (const s of some.step.program.steps.filter((x) => x.kernel.kind === 'optimizer' && x.kernel.op.name === 'adamw')) {
      const name = s.bind.param.slice(1);
      expect(s.bind).toEqual({ grad: stateIds(name).sum, clip: '#clip', param: stateIds(name).weight, m: stateIds(name).m, v: stateIds(name).v });
      expect(constant(s.uniforms.decayed)).toBe(isDecayed(name) ? 1 : 0);
    }
  });

  it('lay the norm partials back to back: each parameter its ceil(n / chunk) slots, all summed by the clip step', () => {
    const g = graph();
    const params = trainedParams(g);
    const p = scheduleOptimizerStep(g.model, params);
    let next = 0;
    const shares = p.steps.filter((s) => s.kernel.kind === 'optimizer' && s.kernel.op.name === 'grad_sq_partials');
    shares.forEach((s, i) => {
      expect(constant(s.uniforms.offset)).toBe(next);
      expect(constant(s.uniforms.count)).toBe(params[i].elements);
      next += Math.ceil(params[i].elements / GRAD_NORM_CHUNK);
    });
    const clip = p.steps.find((s) => s.kernel.kind === 'optimizer' && s.kernel.op.name === 'clip_factor')!;
    expect(constant(clip.uniforms.n)).toBe(next);
    expect(constant(p.buffers.find((b) => b.id === '#grad_norm_partials')!.elements)).toBe(next);
    expect(verifyProgram(p, (i) => kernelOfStep(p.steps[i]))).toEqual([]);
  });

  it('decay weights but not norm scales or biases (the CPU reference rule)', () => {
    expect(isDecayed('decoder.layers.0.ffn.up_proj.weight')).toBe(true);
    expect(isDecayed('embed.tokens.weight')).toBe(true);
    expect(isDecayed('decoder.layers.0.ffn.up_proj.bias')).toBe(false);
    expect(isDecayed('decoder.layers.0.ffn_norm.weight')).toBe(false);
    expect(isDecayed('decoder.norm.weight')).toBe(false);
  });

  it('name only declared scalars; the verifier reports one that is not', () => {
    const g = graph();
    const p = scheduleOptimizerStep(g.model, trainedParams(g));
    const named = new Set(p.steps.flatMap((s) => Object.values(s.uniforms).flatMap((w) => ('scalar' in w ? [w.scalar] : []))));
    expect([...named].sort()).toEqual(Object.keys(p.scalars!).sort());
    const broken = { ...p, scalars: Object.fromEntries(Object.entries(p.scalars!).filter(([k]) => k !== 'lr')) };
    const problems = verifyProgram(broken, (i) => kernelOfStep(p.steps[i]));
    expect(problems.length).toBe(trainedParams(g).length);
    expect(problems[0]).toMatch(/gives uniform 'lr' the scalar 'lr', which the program does not declare/);
  });
});
