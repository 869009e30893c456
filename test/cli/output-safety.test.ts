// mdl never destroys what it did not write. Output folders (`compile -o`, `serve --build`) replace only a missing
// path, an empty folder, or a folder mdl wrote (its marker lists every file in it); output files (`init -o`,
// `mask --out`) never replace an existing file without --force; the tuning cache and the benchmark report never
// replace a file that is not theirs.
// Everything else is refused in one line with exit status 1, and nothing is touched.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const mdl = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env } });
const fresh = () => mkdtempSync(join(tmpdir(), 'mdl-safety-'));

/** A refusal: exit 1, one line naming the path, nothing on stdout. */
function expectRefused(r: ReturnType<typeof mdl>, path: string, why: RegExp): void {
  expect(r.status, r.stderr).toBe(1);
  expect(r.stdout).toBe('');
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0].startsWith(`mdl: ${path}: `), r.stderr).toBe(true);
  expect(lines[0]).toMatch(why);
}

describe('mdl compile -o', () => {
  it("refuses a folder holding the user's files, and leaves it and its parent as they were", () => {
    const dir = fresh();
    const d = join(dir, 'd');
    mkdirSync(d);
    writeFileSync(join(d, 'thesis.tex'), 'precious\n');
    expectRefused(mdl(['compile', 'specs/translator.mdl', '-o', d]), d, /is not a folder mdl wrote.*refusing to replace it/);
    expect(readdirSync(d)).toEqual(['thesis.tex']);
    expect(readFileSync(join(d, 'thesis.tex'), 'utf8')).toBe('precious\n');
    expect(readdirSync(dir)).toEqual(['d']);
  });

  it('refuses a regular file and a symbolic link', () => {
    const dir = fresh();
    const passwd = join(dir, 'passwd');
    writeFileSync(passwd, 'root:x:0:0:root:/root:/bin/bash\n');
    expectRefused(mdl(['compile', 'specs/translator.mdl', '-o', passwd]), passwd, /is a file, not a folder mdl wrote/);
    expect(readFileSync(passwd, 'utf8')).toBe('root:x:0:0:root:/root:/bin/bash\n');
    const target = join(dir, 'target');
    mkdirSync(target);
    const link = join(dir, 'link');
    symlinkSync(target, link);
    expectRefused(mdl(['compile', 'specs/translator.mdl', '-o', link]), link, /is a symbolic link/);
    expect(readdirSync(dir).sort()).toEqual(['link', 'passwd', 'target']);
  });

  it('fills an empty folder, replaces its own output with another program, and refuses once a foreign file is added', () => {
    const dir = fresh();
    const out = join(dir, 'out');
    mkdirSync(out);
    const first = mdl(['compile', 'specs/translator.mdl', '-o', out]);
    expect(first.status, first.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).model).toBe('translator');
    // The translator decodes with a KV cache: its decode programs' manifests and kernels are mdl's too.
    expect(readdirSync(out)).toEqual(expect.arrayContaining(['prefill.manifest.json', 'step.manifest.json']));
    // Its own folder, from another spec: replaced whole, so the translator's kernels that packed lacks are gone.
    const second = mdl(['compile', 'specs/packed.mdl', '-o', out]);
    expect(second.status, second.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8'));
    expect(manifest.model).toBe('packed');
    // packed declares a loss: its training programs' manifests are written too.
    const manifests = ['manifest.json', 'prefill.manifest.json', 'step.manifest.json', 'train.manifest.json', 'eval.manifest.json', 'accumulate.manifest.json', 'optimizer.manifest.json'];
    const listed = manifests.flatMap((m) => [
      m,
      ...JSON.parse(readFileSync(join(out, m), 'utf8')).kernels.map((k: { file: string }) => k.file),
    ]);
    // A kernel the decode or training programs share with the full pass is listed by several manifests and written once.
    expect(readdirSync(out).sort()).toEqual([...new Set(listed)].sort());
    expect(readdirSync(out).filter((f) => f.startsWith('step-')).length).toBeGreaterThan(0);
    writeFileSync(join(out, 'notes.txt'), 'mine\n');
    expectRefused(mdl(['compile', 'specs/translator.mdl', '-o', out]), out, /holds files mdl did not write \(notes\.txt\)/);
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('mine\n');
    expect(JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')).model).toBe('packed');
    expect(readdirSync(dir)).toEqual(['out']);
  });

  it("refuses a folder whose decode manifest is not mdl's, even beside mdl's manifest.json", () => {
    const out = join(fresh(), 'out');
    expect(mdl(['compile', 'specs/packed.mdl', '-o', out]).status).toBe(0);
    writeFileSync(join(out, 'step.manifest.json'), '{"name": "my step counter"}\n');
    expectRefused(mdl(['compile', 'specs/packed.mdl', '-o', out]), out, /holds files mdl did not write \(.*step[-.]/);
    expect(readFileSync(join(out, 'step.manifest.json'), 'utf8')).toBe('{"name": "my step counter"}\n');
  });

  it("refuses a folder whose manifest.json is not mdl's", () => {
    const out = join(fresh(), 'out');
    mkdirSync(out);
    writeFileSync(join(out, 'manifest.json'), '{"name": "my web app"}\n');
    expectRefused(mdl(['compile', 'specs/packed.mdl', '-o', out]), out, /no manifest\.json of mdl's/);
    expect(readFileSync(join(out, 'manifest.json'), 'utf8')).toBe('{"name": "my web app"}\n');
  });
});

describe('mdl serve --build', () => {
  it('writes a page folder with its marker, rebuilds over it, and refuses folders and files it did not write', () => {
    const dir = fresh();
    const page = join(dir, 'page');
    const built = mdl(['serve', '--build', page]);
    expect(built.status, built.stderr).toBe(0);
    const marker = JSON.parse(readFileSync(join(page, 'mdl-page.json'), 'utf8'));
    expect(marker.format).toBe('mdl-page/1');
    expect(marker.files).toEqual(expect.arrayContaining(['index.html', 'app.js', 'specs/translator.mdl']));
    const again = mdl(['serve', '--build', page]);
    expect(again.status, again.stderr).toBe(0);
    expect(readdirSync(page)).toContain('index.html');

    const d = join(dir, 'd');
    mkdirSync(d);
    writeFileSync(join(d, 'thesis.tex'), 'precious\n');
    expectRefused(mdl(['serve', '--build', d]), d, /is not a folder mdl wrote \(it has no mdl-page\.json of mdl's\)/);
    expect(readdirSync(d)).toEqual(['thesis.tex']);
    const file = join(dir, 'file');
    writeFileSync(file, 'precious\n');
    expectRefused(mdl(['serve', '--build', file]), file, /is a file/);
    expect(readFileSync(file, 'utf8')).toBe('precious\n');
    writeFileSync(join(page, 'specs', 'mine.mdl'), 'model mine {}\n');
    expectRefused(mdl(['serve', '--build', page]), page, /holds files mdl did not write \(specs\/mine\.mdl\)/);
    expect(readdirSync(dir).sort()).toEqual(['d', 'file', 'page']);
  });
});

describe('output files', () => {
  it('mdl init -o keeps an existing file unless --force, and then replaces it whole', () => {
    const dir = fresh();
    const out = join(dir, 'w.safetensors');
    writeFileSync(out, 'precious\n');
    expectRefused(mdl(['init', 'specs/packed.mdl', '-o', out]), out, /already exists; mdl replaces a file only with --force/);
    expect(readFileSync(out, 'utf8')).toBe('precious\n');
    const forced = mdl(['init', 'specs/packed.mdl', '-o', out, '--force']);
    expect(forced.status, forced.stderr).toBe(0);
    const fresh1 = join(dir, 'fresh.safetensors');
    const plain = mdl(['init', 'specs/packed.mdl', '-o', fresh1]);
    expect(plain.status, plain.stderr).toBe(0);
    expect(readFileSync(out).equals(readFileSync(fresh1))).toBe(true);
    expect(readdirSync(dir).sort()).toEqual(['fresh.safetensors', 'w.safetensors']);
  });

  it('mdl mask --out keeps an existing picture unless --force', () => {
    const dir = fresh();
    const out = join(dir, 'm.svg');
    writeFileSync(out, 'precious\n');
    const args = ['mask', 'specs/translator.mdl', '--mask', 'look_back', '--dims', 'T=4,S=4', '--out', out];
    expectRefused(mdl(args), out, /already exists; mdl replaces a file only with --force/);
    expect(readFileSync(out, 'utf8')).toBe('precious\n');
    const forced = mdl([...args, '--force']);
    expect(forced.status, forced.stderr).toBe(0);
    expect(readFileSync(out, 'utf8')).toMatch(/^<svg /);
    expect(readdirSync(dir)).toEqual(['m.svg']);
  });

  it("mdl tune refuses, before measuring, a tuning cache path that holds a file that is not mdl's", () => {
    const dir = fresh();
    writeFileSync(join(dir, 'tune.json'), 'precious\n');
    const r = mdl(['tune', 'specs/translator.mdl'], { MDL_CACHE_DIR: dir });
    expectRefused(r, join(dir, 'tune.json'), /is not mdl's tuning cache; refusing to replace it/);
    expect(readFileSync(join(dir, 'tune.json'), 'utf8')).toBe('precious\n');
    expect(existsSync(join(dir, 'tune.json'))).toBe(true);
    expect(readdirSync(dir)).toEqual(['tune.json']);
  });

  it("npm run bench refuses, before measuring, an --out (or the JSON beside it) that is not one of its reports", () => {
    const dir = fresh();
    const bench = (args: string[]) => spawnSync(join(root, 'node_modules', '.bin', 'tsx'), ['bench/run.ts', ...args], { cwd: root, encoding: 'utf8' });
    const notes = join(dir, 'notes.md');
    writeFileSync(notes, 'precious\n');
    const r = bench(['--out', notes]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`mdl bench: ${notes} exists and is not a report of npm run bench; refusing to replace it (choose another --out)\n`);
    expect(readFileSync(notes, 'utf8')).toBe('precious\n');
    writeFileSync(join(dir, 'report.json'), '{"mine": true}\n');
    const json = bench(['--out', join(dir, 'report.md')]);
    expect(json.status).toBe(1);
    expect(json.stderr).toContain(`${join(dir, 'report.json')} exists and is not a report of npm run bench`);
    expect(readdirSync(dir).sort()).toEqual(['notes.md', 'report.json']);
  });
});
