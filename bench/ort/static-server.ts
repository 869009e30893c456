// The page ONNX Runtime Web runs in, served from http://127.0.0.1: WebGPU exists only in secure contexts, and a
// loopback origin is one (a data: or file: page gets no adapter). It serves ORT's own bundle and WebAssembly from
// node_modules, the page and its script from this folder, mdl's own page bundle when the benchmark built one, and
// named binary blobs (the model, Q/K/V, the mask bias, reference outputs) that the benchmark registers before asking
// the page to fetch them.

import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join, normalize, sep } from 'node:path';

const here = import.meta.dirname;

/** Where onnxruntime-web keeps its dist files, found through Node's resolver rather than a guessed path. */
function ortDistDir(): string {
  const require = createRequire(import.meta.url);
  // The package's main entry lives in dist/ (its exports map hides package.json itself).
  return dirname(require.resolve('onnxruntime-web'));
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm',
};

export interface BenchServer {
  url: string;
  /** Makes `bytes` available at `/blob/<name>` until replaced. */
  putBlob(name: string, bytes: Uint8Array): void;
  /** Serves a script made in memory (mdl's page bundle) at `/<name>`. */
  putScript(name: string, text: string): void;
  close(): Promise<void>;
}

export async function startBenchServer(): Promise<BenchServer> {
  const ortDir = ortDistDir();
  const blobs = new Map<string, Uint8Array>();
  const scripts = new Map<string, string>();
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname);
    if (path.startsWith('/blob/')) {
      const blob = blobs.get(path.slice('/blob/'.length));
      if (!blob) return void res.writeHead(404).end('no such blob');
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.byteLength });
      return void res.end(blob);
    }
    const script = scripts.get(path.slice(1));
    if (script !== undefined) return void res.writeHead(200, { 'content-type': TYPES['.js'], 'cache-control': 'no-store' }).end(script);
    const file = path.startsWith('/ort/') ? inside(ortDir, path.slice(5)) : path === '/' ? join(here, 'page.html') : inside(here, path.slice(1));
    if (!file || !existsSync(file) || !statSync(file).isFile()) return void res.writeHead(404).end('not found');
    const ext = file.slice(file.lastIndexOf('.'));
    res.writeHead(200, { 'content-type': TYPES[ext] ?? 'application/octet-stream', 'cache-control': 'no-store' });
    createReadStream(file).pipe(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/`,
    putBlob: (name, bytes) => void blobs.set(name, bytes),
    putScript: (name, text) => void scripts.set(name, text),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** `root/rel` when it stays inside root (no `..` escapes), else undefined. */
function inside(root: string, rel: string): string | undefined {
  const full = normalize(join(root, rel));
  return full.startsWith(root + sep) ? full : undefined;
}
