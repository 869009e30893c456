// `mdl run`, `mdl init` and `mdl demo` as a user runs them: init and run share their default seed, a decoder-only
// text prompt starts with the spec's bos, generation stops at eos on every backend and decoding path, a bad
// temperature is refused in one line, and the demo says which speed is which.

import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'mdl-run-'));

interface Ran {
  status: number;
  stdout: string;
  stderr: string;
}

/** The real command in a fresh Node; not blocking, so independent runs go in parallel. */
const mdl = (...args: string[]) =>
  new Promise<Ran>((done) => {
    execFile(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } }, (e, stdout, stderr) =>
      done({ status: e ? Number(e.code ?? -1) : 0, stdout, stderr }),
    );
  });

const json = (r: Ran) => {
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { tokens: number[]; prompt: number[]; weights: string; timings: Record<string, number> };
};

/** A small decoder-only spec; `specials` is the rest of its tokens input's declaration. */
function spec(name: string, specials: string): string {
  const file = join(dir, `${name}.mdl`);
  writeFileSync(
    file,
    `model tiny {
  dim vocab = 600, d_model = 16, heads = 2, d_ff = 32
  dim B, T <= 64
  input ids: tokens[B, T] pad 0 ${specials}
  mask c = causal
  embed tokens: learned(vocab, d_model), positions: sinusoidal
  stack decoder x 1 on ids (norm = pre layer) {
    attention self heads = heads mask = c
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab)
}
`,
  );
  return file;
}

describe('mdl init and mdl run share their default seed', () => {
  it('init without --seed writes seed 1, the weights run uses without --weights', async () => {
    const file = spec('seeds', '');
    const [plain, one, zero] = ['', '1', '0'].map((s) => join(dir, `w${s || 'default'}.safetensors`));
    const inits = await Promise.all([mdl('init', file, '-o', plain), mdl('init', file, '--seed', '1', '-o', one), mdl('init', file, '--seed', '0', '-o', zero)]);
    for (const r of inits) expect(r.status, r.stderr).toBe(0);
    expect(inits[0].stdout).toContain('seed 1)');
    expect(readFileSync(plain).equals(readFileSync(one))).toBe(true);
    expect(readFileSync(plain).equals(readFileSync(zero))).toBe(false);
    const args = ['--tokens', '5,6,7', '--max-new', '6', '--backend', 'cpu', '--json'];
    const [seeded, fromFile, fromZero] = await Promise.all([mdl('run', file, ...args), mdl('run', file, ...args, '--weights', plain), mdl('run', file, ...args, '--weights', zero)]);
    expect(json(seeded).weights).toBe('seeded (seed 1)');
    expect(json(fromFile).tokens).toEqual(json(seeded).tokens);
    expect(json(fromZero).tokens).not.toEqual(json(seeded).tokens);
  }, 60_000);
});

describe('mdl run: specials', () => {
  it("puts the spec's bos in front of a decoder-only text prompt, and takes --tokens as given", async () => {
    const withBos = spec('bos', 'bos 1');
    const noBos = spec('nobos', '');
    const [a, b, c, empty] = await Promise.all([
      mdl('run', withBos, '--input', 'hi', '--max-new', '1', '--backend', 'cpu', '--json'),
      mdl('run', noBos, '--input', 'hi', '--max-new', '1', '--backend', 'cpu', '--json'),
      mdl('run', withBos, '--tokens', '9,8', '--max-new', '1', '--backend', 'cpu', '--json'),
      mdl('run', withBos, '--input', '', '--max-new', '1', '--backend', 'cpu', '--json'),
    ]);
    // Bytes follow the largest special id: 'h' (104) and 'i' (105) are 106 and 107 after bos 1, 105 and 106 after pad 0.
    expect(json(a).prompt).toEqual([1, 106, 107]);
    expect(json(b).prompt).toEqual([105, 106]);
    expect(json(c).prompt).toEqual([9, 8]);
    expect(json(empty).prompt).toEqual([1]);
  }, 60_000);

  it('stops at eos on the CPU and on the GPU, with and without the KV cache', async () => {
    // Without an eos the seeded model generates past the point where the chosen token first appears.
    const args = ['--tokens', '5,6,7', '--max-new', '12', '--json'];
    const free = json(await mdl('run', spec('free', ''), ...args, '--backend', 'cpu')).tokens;
    const stop = free.findIndex((t, i) => i >= 1 && !free.slice(0, i).includes(t) && t > 3);
    expect(stop, `no new token after the first in ${free}`).toBeGreaterThan(0);
    const eos = free[stop];
    const file = spec('eos', `eos ${eos}`);
    const runs = await Promise.all([mdl('run', file, ...args, '--backend', 'cpu'), mdl('run', file, ...args), mdl('run', file, ...args, '--no-cache')]);
    for (const r of runs) expect(json(r).tokens, r.stderr).toEqual(free.slice(0, stop + 1));
    expect(runs[1].stderr).toContain('decoding with a KV cache');
    expect(runs[2].stderr).toContain('turned off with --no-cache');
  }, 120_000);
});

describe('mdl run: sampling flags', () => {
  it('refuses a temperature that is not above 0 in one line, before any work', async () => {
    const file = spec('temp', '');
    const bad = ['-1', '0', 'hot', 'NaN', 'Infinity'];
    const runs = await Promise.all(bad.map((t) => mdl('run', file, '--input', 'hi', `--temperature=${t}`)));
    for (const [i, r] of runs.entries()) {
      const t = bad[i];
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`mdl: --temperature takes a number greater than 0, e.g. 0.8 (--greedy takes the most likely token), not '${t}'\n`);
    }
    const ok = await mdl('run', file, '--input', 'hi', '--temperature', '0.5', '--max-new', '2', '--backend', 'cpu', '--json');
    expect(json(ok).tokens).toHaveLength(2);
  }, 60_000);
});

describe('mdl demo', () => {
  it('labels the prefill and the decode speed', async () => {
    const r = await mdl('demo', '--backend', 'cpu');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/first token [\d.]+ ms, prefill [\d.]+ tok\/s, decode [\d.]+ tok\/s\n/);
    expect(r.stdout).not.toMatch(/\d tokens\/s/);
    // The trained weights stop at <eos> after five tokens, before the every-eighth-token decode progress line.
    expect(r.stderr).toMatch(/prefilling 1 position: first token after [\d.]+ ms\n/);
  }, 60_000);
});
