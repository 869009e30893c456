// `mdl serve` as a user runs it: the real command, started as a process, serves the page until it is interrupted.
// Headless Chromium (Debian's /usr/bin/chromium, WebGPU on SwiftShader, launched as in test/browser/page.test.ts)
// loads the page through the URL the command prints and generates tokens with it; SIGINT (Ctrl-C) and SIGTERM then
// close the server and the command exits with status 0. A busy --port is a one-line error with status 1.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const CHROMIUM_FLAGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

interface Served {
  child: ChildProcess;
  url: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => { stdout: string; stderr: string };
}

/** Starts `mdl serve --port 0` and resolves once it has printed its URL. */
function startServe(): Promise<Served> {
  const child = spawn(process.execPath, [join(root, 'bin', 'mdl.js'), 'serve', '--port', '0'], { cwd: root, env: { ...process.env, NO_COLOR: '1' } });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) => child.on('exit', (code, signal) => done({ code, signal })));
  return new Promise((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      stdout += d;
      const m = /^mdl page on (http:\/\/127\.0\.0\.1:\d+\/) /m.exec(stdout);
      if (m) resolve({ child, url: m[1], exit, output: () => ({ stdout, stderr }) });
    });
    void exit.then((e) => reject(new Error(`mdl serve exited early (${JSON.stringify(e)}): ${stderr}`)));
  });
}

describe('mdl serve, the real process', () => {
  it('serves the page until SIGINT: Chromium generates through its URL the tokens mdl run generates, then it exits 0', async () => {
    const served = await startServe();
    const browser = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), 'mdl-chromium-')), { executablePath: '/usr/bin/chromium', headless: true, args: CHROMIUM_FLAGS });
    try {
      // The command is still running after printing its URL, and keeps answering.
      expect(served.child.exitCode).toBeNull();
      const page = await browser.newPage();
      const logs: string[] = [];
      page.on('console', (m) => logs.push(m.text()));
      await page.goto(`${served.url}?spec=specs/translator.mdl&max=3`);
      await page.waitForFunction(() => window.mdlResult || window.mdlError, undefined, { timeout: 180_000 });
      expect(await page.evaluate(() => window.mdlError), logs.join('\n')).toBeUndefined();
      const result = (await page.evaluate(() => window.mdlResult))!;
      expect(result.tokens).toHaveLength(3);
      // The page's defaults (source 我喜欢吃苹果, seed 1, greedy) as `mdl run` takes them, in its own process.
      const run = spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), 'run', 'specs/translator.mdl', '--source', '我喜欢吃苹果', '--max-new', '3', '--seed', '1', '--json'], { cwd: root, encoding: 'utf8' });
      expect(run.status, run.stderr).toBe(0);
      expect(result.tokens).toEqual(JSON.parse(run.stdout.trim().split("\n").at(-1)!).tokens);
      expect(await page.locator('#output').textContent()).toContain(`tokens: ${result.tokens.join(' ')}`);

      // Ctrl-C while the browser still holds its connections open.
      served.child.kill('SIGINT');
      expect(await served.exit).toEqual({ code: 0, signal: null });
      expect(served.output().stderr).toBe('');
      await expect(fetch(served.url)).rejects.toThrow();
    } finally {
      served.child.kill('SIGKILL');
      await browser.close();
    }
  });

  it('exits 0 on SIGTERM', async () => {
    const served = await startServe();
    const page = await fetch(served.url);
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('<pre id="output">');
    served.child.kill('SIGTERM');
    expect(await served.exit).toEqual({ code: 0, signal: null });
    expect(served.output().stderr).toBe('');
  });

  it('reports a busy --port in one line and exits 1', async () => {
    const blocker = createServer();
    await new Promise<void>((done) => blocker.listen(0, '127.0.0.1', done));
    const port = (blocker.address() as { port: number }).port;
    try {
      const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
        const child = spawn(process.execPath, [join(root, 'bin', 'mdl.js'), 'serve', '--port', String(port)], { cwd: root });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('exit', (status) => done({ status, stdout, stderr }));
      });
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`mdl: port ${port} is already in use (choose another with --port, or --port 0 for any free port)\n`);
    } finally {
      blocker.close();
    }
  });
});
