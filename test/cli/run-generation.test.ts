// `mdl run`'s generation controls as a user sees them, through the real process: --ids, JSONL events with --json,
// the logits of every step in a .npy or .safetensors file (checked against the tokens chosen and the reported
// log-probabilities), sampling flags, beam search on both backends, and streaming with Ctrl-C.

import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/runtime/safetensors.ts';
import { parseNpy } from '../../src/runtime/tensor-file.ts';
import { PieceSplitter } from '../../src/cli/run-output.ts';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'mdl.js');
const mdl = (...args: string[]) => spawnSync(process.execPath, [bin, 'run', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
const dir = mkdtempSync(join(tmpdir(), 'mdl-run-generation-'));
const V = 320;

interface Event {
  event: string;
  id: number;
  piece: string;
  logprob: number;
  tokens: number[];
  text: string;
  steps: Event[];
  interrupted: boolean;
  beams: { tokens: number[]; logprob: number; score: number }[];
}
const events = (stdout: string) => stdout.trim().split('\n').map((l) => JSON.parse(l) as Event);
const ok = (r: ReturnType<typeof mdl>) => (expect(r.status, r.stderr).toBe(0), r);

function logSoftmax(row: ArrayLike<number>): number[] {
  const m = Math.max(...Array.from(row));
  const z = Array.from(row).reduce((a, x) => a + Math.exp(x - m), 0);
  return Array.from(row, (x) => x - m - Math.log(z));
}

describe('text pieces', () => {
  it('a byte that only starts a UTF-8 character waits for the rest', () => {
    const utf8 = (ids: number[]) => new TextDecoder().decode(Uint8Array.from(ids));
    const split = new PieceSplitter(utf8);
    const bytes = [...new TextEncoder().encode('a我b')];
    expect(bytes.map((_, i) => split.next(bytes.slice(0, i + 1)))).toEqual(['a', '', '', '我', 'b']);
  });
});

describe('mdl run: generation controls', () => {
  it('--ids is --tokens, --source-ids is --source-tokens; giving both is refused', () => {
    const a = ok(mdl('specs/packed.mdl', '--ids', '110,101,109', '--max-new', '3', '--backend', 'cpu'));
    const b = ok(mdl('specs/packed.mdl', '--tokens', '110,101,109', '--max-new', '3', '--backend', 'cpu'));
    expect(a.stdout).toBe(b.stdout);
    const both = mdl('specs/packed.mdl', '--ids', '1', '--tokens', '1', '--backend', 'cpu');
    expect(both.status).toBe(1);
    expect(both.stderr.trim()).toBe('mdl: --ids and --tokens are the same flag: give one');
    const c = ok(mdl('specs/translator.mdl', '--source-ids', '200,17,45', '--max-new', '2', '--backend', 'cpu'));
    const d = ok(mdl('specs/translator.mdl', '--source-tokens', '200,17,45', '--max-new', '2', '--backend', 'cpu'));
    expect(c.stdout).toBe(d.stdout);
  });

  for (const backend of ['cpu', 'gpu']) {
    it(`${backend}: --json prints one event per token, and --logits holds rows whose argmax and log-softmax match them`, () => {
      const npy = join(dir, `greedy-${backend}.npy`);
      const r = ok(mdl('specs/packed.mdl', '--input', 'mdl', '--max-new', '5', '--backend', backend, '--json', '--logits', npy));
      const all = events(r.stdout);
      const tokens = all.filter((e) => e.event === 'token');
      const done = all.at(-1)!;
      expect(done.event).toBe('done');
      expect(tokens.map((e) => e.id)).toEqual(done.tokens);
      expect(done.tokens).toHaveLength(5);
      expect(done.text.startsWith(tokens.map((e) => e.piece).join(''))).toBe(true);
      const t = parseNpy(readFileSync(npy), npy);
      expect(t.shape).toEqual([5, V]);
      for (const [i, e] of tokens.entries()) {
        const row = t.data.subarray(i * V, (i + 1) * V);
        const best = Array.from(row).indexOf(Math.max(...row));
        expect(e.id).toBe(best);
        expect(e.logprob).toBeCloseTo(logSoftmax(row)[e.id], 4);
      }
      expect(r.stderr).toContain(`wrote the logits of 5 step(s) to ${npy}`);
    });
  }

  it('the GPU and CPU logits files agree; safetensors holds one [steps, vocab] tensor named logits', () => {
    const files = ['cpu', 'gpu'].map((b) => {
      const f = join(dir, `both-${b}.safetensors`);
      ok(mdl('specs/packed.mdl', '--input', 'ab', '--max-new', '4', '--backend', b, '--logits', f));
      const t = readSafetensors(readFileSync(f), f).tensors.get('logits')!;
      expect(t.shape).toEqual([4, V]);
      return t.data as Float32Array;
    });
    const scale = Math.max(...files[0].map(Math.abs));
    for (let i = 0; i < files[0].length; i++) expect(Math.abs(files[0][i] - files[1][i])).toBeLessThan(1e-3 * scale);
  });

  it('--logits never replaces a file without --force, and checks the name first', () => {
    const f = join(dir, 'mine.npy');
    writeFileSync(f, 'not mdl output');
    const r = mdl('specs/packed.mdl', '--input', 'a', '--max-new', '2', '--backend', 'cpu', '--logits', f);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim()).toBe(`mdl: ${f}: already exists; mdl replaces a file only with --force`);
    expect(readFileSync(f, 'utf8')).toBe('not mdl output');
    ok(mdl('specs/packed.mdl', '--input', 'a', '--max-new', '2', '--backend', 'cpu', '--logits', f, '--force'));
    expect(parseNpy(readFileSync(f), f).shape).toEqual([2, V]);
    const bad = mdl('specs/packed.mdl', '--input', 'a', '--backend', 'cpu', '--logits', join(dir, 'x.txt'));
    expect(bad.stderr.trim()).toBe(`mdl: --logits ${join(dir, 'x.txt')}: the file name ends with .npy or .safetensors`);
    expect(existsSync(join(dir, 'x.txt'))).toBe(false);
  });

  it('sampling with top-p, a repetition penalty and a seed is reproducible and the same on both backends', () => {
    const args = ['specs/packed.mdl', '--input', 'mdl', '--max-new', '6', '--temperature', '1.5', '--top-p', '0.9', '--repetition-penalty', '1.3', '--seed', '11', '--json'];
    const [a, b, c] = [mdl(...args, '--backend', 'cpu'), mdl(...args, '--backend', 'cpu'), mdl(...args, '--backend', 'gpu')].map((r) => events(ok(r).stdout).at(-1)!.tokens);
    expect(a).toEqual(b);
    expect(a).toEqual(c);
    expect(mdl('specs/packed.mdl', '--input', 'a', '--top-p', '0', '--backend', 'cpu').stderr.trim()).toBe("mdl: --top-p takes a probability above 0 and at most 1, not '0'");
  });

  it('a stop id ends generation after it; text mode prints the text and a newline', () => {
    const first = events(ok(mdl('specs/packed.mdl', '--input', 'mdl', '--max-new', '6', '--backend', 'cpu', '--json')).stdout).at(-1)!;
    const stopAt = first.tokens[2];
    const r = ok(mdl('specs/packed.mdl', '--input', 'mdl', '--max-new', '6', '--backend', 'cpu', '--stop-id', String(stopAt), '--json'));
    const cut = events(r.stdout).at(-1)!.tokens;
    expect(cut).toEqual(first.tokens.slice(0, first.tokens.indexOf(stopAt) + 1));
    const text = ok(mdl('specs/packed.mdl', '--input', 'mdl', '--max-new', '6', '--backend', 'cpu'));
    expect(text.stdout).toBe(`${first.text}\n`);
  });

  it('a stop string ends generation once the text contains it (the text keeps it)', () => {
    const full = events(ok(mdl('specs/packed.mdl', '--input', 'mdl', '--max-new', '8', '--backend', 'cpu', '--json')).stdout).at(-1)!;
    const pieces = full.steps.map((e) => e.piece);
    const at = pieces.findIndex((p, i) => i >= 1 && p !== '');
    const stop = pieces[at];
    const r = events(ok(mdl('specs/packed.mdl', '--input', 'mdl', '--max-new', '8', '--backend', 'cpu', '--stop', stop, '--json')).stdout).at(-1)!;
    const first = pieces.findIndex((p) => p.includes(stop));
    expect(r.tokens).toEqual(full.tokens.slice(0, first + 1));
    expect(r.text.endsWith(stop)).toBe(true);
  });

  it('text mode streams pieces before the run ends', async () => {
    const child = spawn(process.execPath, [bin, 'run', 'specs/packed.mdl', '--input', 'mdl', '--max-new', '400', '--backend', 'cpu'], { cwd: root });
    let stdout = '';
    await new Promise<void>((resolve) => child.stdout.on('data', (d) => ((stdout += d), resolve())));
    expect(child.exitCode).toBeNull();
    expect(stdout.length).toBeGreaterThan(0);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code).toBe(130);
    expect(stdout.endsWith('\n')).toBe(true);
  }, 60_000);

  it('--beams: the CPU, the GPU with a KV cache per beam and without one find the same hypotheses, scored as logprob / length^penalty', () => {
    const args = ['specs/translator.mdl', '--source', 'ab', '--max-new', '4', '--beams', '3', '--length-penalty', '2', '--json'];
    const [cpu, gpu, uncached] = [['cpu'], ['gpu'], ['gpu', '--no-cache']].map((b) => events(ok(mdl(...args, '--backend', ...b)).stdout).at(-1)! as Event & { decoding: { cache: boolean } });
    expect(cpu.beams).toHaveLength(3);
    expect(gpu.decoding.cache).toBe(true);
    expect(uncached.decoding.cache).toBe(false);
    expect(gpu.beams.map((h) => h.tokens)).toEqual(cpu.beams.map((h) => h.tokens));
    expect(uncached.beams.map((h) => h.tokens)).toEqual(cpu.beams.map((h) => h.tokens));
    expect(cpu.steps.map((e) => e.id)).toEqual(cpu.tokens);
    expect(cpu.steps.reduce((a, e) => a + e.logprob, 0)).toBeCloseTo(cpu.beams[0].logprob, 8);
    expect(cpu.tokens).toEqual(cpu.beams[0].tokens);
    for (const [i, h] of cpu.beams.entries()) {
      expect(h.score).toBeCloseTo(h.logprob / h.tokens.length ** 2, 8);
      if (i > 0) expect(h.score).toBeLessThanOrEqual(cpu.beams[i - 1].score);
    }
    const early = events(ok(mdl(...args, '--backend', 'cpu', '--early-stopping')).stdout).at(-1)!;
    expect(early.beams.length).toBeGreaterThan(0);
    expect(mdl(...args, '--backend', 'cpu', '--temperature', '1').stderr.trim()).toBe('mdl: --beams searches: --temperature, --top-k and --top-p (sampling) do not apply with it');
  });

  it('tokens stream as they are produced; Ctrl-C ends the run with what it generated and exit status 130', async () => {
    const child = spawn(process.execPath, [bin, 'run', 'specs/packed.mdl', '--input', 'mdl', '--max-new', '400', '--backend', 'cpu', '--json'], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    // The first token event arrives while the process is still generating.
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (d) => {
        const seen = stdout.length === 0;
        stdout += d;
        if (seen) resolve();
      }),
    );
    expect(child.exitCode).toBeNull();
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(130);
    const all = events(stdout);
    const done = all.at(-1)!;
    expect(done.event).toBe('done');
    expect(done.interrupted).toBe(true);
    expect(done.tokens.length).toBeGreaterThan(0);
    expect(done.tokens.length).toBeLessThan(400);
    expect(all.filter((e) => e.event === 'token').map((e) => e.id)).toEqual(done.tokens);
    expect(stderr).toContain(`mdl: interrupted after ${done.tokens.length} token(s)`);
  }, 60_000);

  /** gpt2-small on the CPU: about 10 s to build the seeded weights, then seconds per step. */
  const slowRun = () => {
    const child = spawn(process.execPath, [bin, 'run', 'specs/gpt2-small.mdl', '--tokens', '5,6', '--max-new', '4', '--backend', 'cpu'], { cwd: root });
    const ended = new Promise<[number | null, string | null]>((resolve) => child.on('close', (c, s) => resolve([c, s])));
    return { child, ended };
  };

  it('Ctrl-C before generation starts (building the weights) ends mdl at once', async () => {
    const { child, ended } = slowRun();
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const t0 = performance.now();
    child.kill('SIGINT');
    expect(await ended).toEqual([null, 'SIGINT']);
    expect(performance.now() - t0).toBeLessThan(1500);
    expect(stderr).not.toContain('prefilling');
  }, 60_000);
});
