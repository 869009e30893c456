// What the README promises about the language: its tour checks cleanly with the real mdl, including its named
// score modifier, and a model with nothing to output is an error with a place, for check and compile alike.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'mdl-readme-'));
const mdl = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

/** The ```mdl blocks of the README, in order. */
function readmeSpecs(): string[] {
  const text = readFileSync(join(root, 'README.md'), 'utf8');
  return [...text.matchAll(/^```mdl\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

describe("the README's tour", () => {
  it('checks cleanly with mdl check, and declares a score modifier that an attention layer uses', () => {
    const blocks = readmeSpecs();
    expect(blocks.length).toBeGreaterThanOrEqual(1);
    for (const [i, block] of blocks.entries()) {
      const file = join(dir, `tour-${i}.mdl`);
      writeFileSync(file, block);
      const r = mdl('check', file);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
    const tour = blocks[0];
    expect(tour).toMatch(/^\s*score capped\s+= softcap\(30\)/m);
    const model = checkSource(tour, 'README.md').model!;
    expect(model.scores.get('capped')?.mods).toEqual([expect.objectContaining({ kind: 'softcap' })]);
    const users = model.stacks.flatMap((s) => s.layers).filter((l) => l.kind === 'attention' && l.score?.name === 'capped');
    expect(users).toHaveLength(1);
  });
});

describe('a model with nothing to output', () => {
  it('is an E513 error at the model name for check and compile, and compile writes nothing', () => {
    const file = join(dir, 'empty.mdl');
    writeFileSync(file, '// nothing inside\nmodel x {}\n');
    const check = mdl('check', file);
    expect(check.status).toBe(1);
    expect(check.stderr).toContain(`${file}:2:7: error[E513]: model 'x' has no stack, so it has nothing to output`);
    expect(check.stderr).toContain('2 | model x {}\n  |       ^');
    const out = join(dir, 'out');
    const compile = mdl('compile', file, '-o', out);
    expect(compile.status).toBe(1);
    expect(compile.stderr).toContain('error[E513]');
    expect(existsSync(out)).toBe(false);
  });
});
