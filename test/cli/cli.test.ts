// The mdl command as a user runs it: exit codes, where output goes, and that no stack trace ever reaches the user.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const mdl = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

describe('mdl check', () => {
  it('passes every shipped spec', () => {
    const r = mdl('check', 'specs/translator.mdl', 'specs/gpt2-small.mdl', 'specs/mask-zoo.mdl', 'specs/streaming.mdl', 'specs/packed.mdl');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(5);
  });

  it('exits 1 with every diagnostic of a bad file, and no stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdl-cli-'));
    const file = join(dir, 'bad.mdl');
    writeFileSync(file, 'model m {\n  dim d = 6, heads = 4\n  dim B, T\n  input x: tokens[B, T] pad 0\n  embed tokens: learned(10, d)\n  stack s x 1 on x { attention self heads = heads\n ffn 8 swish }\n}\n');
    const r = mdl('check', file);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${file}:6:`);
    expect(r.stderr).toContain('error[E301]');
    expect(r.stderr).toContain('error[E503]');
    expect(r.stderr).toContain('^');
    expect(r.stderr).not.toMatch(/\n\s+at .*:\d+:\d+/);
  });

  it('explains a missing file in one line', () => {
    const r = mdl('check', 'no/such/file.mdl');
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('mdl: no/such/file.mdl: no such file');
  });
});

describe('mdl dump', () => {
  it('prints the tokens, AST and IR stages', () => {
    for (const stage of ['tokens', 'ast', 'ir']) {
      const r = mdl('dump', 'specs/translator.mdl', '--stage', stage);
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(100);
    }
  });

  it('names the known stages when given an unknown one', () => {
    const r = mdl('dump', 'specs/translator.mdl', '--stage', 'nope');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/stages: tokens, ast, masks, ir/);
  });
});
