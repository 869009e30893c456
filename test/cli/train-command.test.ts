// `mdl train --backend cpu` as a user runs it: a tiny spec learns to copy short strings from scratch, well past what
// any model that ignores the earlier letters can reach; a run continued with --resume (after it ended, or after
// Ctrl-C) ends at exactly the bytes of an uninterrupted one.

import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/runtime/safetensors.ts';
import { copyLines, copySpec, mdl, mdlInterrupted, tempDir, writeIn } from './train-support.ts';

/** Empirical entropy (nats) of a list of symbols. */
function entropy(xs: string[]): number {
  const counts = new Map<string, number>();
  for (const x of xs) counts.set(x, (counts.get(x) ?? 0) + 1);
  let h = 0;
  for (const c of counts.values()) h -= (c / xs.length) * Math.log(c / xs.length);
  return h;
}

describe('mdl train: learning', () => {
  it('learns to copy: the eval loss ends below the best unigram and the best position-only predictor', async () => {
    const dir = tempDir();
    const spec = writeIn(dir, 'copy.mdl', copySpec(32, 4));
    const train = writeIn(dir, 'train.txt', copyLines(64, 7).join('\n') + '\n');
    const evalLines = copyLines(32, 99);
    const evalFile = writeIn(dir, 'eval.txt', evalLines.join('\n') + '\n');
    const out = join(dir, 'copy.safetensors');
    const r = await mdl('train', spec, '--data', train, '--eval', evalFile, '--backend', 'cpu', '--steps', '400', '--lr', '1e-2', '--warmup', '20', '--batch-tokens', '256', '--weight-decay', '0', '--eval-every', '100', '--log-every', '100', '-o', out, '--json');
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout);
    // Each line predicts 7 bytes and eos. The best any predictor can do on these very labels without looking back
    // is their entropy: by symbol alone (unigram) or by symbol per position (it knows where '=' and eos go, but not
    // which letters). Copying is needed to beat the second.
    const labels = evalLines.map((l) => [...l, '<eos>']);
    const unigram = entropy(labels.flat());
    const positional = labels[0].map((_, j) => entropy(labels.map((l) => l[j]))).reduce((a, b) => a + b) / labels[0].length;
    expect(unigram).toBeLessThan(Math.log(259));
    expect(positional).toBeLessThan(unigram);
    expect(result.eval_loss).toBeLessThan(positional - 0.15);
    expect(result.steps).toBe(400);
    expect(r.stderr).toMatch(/^step 100\/400 {2}loss \d+\.\d{4} {2}eval \d+\.\d{4} {2}lr \S+ {2}\d+ tokens\/s {2}ETA \d+:\d\d$/m);
    // The checkpoint, its optimizer state and the curves are there and say what they are.
    const weights = readSafetensors(readFileSync(out));
    expect(weights.metadata.mdl_checkpoint).toBe('weights');
    expect(weights.metadata.step).toBe('400');
    expect([...weights.tensors.keys()]).toContain('embed.tokens.weight');
    expect(readSafetensors(readFileSync(join(dir, 'copy.optim.safetensors'))).metadata.mdl_checkpoint).toBe('optimizer');
    const svg = readFileSync(join(dir, 'copy.loss.svg'), 'utf8');
    expect(svg).toContain('<svg');
    expect(svg).toContain('train loss');
    expect(svg).toContain('eval loss');
    expect(result.history.eval.map((e: number[]) => e[0])).toEqual([100, 200, 300, 400]);
    // mdl eval on the written weights agrees with the run's last eval.
    const ev = await mdl('eval', spec, '--weights', out, '--data', evalFile, '--backend', 'cpu', '--json');
    expect(ev.status, ev.stderr).toBe(0);
    expect(JSON.parse(ev.stdout).files[0].loss).toBeCloseTo(result.eval_loss, 10);
  }, 120_000); // it must learn in under two minutes (about half a minute on a quiet 2-core machine)
});

describe('mdl train: interrupted and resumed', () => {
  const dir = tempDir();
  const spec = writeIn(dir, 'copy.mdl', copySpec());
  const data = writeIn(dir, 'train.txt', copyLines(24, 3).join('\n') + '\n');
  const common = ['--data', data, '--backend', 'cpu', '--batch-tokens', '64', '--lr', '5e-3', '--warmup', '2', '--log-every', '1', '--seed', '5'];

  it('a run of 3 steps resumed to 8 ends at the same bytes (weights and optimizer state) as 8 steps straight', async () => {
    const constant = [...common, '--schedule', 'constant'];
    const whole = join(dir, 'whole.safetensors');
    const part = join(dir, 'part.safetensors');
    expect((await mdl('train', spec, ...constant, '--steps', '8', '-o', whole)).status).toBe(0);
    const first = await mdl('train', spec, ...constant, '--steps', '3', '-o', part);
    expect(first.status, first.stderr).toBe(0);
    expect(readSafetensors(readFileSync(part)).metadata.step).toBe('3');
    expect(readFileSync(part).equals(readFileSync(whole))).toBe(false);
    const resumed = await mdl('train', spec, '--data', data, '--backend', 'cpu', '--resume', part, '--steps', '8', '--log-every', '1');
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/^step 4\/8 /m);
    expect(resumed.stderr).not.toMatch(/^step 3\/8 /m);
    expect(readFileSync(part).equals(readFileSync(whole))).toBe(true);
    expect(readFileSync(join(dir, 'part.optim.safetensors')).equals(readFileSync(join(dir, 'whole.optim.safetensors')))).toBe(true);
    // Other data (here: one letter changed) is refused, and the checkpoint is left as it was.
    const other = writeIn(dir, 'other.txt', readFileSync(data, 'utf8').replace('a', 'b'));
    const refused = await mdl('train', spec, '--data', other, '--backend', 'cpu', '--resume', part, '--steps', '9');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe(`mdl: ${other}: not the data the run being resumed was trained on (24 examples here, 24 then); resume with the same data\n`);
    expect(readFileSync(part).equals(readFileSync(whole))).toBe(true);
  }, 120_000);

  it('Ctrl-C writes a checkpoint and exits 130; --resume then ends at the bytes of an uninterrupted run', async () => {
    const whole = join(dir, 'whole40.safetensors');
    const cut = join(dir, 'cut.safetensors');
    expect((await mdl('train', spec, ...common, '--steps', '40', '-o', whole)).status).toBe(0);
    const r = await mdlInterrupted(/^step 2\/40 /m, 'train', spec, ...common, '--steps', '40', '-o', cut);
    expect(r.signalled).toBe(true);
    expect(r.status, r.stderr).toBe(130);
    const m = /interrupted at step (\d+)\/40; checkpoint .*cut\.safetensors written; continue with --resume/.exec(r.stderr);
    expect(m, r.stderr).not.toBeNull();
    expect(Number(m![1])).toBeLessThan(40);
    expect(readSafetensors(readFileSync(cut)).metadata.step).toBe(m![1]);
    expect(existsSync(join(dir, 'cut.loss.svg'))).toBe(false);
    const resumed = await mdl('train', spec, '--data', data, '--backend', 'cpu', '--resume', cut);
    expect(resumed.status, resumed.stderr).toBe(0);
    expect(readFileSync(cut).equals(readFileSync(whole))).toBe(true);
    expect(readFileSync(join(dir, 'cut.optim.safetensors')).equals(readFileSync(join(dir, 'whole40.optim.safetensors')))).toBe(true);
  }, 120_000);
});
