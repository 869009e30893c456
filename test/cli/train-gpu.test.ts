// `mdl train` and `mdl eval` on their default backend, WebGPU, as a user runs them: the loss falls, the device
// memory is reported, two runs with one seed write the same bytes, a run resumed (after it ended, or after Ctrl-C)
// ends at the bytes of an uninterrupted one, --init with --freeze keeps the frozen weights bit for bit, and
// `mdl eval` on the device agrees with the CPU reference on the same weights.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/runtime/safetensors.ts';
import { copyLines, copySpec, mdl, mdlInterrupted, tempDir, writeIn } from './train-support.ts';

const dir = tempDir();
const spec = writeIn(dir, 'copy.mdl', copySpec());
const data = writeIn(dir, 'train.txt', copyLines(24, 3).join('\n') + '\n');
const evalFile = writeIn(dir, 'eval.txt', copyLines(12, 41).join('\n') + '\n');
const common = ['--data', data, '--batch-tokens', '64', '--lr', '1e-2', '--warmup', '2', '--log-every', '1', '--seed', '5'];
const same = (a: string, b: string) => readFileSync(a).equals(readFileSync(b));

describe('mdl train on WebGPU (the default backend)', () => {
  it('the loss falls; --json reports the backend and the device memory; two runs write the same bytes', async () => {
    const out = join(dir, 'a.safetensors');
    const r = await mdl('train', spec, ...common, '--steps', '12', '--eval', evalFile, '-o', out, '--json');
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    expect(result.backend).toBe('gpu');
    const losses = result.history.train.map((e: number[]) => e[1]);
    expect(losses[0]).toBeGreaterThan(Math.log(259) - 0.5);
    // Twelve steps at 1e-2 take the loss well below where random weights start.
    expect(Math.min(...losses.slice(-3))).toBeLessThan(losses[0] - 1.5);
    expect(result.eval_loss).toBeLessThan(losses[0] - 1.5);
    // The memory report: every part counted, the peak at least the weights and moments that never leave.
    const m = result.memory;
    for (const k of ['peak_bytes', 'params_bytes', 'gradients_bytes', 'optimizer_bytes', 'activations_bytes']) expect(m[k], k).toBeGreaterThan(0);
    expect(m.optimizer_bytes).toBe(2 * m.params_bytes);
    expect(m.peak_bytes).toBeGreaterThan(m.params_bytes + m.optimizer_bytes);
    expect(r.stderr).toMatch(/^device memory: peak \d+\.\d\d MiB in a step; parameters .* = \d+\.\d\d MiB \(peak \d+\.\d\d× that\)$/m);
    expect(existsSync(join(dir, 'a.loss.svg'))).toBe(true);
    const again = join(dir, 'b.safetensors');
    expect((await mdl('train', spec, ...common, '--steps', '12', '--eval', evalFile, '-o', again)).status).toBe(0);
    expect(same(out, again)).toBe(true);
    expect(same(join(dir, 'a.optim.safetensors'), join(dir, 'b.optim.safetensors'))).toBe(true);
  }, 180_000);

  it('a run of 3 steps resumed to 7 ends at the bytes of 7 steps straight, also after Ctrl-C', async () => {
    // A constant rate: a run of 3 steps decays over 3 steps, so only then are its steps those of a run of 7.
    const constant = join(dir, 'constant.safetensors');
    const part = join(dir, 'part.safetensors');
    expect((await mdl('train', spec, ...common, '--schedule', 'constant', '--steps', '7', '-o', constant)).status).toBe(0);
    expect((await mdl('train', spec, ...common, '--schedule', 'constant', '--steps', '3', '-o', part)).status).toBe(0);
    expect(same(part, constant)).toBe(false);
    const resumed = await mdl('train', spec, '--data', data, '--resume', part, '--steps', '7', '--log-every', '1');
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/^step 4\/7 /m);
    expect(same(part, constant)).toBe(true);
    expect(same(join(dir, 'part.optim.safetensors'), join(dir, 'constant.optim.safetensors'))).toBe(true);

    const whole = join(dir, 'whole.safetensors');
    expect((await mdl('train', spec, ...common, '--steps', '7', '-o', whole)).status).toBe(0);

    const cut = join(dir, 'cut.safetensors');
    const r = await mdlInterrupted(/^step 2\/7 /m, 'train', spec, ...common, '--steps', '7', '-o', cut);
    expect(r.signalled).toBe(true);
    expect(r.status, r.stderr).toBe(130);
    const m = /interrupted at step (\d+)\/7; checkpoint .*cut\.safetensors written/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    expect(readSafetensors(readFileSync(cut)).metadata.step).toBe(m![1]);
    const after = await mdl('train', spec, '--data', data, '--resume', cut);
    expect(after.status, after.stderr).toBe(0);
    expect(same(cut, whole)).toBe(true);
    expect(same(join(dir, 'cut.optim.safetensors'), join(dir, 'whole.optim.safetensors'))).toBe(true);
  }, 240_000);

  it('--init with --freeze: the frozen weights keep their bytes, the others move', async () => {
    const init = join(dir, 'whole.safetensors');
    const out = join(dir, 'tuned.safetensors');
    const r = await mdl('train', spec, ...common, '--steps', '2', '--init', init, '--freeze', 'embed.*', '--clip', '0.1', '-o', out);
    expect(r.status, r.stderr).toBe(0);
    const before = readSafetensors(readFileSync(init)).tensors;
    const after = readSafetensors(readFileSync(out)).tensors;
    for (const [name, t] of after) {
      const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);
      const was = bytes(before.get(name)!.data as Float32Array);
      const now = bytes(t.data as Float32Array);
      expect(now.equals(was), name).toBe(name.startsWith('embed.'));
    }
  }, 120_000);
});

describe('mdl eval on WebGPU', () => {
  it('agrees with --backend cpu on the same weights: loss within 1e-5, the same accuracy and counts', async () => {
    const weights = join(dir, 'whole.safetensors');
    const gpu = await mdl('eval', spec, '--weights', weights, '--data', evalFile, data, '--json');
    const cpu = await mdl('eval', spec, '--weights', weights, '--data', evalFile, data, '--json', '--backend', 'cpu');
    expect(gpu.status, gpu.stderr).toBe(0);
    expect(cpu.status, cpu.stderr).toBe(0);
    const [g, c] = [JSON.parse(gpu.stdout), JSON.parse(cpu.stdout)];
    expect(g.backend).toBe('gpu');
    expect(g.files).toHaveLength(2);
    g.files.forEach((f: { loss: number; accuracy: number; tokens: number }, i: number) => {
      expect(Math.abs(f.loss - c.files[i].loss)).toBeLessThan(1e-5 * c.files[i].loss);
      expect(f.tokens).toBe(c.files[i].tokens);
      expect(f.accuracy).toBe(c.files[i].accuracy);
    });
  }, 120_000);
});
