// Every spec in specs/ runs from the command line, on the CPU reference and on WebGPU, with the same tokens. The
// specs run as shipped except that dims too large for a test (GPT-2 small's width, depth and context) are rewritten
// to small values in a copy; the vocabulary, specials, inputs and masks stay as they are, so the tokenizer, the
// input flags and the masks are exercised on the real declarations.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { npyBytes } from '../support/npy.ts';

const root = join(import.meta.dirname, '..', '..');
const mdl = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
const dir = mkdtempSync(join(tmpdir(), 'mdl-shipped-'));

/** Concrete dims above these values are lowered to them, and every `<= bound` above 64 becomes 64. */
const SMALL: Record<string, number> = { d_model: 96, d_ff: 192, layers: 2, context: 64 };

export function shrink(text: string): string {
  return text
    .replace(/\b(d_model|d_ff|layers|context)(\s*=\s*)(\d+)/g, (all, name: string, eq: string, v: string) => (Number(v) > SMALL[name] ? `${name}${eq}${SMALL[name]}` : all))
    .replace(/<=\s*(\d+)/g, (all, v: string) => (Number(v) > 64 ? '<= 64' : all));
}

const frames = join(dir, 'frames.npy');
writeFileSync(frames, npyBytes([10, 64], Array.from({ length: 640 }, (_, i) => Math.sin(i * 0.37))));

/** What each shipped spec is given; a spec missing here fails the test below. */
const ARGS: Record<string, string[]> = {
  'translator.mdl': ['--source', '我喜欢吃苹果', '--input', 'I'],
  'gpt2-small.mdl': ['--input', 'Hello'],
  'packed.mdl': ['--input', 'mdl', '--set', 'docs=0,0,1'],
  'mask-zoo.mdl': ['--source-tokens', '4,5,6', '--tokens', '7,8', '--set', 'src_len=2', '--set', 'prefix_len=1', '--set', 'docs=0,1'],
  'streaming.mdl': ['--features', `frames=${frames}`, '--set', 'frame_len=8'],
};

const shipped = readdirSync(join(root, 'specs')).filter((f) => f.endsWith('.mdl')).sort();

describe('every shipped spec runs from the command line', () => {
  it('has arguments for every spec in specs/', () => {
    expect(shipped.filter((f) => !ARGS[f])).toEqual([]);
  });

  it('shrinks only the dims it names', () => {
    expect(shrink('dim vocab = 50257, d_model = 768, heads = 12, layers = 12, d_ff = 3072, context = 1024\n dim B, T <= 1024')).toBe(
      'dim vocab = 50257, d_model = 96, heads = 12, layers = 2, d_ff = 192, context = 64\n dim B, T <= 64',
    );
    expect(shrink('dim vocab = 320, d_model = 64, d_ff = 128\n dim B, S <= 64')).toBe('dim vocab = 320, d_model = 64, d_ff = 128\n dim B, S <= 64');
  });

  for (const spec of shipped) {
    it(`${spec}: two steps on the CPU and on WebGPU, the same tokens`, () => {
      const file = join(dir, spec);
      writeFileSync(file, shrink(readFileSync(join(root, 'specs', spec), 'utf8')));
      const run = (backend: string) => {
        const r = mdl('run', file, ...(ARGS[spec] ?? []), '--max-new', '2', '--temperature', '2', '--seed', '5', '--backend', backend, '--json');
        expect(r.stderr).not.toMatch(/internal error/);
        expect(r.status, r.stderr).toBe(0);
        return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { tokens: number[]; prompt: number[] };
      };
      const cpu = run('cpu');
      const gpu = run('gpu');
      expect(cpu.tokens.length).toBeGreaterThan(0);
      expect(gpu.tokens).toEqual(cpu.tokens);
      if (spec === 'gpt2-small.mdl') expect(cpu.prompt).toEqual([...Buffer.from('Hello')]); // bytes are ids 0..255
    });
  }
});
