// The decode loop keeps its device objects: counted on a wrapped device, a decode step creates no buffer and no bind
// group unless a cache grew or the batch shrank since the last step (and then only the replaced caches' bind groups
// and what is sized by a cache), for one sequence and for rows at different positions decoding in one run per step.
// The logits stay those of the CPU reference, so reused buffers hold this step's values, not a stale step's.

import { afterEach, describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import type { CheckedModel } from '../../src/check/model.ts';
import { lower } from '../../src/lower/passes.ts';
import { CachedDecoder } from '../../src/runtime/cached-decoder.ts';
import { interpret } from '../../src/runtime/cpu-interpreter.ts';
import { stepInputs } from '../../src/runtime/generate.ts';
import { seededWeights } from '../../src/runtime/init-weights.ts';
import { useGpu } from './gpu-harness.ts';

function lm(mask: string, score?: string): CheckedModel {
  const r = checkSource(`model lm {
  dim vocab = 53, d_model = 32, heads = 4, d_ff = 48
  dim B, T <= 96
  input ids: tokens[B, T] pad 0
  ${score ? `score s = ${score}` : ''}
  mask m = ${mask}
  embed tokens: learned(vocab, d_model), positions: rotary
  stack decoder x 2 on ids (norm = pre rms) {
    attention self heads = heads kv_heads = 2 mask = m ${score ? 'score = s' : ''}
    ffn d_ff swiglu
  }
  output logits = project(decoder, vocab)
}`, 'lm.mdl');
  if (!r.model) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.model;
}

/** Counts createBuffer and createBindGroup calls on the device from now on. */
function countCreations(device: GPUDevice) {
  const counts = { buffers: 0, bindGroups: 0 };
  const createBuffer = device.createBuffer.bind(device);
  const createBindGroup = device.createBindGroup.bind(device);
  device.createBuffer = (d) => (counts.buffers++, createBuffer(d));
  device.createBindGroup = (d) => (counts.bindGroups++, createBindGroup(d));
  const restore = () => Object.assign(device, { createBuffer, createBindGroup });
  return { counts, restore, take: () => { const c = { ...counts }; counts.buffers = counts.bindGroups = 0; return c; } };
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) (m = Math.max(m, Math.abs(a[i] - b[i]))), (scale = Math.max(scale, Math.abs(b[i])));
  return m / scale;
}

describe('device objects across decode steps', () => {
  const gpu = useGpu();
  let restore: (() => void) | undefined;
  afterEach(() => restore?.());

  it('one sequence: none created per step, except when a cache grows', async () => {
    const m = lm('causal', 'alibi');
    const lowered = lower(m);
    const weights = seededWeights(lowered.ir, 5);
    const cache = new CachedDecoder(gpu(), lowered, m, weights);
    const counter = countCreations(gpu().device);
    restore = counter.restore;
    const tokens = [3, 4, 5, 6, 7];
    await cache.next(stepInputs(m, tokens, []).run); // prefill: its own program, freed after
    let grew = 0;
    let quiet = 0;
    for (let step = 0; step < 30; step++) {
      tokens.push(8 + ((step * 7) % 40));
      const before = cache.stats().map((s) => s.capacity);
      const run = stepInputs(m, tokens, []).run;
      counter.take();
      const logits = await cache.next(run);
      const made = counter.take();
      const after = cache.stats().map((s) => s.capacity);
      const cpu = interpret(lowered.ir, m, { ...run, weights }).get(lowered.ir.outputs[0])!;
      const width = logits.length;
      expect(maxRelDiff(logits, cpu.subarray(cpu.length - width)), `step ${step}`).toBeLessThan(1e-3);
      if (step === 0) continue; // the decode step's first call makes its objects
      if (before.join() === after.join()) {
        expect(made, `step ${step} (position ${tokens.length - 1}): no cache grew`).toEqual({ buffers: 0, bindGroups: 0 });
        quiet++;
      } else {
        // Each cache's new K and V, and the bind groups of the attention steps that read them.
        expect(made.buffers, `step ${step}`).toBeGreaterThanOrEqual(2 * after.length);
        expect(made.bindGroups, `step ${step}`).toBeGreaterThan(0);
        grew++;
      }
    }
    expect(grew).toBeGreaterThan(0);
    expect(quiet).toBeGreaterThan(20);
    cache.destroy();
  });

  it('rows at different positions, then a smaller batch: rebuilt once after each change, then none', async () => {
    const m = lm('causal(align = bottom_right)');
    const lowered = lower(m);
    const weights = seededWeights(lowered.ir, 6);
    const prompts = [[3, 4, 5], [6, 7, 8, 9, 10, 11], [12, 13]];
    const parts: CachedDecoder[] = [];
    for (const p of prompts) {
      const d = new CachedDecoder(gpu(), lowered, m, weights);
      await d.next(stepInputs(m, p, []).run);
      parts.push(d);
    }
    const cache = CachedDecoder.merge(parts);
    for (const d of parts) d.destroy();
    const counter = countCreations(gpu().device);
    restore = counter.restore;
    let rows = prompts.map((p) => [...p]);
    const perStep: { buffers: number; bindGroups: number; grew: boolean; shrank: boolean }[] = [];
    for (let step = 0; step < 8; step++) {
      let shrank = false;
      if (step === 4) {
        cache.select([2, 0]);
        rows = [rows[2], rows[0]];
        shrank = true;
      }
      rows.forEach((r, i) => r.push(20 + step + i));
      const before = cache.stats().map((s) => s.capacity).join();
      const runs = rows.map((r) => stepInputs(m, r, []).run);
      counter.take();
      const logits = await cache.nextEach(runs);
      const made = counter.take();
      perStep.push({ ...made, grew: before !== cache.stats().map((s) => s.capacity).join(), shrank });
      runs.forEach((run, i) => {
        const cpu = interpret(lowered.ir, m, { ...run, weights }).get(lowered.ir.outputs[0])!;
        expect(maxRelDiff(logits[i], cpu.subarray(cpu.length - logits[i].length)), `step ${step} row ${i}`).toBeLessThan(1e-3);
      });
    }
    // Step 0 makes the decode step's objects; step 4 follows the gather of the rows kept (new caches); no cache grew.
    expect(perStep.map((s) => s.grew)).toEqual(Array(8).fill(false));
    expect(perStep[0].bindGroups).toBeGreaterThan(0);
    expect(perStep[4].bindGroups).toBeGreaterThan(0);
    for (const i of [1, 2, 3, 5, 6, 7]) expect({ buffers: perStep[i].buffers, bindGroups: perStep[i].bindGroups }, `step ${i}`).toEqual({ buffers: 0, bindGroups: 0 });
    cache.destroy();
  });
});
