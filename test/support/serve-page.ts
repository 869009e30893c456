// Starting `mdl serve` as a user does (the real command, as a process) and headless Chromium with WebGPU on
// SwiftShader, for the browser tests.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

export const root = join(import.meta.dirname, '..', '..');
export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_FLAGS = ['--no-sandbox', '--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

export interface Served {
  child: ChildProcess;
  url: string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  output: () => { stdout: string; stderr: string };
}

/** Starts `mdl serve --port 0 [args]` and resolves once it has printed its URL. */
export function startServe(...args: string[]): Promise<Served> {
  const child = spawn(process.execPath, [join(root, 'bin', 'mdl.js'), 'serve', '--port', '0', ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1' } });
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
