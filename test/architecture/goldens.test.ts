// The golden helper never writes a missing golden: the test that reads it fails instead, naming the command that
// writes it. (Each golden folder also fails on a file no case reads: see the case, fusion and mask golden tests.)

import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { expectGolden } from '../support/golden.ts';

describe('golden files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mdl-golden-'));
  const asked = process.env.UPDATE_GOLDENS;
  afterEach(() => {
    if (asked === undefined) delete process.env.UPDATE_GOLDENS;
    else process.env.UPDATE_GOLDENS = asked;
  });

  it('a missing golden fails, and is not created', () => {
    delete process.env.UPDATE_GOLDENS;
    const path = join(dir, 'missing.txt');
    expect(() => expectGolden(path, 'text\n', import.meta.filename)).toThrow(/missing\.txt is missing: `UPDATE_GOLDENS=1 npx vitest run test\/architecture\/goldens\.test\.ts` writes it/);
    expect(existsSync(path)).toBe(false);
  });

  it('a golden that differs fails, and is left as it was', () => {
    delete process.env.UPDATE_GOLDENS;
    const path = join(dir, 'old.txt');
    writeFileSync(path, 'old\n');
    expect(() => expectGolden(path, 'new\n', import.meta.filename)).toThrow(/differs/);
    expect(readFileSync(path, 'utf8')).toBe('old\n');
  });

  it('UPDATE_GOLDENS=1 writes goldens, missing or not', () => {
    process.env.UPDATE_GOLDENS = '1';
    const [missing, old] = [join(dir, 'written.txt'), join(dir, 'rewritten.txt')];
    writeFileSync(old, 'old\n');
    expectGolden(missing, 'a\n', import.meta.filename);
    expectGolden(old, 'b\n', import.meta.filename);
    expect([readFileSync(missing, 'utf8'), readFileSync(old, 'utf8')]).toEqual(['a\n', 'b\n']);
  });
});
