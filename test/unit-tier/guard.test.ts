// The unit tier (`npm run test:unit`) runs every test file that needs no WebGPU device, and cannot run one that
// does: its workers, and every process they spawn, fail to load Dawn or Playwright.

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const hook = join(root, 'test', 'unit-tier', 'no-device.mjs');
// Through require, which the guard's hooks leave alone, so that this file also runs inside the guarded tier.
const fileOf = (pkg: string) => pathToFileURL(createRequire(import.meta.url).resolve(pkg)).href;

describe('the unit tier', () => {
  it('leaves every test file that imports the device to the full tier, and keeps the rest', async () => {
    const before = process.env.NODE_OPTIONS;
    const { unitTestFiles, SPAWNS_A_DEVICE, NEEDS_DEVICE } = await import('../../vitest.unit.config.ts');
    // Loading the config is what arms the guard for the workers it starts.
    expect(process.env.NODE_OPTIONS).toContain(`--import=${hook}`);
    process.env.NODE_OPTIONS = before;
    const unit = unitTestFiles();
    for (const f of unit) expect(readFileSync(join(root, f), 'utf8'), f).not.toMatch(NEEDS_DEVICE);
    const importOf = (path: string) => `import { x } from '${path}';`;
    for (const path of ['../runtime/gpu-harness.ts', '../../src/runtime/device.ts', 'playwright-core']) expect(NEEDS_DEVICE.test(importOf(path)), path).toBe(true);
    expect(unit).toContain('test/unit-tier/guard.test.ts');
    for (const f of SPAWNS_A_DEVICE) expect(unit).not.toContain(f);
    expect(unit).toContain('test/front/cases.test.ts');
    expect(unit).toContain('test/architecture/layering.test.ts');
    expect(unit).not.toContain('test/runtime/kv-cache.test.ts');
    expect(unit).not.toContain('test/browser/page.test.ts');
  });

  it('fails a process that asks for a WebGPU device, with a sentence saying where the test belongs', () => {
    const run = spawnSync(process.execPath, ['bin/mdl.js', 'run', 'specs/translator.mdl', '--source', 'hi', '--max-new', '1'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: `--import=${hook}` },
    });
    expect(run.status).not.toBe(0);
    expect(run.stderr).toMatch(/'webgpu' is not available in the unit tier \(npm run test:unit\)/);
  });

  it('fails loading Dawn or Playwright by its resolved file too, as test runners import packages', () => {
    for (const pkg of ['webgpu', 'playwright-core']) {
      const script = `import(${JSON.stringify(fileOf(pkg))}).then(() => process.exit(0), (e) => { console.error(e.message); process.exit(3); })`;
      const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: `--import=${hook}` } });
      expect(run.status, pkg).toBe(3);
      expect(run.stderr).toContain(`'${pkg}' is not available in the unit tier`);
    }
  });

  it('lets the same processes load Dawn without the guard (the check above is the guard, not a broken install)', () => {
    const script = `import(${JSON.stringify(fileOf('webgpu'))}).then(() => process.exit(0), () => process.exit(3))`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
    expect(run.status).toBe(0);
  });
});
