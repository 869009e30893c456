// Tuned tiles reach the compiled program and a run: a tuning cache with a non-default shape for the translator's
// attention signatures on this adapter changes the kernels `mdl run` uses, and the generated tokens stay the same.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { runModel } from '../../src/cli/run-command.ts';
import { lower } from '../../src/lower/passes.ts';
import { acquireGpu } from '../../src/runtime/device.ts';
import { recordEntries } from '../../src/tune/cache.ts';
import { tuneSitesOf } from '../../src/tune/sites.ts';
import { tunedScheduleOptions } from '../../src/tune/tuned-tiles.ts';

const root = join(import.meta.dirname, '..', '..');
const translator = () => checkSource(readFileSync(join(root, 'specs', 'translator.mdl'), 'utf8'), 'translator.mdl').model!;
const saved = process.env.MDL_CACHE_DIR;

describe('tuned attention tiles in compile and run', () => {
  afterEach(() => {
    if (saved === undefined) delete process.env.MDL_CACHE_DIR;
    else process.env.MDL_CACHE_DIR = saved;
  });

  it('are used where tuned, for this adapter only, and give the same tokens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdl-tuned-'));
    process.env.MDL_CACHE_DIR = dir;
    const model = translator();
    const gpu = await acquireGpu({ skipWorkgroupZeroInit: true });
    const adapter = gpu.adapter;
    gpu.release();
    const opts = { source: '我喜欢吃苹果', input: '', maxNew: '4', seed: '3', backend: 'gpu' };
    const before = await runModel(model, opts, () => {});
    expect(before.attentionTiles?.tuned).toBe(0);

    const groups = tuneSitesOf(lower(model).program);
    const tiles = { q: 8, k: 16, lanes: 4 };
    const entry = { tiles, ms: 1, defaultMs: 2, problem: 'B=1 L=64', measuredAt: '2026-11-30T00:00:00.000Z' };
    recordEntries(adapter, groups.map((g) => ({ signature: g.site.signature, entry })), join(dir, 'tune.json'));

    const tuned = tunedScheduleOptions(adapter);
    const program = lower(model, tuned.options).program;
    for (const s of program.steps.filter((x) => x.kind === 'attention')) expect([s.attention!.tiles.q, s.attention!.tiles.k, s.attention!.tiles.lanes]).toEqual([8, 16, 4]);
    expect(tuned.report()).toEqual({ tuned: groups.length, total: groups.length });
    // Another adapter's choices are not used.
    const elsewhere = tunedScheduleOptions({ ...adapter, description: `${adapter.description} (another)` });
    expect(lower(model, elsewhere.options).program.steps.find((x) => x.kind === 'attention')!.attention!.tiles.q).not.toBe(8);

    const after = await runModel(model, opts, () => {});
    expect(after.attentionTiles).toEqual({ tuned: groups.length, kernels: groups.length });
    expect(after.tokens).toEqual(before.tokens);
  });

  it('the row-wise attention shape, a register-blocked matmul tiling and the row-per-invocation norm, tuned, give the same tokens', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdl-tuned-rowwise-'));
    process.env.MDL_CACHE_DIR = dir;
    const model = translator();
    const gpu = await acquireGpu({ skipWorkgroupZeroInit: true });
    const adapter = gpu.adapter;
    gpu.release();
    const opts = { source: '我喜欢吃苹果', input: '', maxNew: '4', seed: '3', backend: 'gpu' };
    const before = await runModel(model, opts, () => {});
    const groups = tuneSitesOf(lower(model).program);
    const entry = { tiles: { q: 32, k: 32, lanes: 1, rowwise: true }, ms: 1, defaultMs: 2, problem: 'B=1 L=64', measuredAt: '2026-11-30T00:00:00.000Z' };
    const matmul = { tiling: 'reg8x4v4' as const, ms: 1, defaultMs: 2, problem: '64x128x128', measuredAt: '2026-11-30T00:00:00.000Z' };
    const norm = { form: 'rows' as const, ms: 1, defaultMs: 2, problem: 'layer 64x256', measuredAt: '2026-11-30T00:00:00.000Z' };
    recordEntries(adapter, groups.map((g) => ({ signature: g.site.signature, entry })), join(dir, 'tune.json'), matmul, norm);
    const lowered = lower(model, tunedScheduleOptions(adapter).options);
    const program = lowered.program;
    for (const s of program.steps.filter((x) => x.kind === 'attention')) expect(s.attention!.tiles).toMatchObject({ q: 32, k: 32, lanes: 1, rowwise: true });
    for (const s of program.steps.filter((x) => x.kind === 'matmul')) expect(s.kernel).toMatchObject({ tiling: 'reg8x4v4' });
    // Every norm of the full pass, the prefill and the decode step: one invocation a row.
    for (const p of [program, lowered.decode!.prefill.program, lowered.decode!.step.program]) {
      const norms = p.steps.filter((x) => x.kind === 'norm');
      expect(norms.length).toBeGreaterThan(0);
      for (const s of norms) expect(s.kernel).toMatchObject({ kind: 'norm', rows: true });
    }
    const after = await runModel(model, opts, () => {});
    expect(after.attentionTiles).toEqual({ tuned: groups.length, kernels: groups.length });
    expect(after.tokens).toEqual(before.tokens);
  });

  it('reach mdl compile --tuned, which reports how many signatures were tuned', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdl-tuned-compile-'));
    const compile = (out: string) =>
      spawnSync(process.execPath, ['bin/mdl.js', 'compile', 'specs/translator.mdl', '--tuned', '-o', join(dir, out)], { cwd: root, encoding: 'utf8', env: { ...process.env, MDL_CACHE_DIR: dir, NO_COLOR: '1' } });
    const model = translator();
    const groups = tuneSitesOf(lower(model).program);
    expect(groups.length).toBeGreaterThan(0);
    const untuned = compile('untuned');
    expect(untuned.status, untuned.stderr).toBe(0);
    expect(untuned.stderr).toMatch(new RegExp(`^mdl: 0 of ${groups.length} attention kernel signature\\(s\\) tuned for .*; the others use the defaults \\(run mdl tune\\)$`, 'm'));
    expect(readFileSync(join(dir, 'untuned', 'manifest.json'), 'utf8')).toBe(readFileSync(join(root, 'generated', 'translator', 'manifest.json'), 'utf8'));

    const gpu = await acquireGpu({ skipWorkgroupZeroInit: true });
    const adapter = gpu.adapter;
    gpu.release();
    const entry = { tiles: { q: 8, k: 16, lanes: 4 }, ms: 1, defaultMs: 2, problem: 'B=1 L=64', measuredAt: '2026-11-30T00:00:00.000Z' };
    const norm = { form: 'rows' as const, ms: 1, defaultMs: 2, problem: 'layer 64x256', measuredAt: '2026-11-30T00:00:00.000Z' };
    recordEntries(adapter, groups.map((g) => ({ signature: g.site.signature, entry })), join(dir, 'tune.json'), undefined, norm);
    const tuned = compile('tuned');
    expect(tuned.status, tuned.stderr).toBe(0);
    expect(tuned.stderr).toMatch(new RegExp(`^mdl: ${groups.length} of ${groups.length} attention kernel signature\\(s\\) tuned for [^;]*$`, 'm'));
    expect(readFileSync(join(dir, 'tuned', 'manifest.json'), 'utf8')).not.toBe(readFileSync(join(dir, 'untuned', 'manifest.json'), 'utf8'));
    // The manifests name the norm form by its kernel files: a workgroup a row untuned, an invocation a row tuned.
    for (const name of ['manifest.json', 'prefill.manifest.json', 'step.manifest.json']) {
      const normFiles = (out: string) => (JSON.parse(readFileSync(join(dir, out, name), 'utf8')) as { steps: { kind: string; kernel: string }[] }).steps.filter((s) => s.kind === 'norm').map((s) => s.kernel);
      expect(normFiles('untuned').length, name).toBeGreaterThan(0);
      for (const file of normFiles('untuned')) expect(file, name).toMatch(/-norm_layer\.wgsl$/);
      for (const file of normFiles('tuned')) expect(file, name).toMatch(/-norm_layer_rows\.wgsl$/);
    }
  });
});
