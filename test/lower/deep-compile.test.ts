// Lowering grows linearly with the number of layers: a deep stack compiles, its program grows by the same steps per
// layer, its memory plan does not grow at all, and four times the layers cost about four times the work (a
// quadratic pass would cost sixteen). The timings themselves are in the benchmark (bench/compile-time.ts).

import { describe, expect, it } from 'vitest';
import { specWithLayers } from '../../bench/compile-time.ts';
import { checkSource } from '../../src/check/check.ts';
import { lower } from '../../src/lower/passes.ts';

function compile(layers: number) {
  const checked = checkSource(specWithLayers(layers), `deep${layers}.mdl`);
  expect(checked.diagnostics).toEqual([]);
  const start = process.cpuUsage();
  const out = lower(checked.model!);
  const used = process.cpuUsage(start);
  return { out, cpuMs: (used.user + used.system) / 1000 };
}

describe('deep stacks', () => {
  it('compile 1000 layers into a program that grows by the same steps per layer', () => {
    const small = compile(10).out;
    const deep = compile(1000).out;
    const perLayer = (deep.program.steps.length - small.program.steps.length) / 990;
    expect(perLayer).toBe(7);
    // Activations of every layer share the same few device buffers.
    expect(deep.program.slots.length).toBe(small.program.slots.length);
    expect(deep.rendered.kernels.map((k) => k.wgsl)).toEqual(small.rendered.kernels.map((k) => k.wgsl));
  });

  it('cost about four times the work for four times the layers', () => {
    compile(50); // warm-up: module loading and JIT are not part of the comparison
    const ratios: number[] = [];
    for (let i = 0; i < 2; i++) ratios.push(compile(1200).cpuMs / compile(300).cpuMs);
    // Linear is about 4; a pass quadratic in layers would make it about 16.
    expect(Math.min(...ratios)).toBeLessThan(8);
  });
});
