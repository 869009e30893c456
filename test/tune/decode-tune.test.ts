// The decode step's attention is tuned apart from the full pass's: `mdl tune` (the real process) measures the one-row
// decode tiles against the split-key kernel on one query row over `--length` cached keys and records the choice under
// a `.decode` signature; a run then lowers the decode step with the cached choice (and only the decode step), and
// the generated tokens stay those of the default kernels.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { runModel } from '../../src/cli/run-command.ts';
import { lower } from '../../src/lower/passes.ts';
import { acquireGpu } from '../../src/runtime/device.ts';
import { adapterKey } from '../../src/tune/signature.ts';
import { tunedScheduleOptions } from '../../src/tune/tuned-tiles.ts';

const root = join(import.meta.dirname, '..', '..');
const SPEC = `model tiny {
  dim vocab = 300, d_model = 32, heads = 2, d_ff = 64
  dim B, T <= 64
  input ids: tokens[B, T] pad 0
  embed tokens: learned(vocab, d_model), positions: rotary
  stack decoder x 1 on ids (norm = pre rms) {
    attention self heads = heads mask = causal
    ffn d_ff swiglu
  }
  output logits = project(decoder, vocab)
}
`;
const saved = process.env.MDL_CACHE_DIR;

describe('tuning the decode step', () => {
  afterEach(() => {
    if (saved === undefined) delete process.env.MDL_CACHE_DIR;
    else process.env.MDL_CACHE_DIR = saved;
  });

  it('mdl tune measures the split-key kernel for decode sites; a run uses the cached choice and keeps its tokens', { timeout: 240_000 }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdl-tune-decode-'));
    const spec = join(dir, 'tiny.mdl');
    writeFileSync(spec, SPEC);
    const tune = spawnSync(process.execPath, ['bin/mdl.js', 'tune', spec, '--length', '40', '--repeats', '1', '--variants', '3', '--no-matmul', '--no-norm'], { cwd: root, encoding: 'utf8', env: { ...process.env, MDL_CACHE_DIR: dir, NO_COLOR: '1' } });
    expect(tune.status, tune.stderr).toBe(0);
    expect(tune.stderr).toMatch(/^mdl: tuning 2 attention signature\(s\) of tiny/m);
    expect(tune.stderr).toMatch(/^ {2}\S+ \(mask \S+\) \(decode step\) \[d16\.h2\.kv2\.m\w+\.decode\], 1 site\(s\), 3 variants$/m);
    // The default one-row tiles first, then split-key shapes, each timed (none rejected: all agree with the default).
    expect(tune.stderr).toMatch(/^ {4}\[1\/3\] 1×32\/4 +[\d.]+ ms$/m);
    expect(tune.stderr).toMatch(/^ {4}\[2\/3\] 1×32\/32 split-keys +[\d.]+ ms$/m);
    expect(tune.stderr).toMatch(/^ {4}\[3\/3\] 1×32\/16 split-keys +[\d.]+ ms$/m);
    const cache = JSON.parse(readFileSync(join(dir, 'tune.json'), 'utf8'));
    // --no-norm and --no-matmul: neither the norm forms nor the matmul tilings were timed or recorded.
    expect(tune.stderr).not.toMatch(/norm forms on|matmul tilings on/);
    expect(cache.norm ?? {}).toEqual({});
    expect(cache.matmul ?? {}).toEqual({});
    const gpu = await acquireGpu({ skipWorkgroupZeroInit: true });
    const adapter = gpu.adapter;
    gpu.release();
    const entries = cache.adapters[adapterKey(adapter)] as Record<string, { tiles: Record<string, unknown>; problem: string }>;
    const decodeKey = Object.keys(entries).find((k) => k.endsWith('.decode'))!;
    expect(Object.keys(entries)).toHaveLength(2);
    expect(entries[decodeKey].problem).toBe('B=1 Lq=1 Lk=40');

    // Force the split-key kernel (whatever won on this machine) and run with it.
    const model = checkSource(SPEC, 'tiny.mdl').model!;
    const opts = { input: 'hello', maxNew: '6', seed: '3', backend: 'gpu' };
    process.env.MDL_CACHE_DIR = mkdtempSync(join(tmpdir(), 'mdl-tune-decode-none-'));
    const before = await runModel(model, opts, () => {});
    entries[decodeKey].tiles = { q: 1, k: 32, lanes: 16, splitKeys: true };
    writeFileSync(join(dir, 'tune.json'), JSON.stringify(cache));
    process.env.MDL_CACHE_DIR = dir;
    const lowered = lower(model, tunedScheduleOptions(adapter).options);
    const stepAttention = lowered.decode!.step.program.steps.filter((s) => s.kind === 'attention');
    expect(stepAttention.map((s) => s.attention!.tiles)).toEqual([expect.objectContaining({ q: 1, k: 32, lanes: 16, splitKeys: true })]);
    expect(lowered.program.steps.filter((s) => s.attention?.tiles.splitKeys)).toEqual([]);
    const after = await runModel(model, opts, () => {});
    expect(after.tokens).toEqual(before.tokens);
    expect(after.tokens.length).toBeGreaterThan(5);
  });
});
