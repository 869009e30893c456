// `mdl init` as a user runs it: the same bytes for the same seed, a file every reader accepts for its spec, one-line
// errors, and never a partial file.

import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { checkOutputPath, parseDtype, parseSeed } from '../../src/cli/init-command.ts';
import { UserError } from '../../src/cli/user-error.ts';
import { buildIr } from '../../src/ir/build.ts';
import { loadWeightsFile, readSafetensorsFile } from '../../src/runtime/safetensors-file.ts';
import { WeightsError } from '../../src/runtime/weights.ts';

const root = join(import.meta.dirname, '..', '..');
const mdl = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
/** The same, without blocking, so independent runs can go in parallel (each one starts a fresh Node). */
const mdlAsync = (...args: string[]) =>
  new Promise<{ status: number; stdout: string; stderr: string }>((done) => {
    execFile(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } }, (e, stdout, stderr) =>
      done({ status: e ? Number(e.code ?? -1) : 0, stdout, stderr }),
    );
  });
const dir = mkdtempSync(join(tmpdir(), 'mdl-init-'));
const translatorText = readFileSync(join(root, 'specs', 'translator.mdl'), 'utf8');

async function init(seed: string, name: string): Promise<string> {
  const out = join(dir, name);
  const r = await mdlAsync('init', 'specs/translator.mdl', '--seed', seed, '-o', out);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  expect(r.stdout).toMatch(new RegExp(`^${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: translator, 89 tensors, 264,448 parameters \\(F32, seed ${seed}\\), [\\d,]+ bytes\\n$`));
  return out;
}

describe('mdl init', () => {
  it('writes the same bytes for the same seed, and other bytes for another seed', async () => {
    const [a, b, c] = (await Promise.all([init('1', 'a.safetensors'), init('1', 'b.safetensors'), init('2', 'c.safetensors')])).map((p) => readFileSync(p));
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
    expect(a.length).toBe(c.length);
  });

  it('writes a file that fits its spec, with the model and seed in the metadata and the documented scales', async () => {
    const path = await init('3', 'fits.safetensors');
    const file = readSafetensorsFile(path);
    expect(file.metadata).toEqual({ format: 'pt', model: 'translator', seed: '3' });
    const ir = buildIr(checkSource(translatorText, 'translator.mdl').model!);
    const weights = loadWeightsFile(path, ir);
    expect(weights.size).toBe(89);
    expect(new Set(weights.get('decoder.layers.1.ffn_norm.weight'))).toEqual(new Set([1]));
    expect(new Set(weights.get('encoder.layers.0.self_attn.q_proj.bias'))).toEqual(new Set([0]));
    const w = weights.get('encoder.layers.0.ffn.up_proj.weight')!;
    const mean = w.reduce((s, x) => s + x, 0) / w.length;
    const std = Math.sqrt(w.reduce((s, x) => s + (x - mean) ** 2, 0) / w.length);
    expect(Math.abs(mean)).toBeLessThan(0.001);
    expect(std).toBeGreaterThan(0.019);
    expect(std).toBeLessThan(0.021);
  });

  it('rejects the file for a spec of another shape, naming each tensor with expected and found shapes', async () => {
    const path = await init('1', 'for-translator.safetensors');
    const narrower = buildIr(checkSource(translatorText.replace('d_ff = 256', 'd_ff = 128'), 'narrow.mdl').model!);
    let error: unknown;
    try {
      loadWeightsFile(path, narrower);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(WeightsError);
    expect((error as Error).message).toContain(`${path}: the weights do not match the spec (12 problems):`);
    expect((error as Error).message).toContain('tensor decoder.layers.1.ffn.down_proj.weight: expected shape [64, 128], found [64, 256]');
  });
});

describe('mdl init errors', () => {
  it('accepts seeds from 0 to 2^32 - 1 and the dtypes f32 and f16', () => {
    expect([parseSeed('0'), parseSeed('4294967295'), parseSeed('007')]).toEqual([0, 4294967295, 7]);
    for (const bad of ['4294967296', '1.5', '-1', '', '1e3', ' 1', '0x10']) {
      expect(() => parseSeed(bad)).toThrow(new UserError(`--seed: expected an integer from 0 to 4294967295, got '${bad}'`));
    }
    expect([parseDtype('f32'), parseDtype('F16')]).toEqual(['F32', 'F16']);
    expect(() => parseDtype('bf16')).toThrow(new UserError(`--dtype: expected f32 or f16, got 'bf16'`));
  });

  it('refuses a directory as the output', () => {
    expect(() => checkOutputPath(dir)).toThrow(new UserError(`${dir}: is a directory`));
  });

  it('explains a bad seed, a missing directory and a missing output in one line, writing nothing', async () => {
    const out = join(dir, 'never.safetensors');
    const cases = [
      [['--seed', '-3', '-o', out], "mdl: --seed: expected an integer from 0 to 4294967295, got '-3'"],
      [['-o', join(dir, 'no', 'such', 'dir', 'w.safetensors')], `mdl: ${join(dir, 'no', 'such', 'dir', 'w.safetensors')}: the directory ${join(dir, 'no', 'such', 'dir')} does not exist`],
      [[], "error: required option '-o, --output <path>' not specified"],
    ] as const;
    const results = await Promise.all(cases.map(([args]) => mdlAsync('init', 'specs/translator.mdl', ...args)));
    results.forEach((r, i) => {
      expect(r.status).toBe(1);
      expect(r.stderr.trim().split('\n')[0]).toBe(cases[i][1]);
    });
    expect(existsSync(out)).toBe(false);
  });

  it('leaves an existing file untouched and no temporary file behind when the spec has errors', () => {
    const sub = mkdtempSync(join(dir, 'keep-'));
    const bad = join(sub, 'bad.mdl');
    const out = join(sub, 'w.safetensors');
    writeFileSync(bad, 'model m {\n  dim d = 6, heads = 4\n  dim B, T\n  input x: tokens[B, T] pad 0\n  embed tokens: learned(10, d)\n  stack s x 1 on x { attention self heads = heads }\n}\n');
    writeFileSync(out, 'previous');
    const r = mdl('init', bad, '--seed', '1', '-o', out);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('error[E301]');
    expect(readFileSync(out, 'utf8')).toBe('previous');
    expect(readdirSync(sub).sort()).toEqual(['bad.mdl', 'w.safetensors']);
  });

  it('with --force, replaces an existing file whole, leaving no temporary file (here in half precision)', () => {
    const sub = mkdtempSync(join(dir, 'replace-'));
    const out = join(sub, 'w.safetensors');
    writeFileSync(out, 'previous');
    const r = mdl('init', 'specs/translator.mdl', '--seed', '9', '-o', out, '--dtype', 'f16', '--force');
    expect(r.status, r.stderr).toBe(0);
    const file = readSafetensorsFile(out);
    expect(file.metadata.seed).toBe('9');
    expect([...file.tensors.values()].every((t) => t.dtype === 'F16')).toBe(true);
    expect(readdirSync(sub)).toEqual(['w.safetensors']);
  });
});
