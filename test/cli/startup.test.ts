// How the mdl command starts: bin/mdl.js runs the bundle dist/mdl.js while it matches the sources, rebuilds it when
// they change, and falls back to the sources through tsx when it cannot build it. Each case runs on a copy of the
// checkout, so that editing sources there cannot disturb other tests. (Not timed: the machine's load varies; the
// benchmark's "CLI startup" section measures it.)

import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

/** A copy of what the command needs: its entry, the bundler script, the sources and the package files. */
function copyOfCheckout(): string {
  const dir = mkdtempSync(join(tmpdir(), 'mdl-startup-'));
  for (const path of ['bin', 'src', 'grammar', 'scripts/cli-bundle.mjs', 'package.json', 'package-lock.json']) cpSync(join(root, path), join(dir, path), { recursive: true });
  symlinkSync(realpathSync(join(root, 'node_modules')), join(dir, 'node_modules'));
  return dir;
}

const mdlIn = (dir: string, args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, [join(dir, 'bin', 'mdl.js'), ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env } });

function editVersion(dir: string, version: string): void {
  const main = join(dir, 'src', 'cli', 'main.ts');
  const text = readFileSync(main, 'utf8');
  const edited = text.replace(/\.version\('[^']*'\)/, `.version('${version}')`);
  expect(edited).not.toBe(text);
  writeFileSync(main, edited);
}

describe('bin/mdl.js', () => {
  it('builds the bundle on first use, runs it while it is fresh, and rebuilds it when a source changes', () => {
    const dir = copyOfCheckout();
    const first = mdlIn(dir, ['--version']);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toBe('0.1.0\n');
    const bundle = join(dir, 'dist', 'mdl.js');
    expect(existsSync(bundle)).toBe(true);

    // A fresh bundle is what runs: replace its body, keep its header, and the replacement answers.
    const [header] = readFileSync(bundle, 'utf8').split('\n', 1);
    expect(header).toMatch(/^\/\/ mdl-bundle \{"hash":"[0-9a-f]{64}","inputs":\[.*"src\/cli\/main\.ts".*\]\}$/);
    writeFileSync(bundle, `${header}\nprocess.stdout.write('from the bundle\\n');\n`);
    expect(mdlIn(dir, ['--version']).stdout).toBe('from the bundle\n');
    // MDL_DEBUG runs the sources, whose stack traces name them.
    expect(mdlIn(dir, ['--version'], { MDL_DEBUG: '1' }).stdout).toBe('0.1.0\n');

    // An edited source makes it stale: it is rebuilt, and the edit shows.
    editVersion(dir, '7.7.7');
    const edited = mdlIn(dir, ['--version']);
    expect(edited.status, edited.stderr).toBe(0);
    expect(edited.stdout).toBe('7.7.7\n');
    expect(readFileSync(bundle, 'utf8')).toContain('.version("7.7.7")');
    const check = mdlIn(dir, ['check', join(root, 'specs', 'translator.mdl')]);
    expect(check.status, check.stderr).toBe(0);
    expect(check.stdout).toContain('ok (model translator)');
  });

  it('runs the sources through tsx when the bundle cannot be written', () => {
    const dir = copyOfCheckout();
    // A file where the dist folder should be: the build fails, the command still works.
    writeFileSync(join(dir, 'dist'), 'not a folder\n');
    editVersion(dir, '8.8.8');
    const r = mdlIn(dir, ['--version']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('8.8.8\n');
    expect(readFileSync(join(dir, 'dist'), 'utf8')).toBe('not a folder\n');
  });
});

describe('commands loaded when they run', () => {
  const mdl = (args: string[]) => mdlIn(root, args);

  it('dump still offers the lowering stages, which register from the lowering code', () => {
    const bad = mdl(['dump', 'specs/packed.mdl', '--stage', 'nope']);
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("stages: tokens, ast, masks, ir, fuse, schedule, wgsl, manifest, cache, decode, grad, train, optimizer\n");
    const manifest = mdl(['dump', 'specs/packed.mdl', '--stage', 'manifest']);
    expect(manifest.status, manifest.stderr).toBe(0);
    expect(manifest.stdout).toContain('"format": "mdl-program/');
    const decode = mdl(['dump', 'specs/packed.mdl', '--stage', 'decode']);
    expect(decode.status, decode.stderr).toBe(0);
    expect(decode.stdout).toMatch(/^prefill:\nprogram packed: \d+ launches/);
    expect(decode.stdout).toMatch(/\nstep:\nprogram packed: \d+ launches/);
    const train = mdl(['dump', 'specs/packed.mdl', '--stage', 'train']);
    expect(train.status, train.stderr).toBe(0);
    expect(train.stdout).toMatch(/^program packed: \d+ launches/);
    expect(train.stdout).toMatch(/ attention-backward-dq /);
    // The optimizer's programs: one accumulation per trained parameter; one share of the norm each, the clipping
    // factor, then one AdamW launch each, with weight decay off for norm scales and biases.
    const opt = mdl(['dump', 'specs/packed.mdl', '--stage', 'optimizer']);
    expect(opt.status, opt.stderr).toBe(0);
    const params = (mdl(['dump', 'specs/packed.mdl', '--stage', 'grad']).stdout.match(/ = param\(\)/g) ?? []).length;
    const count = (family: string) => (opt.stdout.match(new RegExp(` ${family} `, 'g')) ?? []).length;
    expect(opt.stdout).toMatch(/^# accumulate\nprogram packed: \d+ launches/);
    expect(opt.stdout).toMatch(/\n# optimizer\nprogram packed: \d+ launches/);
    expect(count('grad_accumulate')).toBe(params);
    expect(count('adamw')).toBe(params);
    expect(count('grad_sq_partials')).toBe(count('adamw'));
    expect(count('clip_factor')).toBe(1);
    expect(params).toBeGreaterThan(10);
    expect(opt.stdout).toMatch(/ adamw .*param=%decoder\.norm\.weight,.*decayed=0/);
    expect(opt.stdout).toMatch(/ adamw .*param=%decoder\.layers\.0\.ffn\.up_proj\.weight,.*decayed=1/);
    expect(opt.stdout).toContain('$lr: the learning rate of this step');
  });

  it('help lists every command, and an unknown command is named', () => {
    const help = mdl(['--help']);
    expect(help.status).toBe(0);
    const listed = [...help.stdout.matchAll(/^ {2}(\w+) /gm)].map((m) => m[1]);
    expect(listed).toEqual(['check', 'dump', 'mask', 'compile', 'run', 'serve', 'tune', 'demo', 'init', 'import', 'grad', 'train', 'eval', 'help']);
    const unknown = mdl(['chek', 'specs/packed.mdl']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/unknown command 'chek'/);
  });
});

describe('installing', () => {
  it("npm's prepare script (run by npm ci) builds the bundle that the command then runs", () => {
    const dir = copyOfCheckout();
    const r = spawnSync('npm', ['run', '--silent', 'prepare'], { cwd: dir, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const bundle = join(dir, 'dist', 'mdl.js');
    const [header] = readFileSync(bundle, 'utf8').split('\n', 1);
    writeFileSync(bundle, `${header}\nprocess.stdout.write('from the bundle\\n');\n`);
    expect(mdlIn(dir, ['--version']).stdout).toBe('from the bundle\n');
  });

  it('works through a link to bin/mdl.js from another folder, as npm link puts it on PATH', () => {
    const elsewhere = mkdtempSync(join(tmpdir(), 'mdl-linked-'));
    mkdirSync(join(elsewhere, 'bin'));
    symlinkSync(join(root, 'bin', 'mdl.js'), join(elsewhere, 'bin', 'mdl'));
    cpSync(join(root, 'specs', 'packed.mdl'), join(elsewhere, 'packed.mdl'));
    const run = (args: string[]) => spawnSync(join(elsewhere, 'bin', 'mdl'), args, { cwd: elsewhere, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
    expect(run(['--version']).stdout).toBe('0.1.0\n');
    const check = run(['check', 'packed.mdl']);
    expect(check.status, check.stderr).toBe(0);
    expect(check.stdout).toBe('packed.mdl: ok (model packed)\n');
  });
});

describe('the package', () => {
  it("is not named mdl on npm (taken by an unrelated package), keeps the command's name, and npx mdl works in the checkout", () => {
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8'));
    expect(pkg.name).toBe('mdl-compiler');
    expect(lock.name).toBe(pkg.name);
    expect(lock.packages[''].name).toBe(pkg.name);
    expect(pkg.bin).toEqual({ mdl: 'bin/mdl.js' });
    const r = spawnSync('npx', ['--offline', 'mdl', '--version'], { cwd: root, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe('0.1.0\n');
  });

  it('keeps the bundle out of git', () => {
    const r = spawnSync('git', ['check-ignore', '-q', 'dist/mdl.js'], { cwd: root });
    expect(r.status).toBe(0);
  });
});
