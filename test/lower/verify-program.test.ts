// The program verifier: every shipped spec's program passes, and each kind of broken step is reported with the step,
// the role or field and what is wrong — a missing binding, a wrong access or element type, a missing or mistyped
// uniform, an undersized buffer, a dispatch above the limits. Lowering runs it, so a broken program never renders.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { formula } from '../../src/lower/formula.ts';
import { lower, PASSES, type Lowered } from '../../src/lower/passes.ts';
import type { Program, Step } from '../../src/lower/program.ts';
import { kernelOfStep } from '../../src/lower/step-kernels.ts';
import { ProgramVerifyError, verifyProgram } from '../../src/lower/verify-program.ts';

const root = join(import.meta.dirname, '..', '..');
const specs = readdirSync(join(root, 'specs')).filter((f) => f.endsWith('.mdl')).sort();
const modelOf = (f: string) => checkSource(readFileSync(join(root, 'specs', f), 'utf8'), `specs/${f}`).model!;
const translator = lower(modelOf('translator.mdl')).program;

/** A copy of the translator's program with one step changed; the verifier's report on it. */
function broken(change: (p: Program) => void): string[] {
  const p = structuredClone(translator);
  change(p);
  return verifyProgram(p, (i) => kernelOfStep(p.steps[i]));
}
const firstOf = (p: Program, pick: (s: Step) => boolean) => p.steps.findIndex(pick);
const plainMatmul = (s: Step) => s.kernel.kind === 'matmul' && !s.kernel.options.parts;

describe('verifyProgram', () => {
  for (const f of specs) {
    it(`${f}: the compiled program is valid`, () => {
      const { program, rendered } = lower(modelOf(f));
      const byFile = new Map(rendered.kernels.map((k) => [k.file, k]));
      expect(verifyProgram(program, (i) => byFile.get(rendered.stepKernels[i])!)).toEqual([]);
    });
  }

  it('reports a binding the step leaves out, and a role the kernel does not have', () => {
    expect(broken((p) => delete p.steps[firstOf(p, plainMatmul)].bind.w)).toEqual([expect.stringMatching(/^step \d+ \(matmul %\S+\): binds no buffer for 'w' of the matmul_\w+ kernel$/)]);
    const extra = broken((p) => (p.steps[firstOf(p, plainMatmul)].bind.gate = '%src'));
    expect(extra).toEqual([expect.stringMatching(/binds %src as 'gate', which the matmul_\w+ kernel does not declare/)]);
  });

  it('reports a kernel writing what the host fills, and a buffer of the wrong element type', () => {
    const writesWeight = broken((p) => {
      const s = p.steps[firstOf(p, plainMatmul)];
      s.bind.out = s.bind.w;
    });
    expect(writesWeight.join('\n')).toMatch(/writes %\S+\.weight \('out'\), which the host fills \(param\)/);
    const ids = broken((p) => (p.steps[firstOf(p, plainMatmul)].bind.a = '%src'));
    expect(ids.join('\n')).toMatch(/binds i32 buffer %src as 'a', which holds f32/);
  });

  it('reports a value read before any step writes it', () => {
    const out = broken((p) => {
      const i = firstOf(p, plainMatmul);
      p.steps[i].bind.a = p.steps[p.steps.length - 1].bind.out;
    });
    expect(out.join('\n')).toMatch(/reads %logits \('a'\) before any step writes it/);
  });

  it('reports a missing uniform field, an unknown one, and a value of the wrong type', () => {
    expect(broken((p) => delete p.steps[firstOf(p, plainMatmul)].uniforms.K)).toEqual([expect.stringMatching(/gives no value for uniform 'K' of the matmul_\w+ kernel$/)]);
    expect(broken((p) => (p.steps[firstOf(p, plainMatmul)].uniforms.L = formula.constant(1))).join('\n')).toMatch(/gives uniform 'L', which the matmul_\w+ kernel does not declare/);
    const eps = broken((p) => (p.steps[firstOf(p, (s) => s.kind === 'norm')].uniforms.eps = formula.constant(0)));
    expect(eps.join('\n')).toMatch(/gives uniform 'eps' a formula, but the field is f32/);
  });

  it('reports a buffer smaller than what its kernel reads or writes', () => {
    const small = broken((p) => {
      const s = p.steps[firstOf(p, plainMatmul)];
      p.buffers.find((b) => b.id === s.bind.w)!.elements = formula.constant(100);
    });
    expect(small).toEqual([expect.stringMatching(/: %\S+\.weight \('w'\) holds 100 values at B=1, S=1, T=1; the matmul_\w+ kernel reaches \d+$/)]);
    const tiles = broken((p) => {
      const s = p.steps[firstOf(p, (x) => x.kind === 'attention')];
      p.buffers.find((b) => b.id === s.bind.tileClass)!.elements = formula.constant(1);
    });
    expect(tiles.join('\n')).toMatch(/#tiles \('tileClass'\) holds 1 values at B=13, S=13, T=13; the attention kernel reaches \d+/);
  });

  it('reports a dispatch above the default limits', () => {
    const wide = broken((p) => (p.steps[firstOf(p, plainMatmul)].grid[1] = formula.constant(70000)));
    expect(wide.join('\n')).toMatch(/dispatches \d+ × 70000 × 1 workgroups at B=1, S=1, T=1, above 65535 per dimension/);
  });

  it('checks the decode step too: a cache smaller than its keys, a kept value written again', () => {
    const step = lower(modelOf('translator.mdl')).decode!.step.program;
    const verify = (p: Program) => verifyProgram(p, (i) => kernelOfStep(p.steps[i]));
    expect(verify(step)).toEqual([]);
    const small = structuredClone(step);
    const cache = small.buffers.find((b) => b.role === 'kv_cache')!;
    cache.elements = formula.constant(128);
    // Checked at B = S = 13 and the new rows at their bound of 8, the cache holding just them.
    const message = `${cache.id} ('k') holds 128 values at B=13, S=13, T=8, cache.start=0, cache.0.rows=8, cache.0.keys=8, cache.0.dropped=0`;
    expect(verify(small).join('\n')).toContain(`${message}, cache.1.rows=8, cache.1.keys=8, cache.1.dropped=0; the attention kernel reaches 6656`); // B · heads · T · d_head = 13 · 4 · 8 · 16
    const rewrites = structuredClone(step);
    const kept = rewrites.buffers.find((b) => b.role === 'kept')!;
    rewrites.steps.find((s) => s.kind === 'attention' && s.node.includes('cross_attn'))!.bind.out = kept.id;
    expect(verify(rewrites).join('\n')).toContain(`writes ${kept.id} ('out'), which the host fills (kept)`);
  });

  it('runs in lowering: a program broken after scheduling never renders', () => {
    const state: Partial<Lowered> = {};
    const m = modelOf('packed.mdl');
    for (const pass of PASSES) {
      if (pass.name === 'render') {
        const s = state.program!.steps.find((x) => x.kind === 'rope')!;
        delete s.uniforms.start;
        expect(() => pass.run(state, m, {})).toThrow(ProgramVerifyError);
        expect(() => pass.run(state, m, {})).toThrow(/invalid program after render:\n {2}step \d+ \(rope %\S+\): gives no value for uniform 'start' of the rope kernel/);
        return;
      }
      pass.run(state, m, {});
    }
    throw new Error('no render pass');
  });
});
