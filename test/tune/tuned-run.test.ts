// Tuned tiles reach the compiled program and a run: a tuning cache with a non-default shape for the translator's
// attention signatures on this adapter changes the kernels `mdl run` uses, and the generated tokens stay the same.

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
});
