// `mdl tune` also times the matmul tilings on the spec's own matmul shapes and records the fastest for the adapter;
// `mdl compile --tuned` then lowers every tiled matmul with it (its kernel files name the tiling in the manifest),
// and `mdl grad`, `mdl train` and `mdl eval` on the device run their training programs with it.
// The real `mdl` process, with a small spec and a tiny tuning problem so that it runs in seconds on SwiftShader.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/runtime/safetensors.ts';
import { MATMUL_TILINGS } from '../../src/wgsl/matmul-tilings.ts';
import { norm, relativeError } from '../support/gpu-gradients.ts';

const root = join(import.meta.dirname, '..', '..');
const SPEC = `model tiny {
  dim vocab = 40, d_model = 32, heads = 2, d_ff = 64
  dim B, T <= 32
  input ids: tokens[B, T] pad 0
  embed tokens: learned(vocab, d_model), positions: learned(32)
  stack decoder x 1 on ids (norm = pre layer) {
    attention self heads = heads mask = causal
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab, tied = tokens)
  loss next_token = cross_entropy(logits, labels = next(ids))
}
`;

describe('mdl tune and the matmul tiling', () => {
  it('records the fastest tiling for the adapter, and compile --tuned uses it', { timeout: 240_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdl-tune-matmul-'));
    const spec = join(dir, 'tiny.mdl');
    writeFileSync(spec, SPEC);
    const mdl = (args: string[]) => spawnSync(process.execPath, ['bin/mdl.js', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, MDL_CACHE_DIR: dir, NO_COLOR: '1' } });
    const tune = mdl(['tune', spec, '--length', '8', '--repeats', '1', '--variants', '1']);
    expect(tune.status, tune.stderr).toBe(0);
    // The spec's matmul shapes at M = 8 rows: 32→32 (packed q, k, v: 96 wide), 32→64, 64→32, 32→40.
    expect(tune.stderr).toMatch(/^ {2}matmul tilings on 8×\d+×\d+(, 8×\d+×\d+)*$/m);
    for (const t of MATMUL_TILINGS) expect(tune.stderr).toMatch(new RegExp(`^ {4}${t} +[\\d.]+ ms$`, 'm'));
    const chosen = /^ {4}best (\w+): [\d.]+× the default wg32$/m.exec(tune.stderr)?.[1];
    expect(MATMUL_TILINGS).toContain(chosen);
    // The norm's two forms on the spec's one norm shape (pre-norm layer norms of width 32, and the final one: 3).
    expect(tune.stderr).toMatch(/^ {2}norm forms on layer 8×32 \(×3\)$/m);
    for (const form of ['workgroup', 'rows']) expect(tune.stderr).toMatch(new RegExp(`^ {4}${form} +[\\d.]+ ms$`, 'm'));
    const form = /^ {4}best (\w+): [\d.]+× the default workgroup$/m.exec(tune.stderr)?.[1];
    expect(['workgroup', 'rows']).toContain(form);
    expect(tune.stderr).toMatch(new RegExp(`and the matmul tiling ${chosen} and the norm form ${form} for adapter`));
    const cache = JSON.parse(readFileSync(join(dir, 'tune.json'), 'utf8'));
    expect(Object.values(cache.matmul).map((e) => (e as { tiling: string }).tiling)).toEqual([chosen]);
    expect(Object.values(cache.norm).map((e) => (e as { form: string }).form)).toEqual([form]);

    // A tiling other than the default shows in the compiled manifest's kernel files; force one to see it.
    const key = Object.keys(cache.matmul)[0];
    cache.matmul[key].tiling = 'reg8x4v4';
    cache.norm[key].form = 'rows';
    writeFileSync(join(dir, 'tune.json'), JSON.stringify(cache));
    const compile = mdl(['compile', spec, '--tuned', '-o', join(dir, 'out')]);
    expect(compile.status, compile.stderr).toBe(0);
    for (const name of ['manifest.json', 'train.manifest.json']) {
      const manifest = JSON.parse(readFileSync(join(dir, 'out', name), 'utf8')) as { steps: { kind: string; kernel: string }[] };
      const matmuls = manifest.steps.filter((s) => s.kind === 'matmul');
      expect(matmuls.length, name).toBeGreaterThan(0);
      for (const s of matmuls) expect(s.kernel, name).toMatch(/_reg8x4v4\.wgsl$/);
    }
    // And so does the norm form, in the full pass and the prefill (the training program keeps its own norm kernel).
    for (const name of ['manifest.json', 'prefill.manifest.json']) {
      const manifest = JSON.parse(readFileSync(join(dir, 'out', name), 'utf8')) as { steps: { kind: string; kernel: string }[] };
      const norms = manifest.steps.filter((s) => s.kind === 'norm');
      expect(norms.length, name).toBe(3);
      for (const s of norms) expect(s.kernel, name).toMatch(/-norm_layer_rows\.wgsl$/);
    }
    // `mdl run` on the device takes both choices and says so.
    const run = mdl(['run', spec, '--tokens', '1,5,9', '--max-new', '2']);
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).toMatch(/^mdl: matmuls use the reg8x4v4 tiling, norms the rows form tuned for this adapter$/m);

    // Under a register tiling the training program's backward products are register-blocked too (16×4 an invocation,
    // whichever register tiling); every width of this spec is a multiple of 4, so all of them read vec4s
    // (matmul-grad.ts), none the strided form.
    const train = JSON.parse(readFileSync(join(dir, 'out', 'train.manifest.json'), 'utf8')) as { steps: { kind: string; kernel: string }[] };
    const products = train.steps.filter((s) => /matmul_(strided|grad)/.test(s.kernel));
    expect(products.length).toBeGreaterThan(0);
    for (const s of products) expect(s.kernel).toMatch(/matmul_grad_(input|weight)_reg16x4v4\.wgsl$/);

    // mdl grad, train and eval on the device take the cached tiling too, say so, and still agree with the CPU.
    // Text needs a vocabulary with room for the byte-level tokenizer's 256 ids.
    const textSpec = join(dir, 'text.mdl');
    writeFileSync(textSpec, SPEC.replace('vocab = 40', 'vocab = 300'));
    const data = join(dir, 'lines.txt');
    writeFileSync(data, 'hello world\nthe cat sat\nab\n');
    const said = /^mdl: matmuls use the reg8x4v4 tiling tuned for this adapter$/m;
    const grads = { gpu: join(dir, 'g-gpu.safetensors'), cpu: join(dir, 'g-cpu.safetensors') };
    const grad = mdl(['grad', textSpec, '--data', data, '-o', grads.gpu]);
    expect(grad.status, grad.stderr).toBe(0);
    expect(grad.stderr).toMatch(said);
    const cpuGrad = mdl(['grad', textSpec, '--data', data, '--backend', 'cpu', '-o', grads.cpu]);
    expect(cpuGrad.status, cpuGrad.stderr).toBe(0);
    expect(cpuGrad.stderr).not.toMatch(said);
    const [g, c] = [readSafetensors(readFileSync(grads.gpu)), readSafetensors(readFileSync(grads.cpu))];
    const floor = 1e-6 * Math.max(...[...c.tensors.values()].map((t) => norm(t.data as Float32Array)));
    for (const [n, t] of c.tensors) expect(relativeError(g.tensors.get(n)!.data as Float32Array, t.data as Float32Array, floor), n).toBeLessThan(1e-3);
    const weights = join(dir, 'w.safetensors');
    const train2 = mdl(['train', textSpec, '--data', data, '--steps', '2', '--batch-tokens', '32', '-o', weights]);
    expect(train2.status, train2.stderr).toBe(0);
    expect(train2.stderr).toMatch(said);
    const ev = mdl(['eval', textSpec, '--weights', weights, '--data', data, '--json']);
    expect(ev.status, ev.stderr).toBe(0);
    expect(ev.stderr).toMatch(said);
    const cpuEv = mdl(['eval', textSpec, '--weights', weights, '--data', data, '--backend', 'cpu', '--json']);
    expect(cpuEv.status, cpuEv.stderr).toBe(0);
    const loss = (out: string) => (JSON.parse(out) as { files: { loss: number }[] }).files[0].loss;
    expect(Math.abs(loss(ev.stdout) - loss(cpuEv.stdout))).toBeLessThan(1e-4 * Math.abs(loss(cpuEv.stdout)));
  });

  it('offers each attention site the row-wise shapes, times them round by round and reports the choice', { timeout: 120_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdl-tune-rowwise-'));
    const spec = join(dir, 'tiny.mdl');
    writeFileSync(spec, SPEC);
    const tune = spawnSync(process.execPath, ['bin/mdl.js', 'tune', spec, '--length', '16', '--repeats', '2', '--variants', '3', '--no-matmul', '--json'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, MDL_CACHE_DIR: dir, NO_COLOR: '1' },
    });
    expect(tune.status, tune.stderr).toBe(0);
    // Head dim 16: the default shape, then the two row-wise ones.
    expect(tune.stderr).toMatch(/^ {4}\[1\/3\] 32×64\/1 +[\d.]+ ms$/m);
    expect(tune.stderr).toMatch(/^ {4}\[2\/3\] 64×32\/1 row-wise [\d.]+ ms$/m);
    expect(tune.stderr).toMatch(/^ {4}\[3\/3\] 32×32\/1 row-wise [\d.]+ ms$/m);
    const report = JSON.parse(tune.stdout) as { sites: { site: string; outcome: { best: { tiles: object }; results: { tiles: object; timing: { samples: number[] } }[] } }[] };
    // The full pass's attention site, then the decode step's under a signature of its own.
    expect(report.sites.map((s) => s.site)).toEqual([expect.not.stringMatching(/decode step/), expect.stringMatching(/\(decode step\)$/)]);
    const { outcome } = report.sites[0];
    // Every variant once per round: the same number of samples each, at least the 2 rounds asked for and at most 5×
    // as many (kernels this small get the extra rounds).
    const counts = outcome.results.map((r) => r.timing.samples.length);
    expect(new Set(counts).size).toBe(1);
    expect(counts[0]).toBeGreaterThanOrEqual(2);
    expect(counts[0]).toBeLessThanOrEqual(10);
    expect(outcome.results.map((r) => r.tiles)).toContainEqual(outcome.best.tiles);
    const cache = JSON.parse(readFileSync(join(dir, 'tune.json'), 'utf8')) as { adapters: Record<string, Record<string, { tiles: object }>> };
    expect(Object.values(Object.values(cache.adapters)[0]).map((e) => e.tiles)).toContainEqual(outcome.best.tiles);
    expect(Object.keys(Object.values(cache.adapters)[0])).toHaveLength(2);
  });

  it("tunes at the spec's sequence bound when it is below 256, and at 256 otherwise", { timeout: 120_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdl-tune-length-'));
    const run = (spec: string) =>
      spawnSync(process.execPath, ['bin/mdl.js', 'tune', spec, '--dry-run', '--no-matmul', '--variants', '1', '--repeats', '1'], { cwd: root, encoding: 'utf8', env: { ...process.env, MDL_CACHE_DIR: dir, NO_COLOR: '1' } });
    const translator = run('specs/translator.mdl');
    expect(translator.status, translator.stderr).toBe(0);
    // S, T <= 64 in the spec.
    expect(translator.stderr).toMatch(/^mdl: tuning \d+ attention signature\(s\) of translator on .* \(B=1, L=64\)$/m);
    const spec = join(dir, 'tiny.mdl');
    writeFileSync(spec, SPEC.replace('T <= 32', 'T <= 1024').replace('learned(32)', 'learned(1024)'));
    const tiny = run(spec);
    expect(tiny.status, tiny.stderr).toBe(0);
    expect(tiny.stderr).toMatch(/ \(B=1, L=256\)$/m);
  });
});
