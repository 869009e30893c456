// `mdl serve`: the browser page on 127.0.0.1 (or, with --build DIR, the same page as a static folder). The page
// runs the compiler and the runtime in the browser — the same modules as the CLI, bundled by esbuild — on
// `navigator.gpu`.

import type { Command } from 'commander';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { writeOutputFolder, type FolderKind } from '../lower/write-output.ts';
import { repoRoot } from './repo-root.ts';
import { configBeside } from './tokenizer-flags.ts';
import { UserError } from './user-error.ts';

const root = repoRoot();

/** A page written by `--build`: mdl-page.json names mdl's format and lists the page's files. */
export const PAGE_FOLDER: FolderKind = {
  marker: 'mdl-page.json',
  listed(text) {
    let marker: { format?: unknown; files?: unknown } | undefined;
    try {
      marker = JSON.parse(text);
    } catch {
      return undefined;
    }
    if (marker?.format !== 'mdl-page/1' || !Array.isArray(marker.files)) return undefined;
    return marker.files.map(String);
  },
};

/** Where `--weights FILE` is served: open the page with `?weights=/weights.safetensors`. */
export const WEIGHTS_PATH = '/weights.safetensors';

/** Where `--tokenizer FILE` is served (and its tokenizer_config.json, when it has one, beside it). */
export const TOKENIZER_PATH = '/tokenizer.json';

/** The page's files: index.html, app.js (bundled), every spec with their list, and an optional weights and tokenizer file, by URL path. */
async function pageFiles(weightsFile?: string, tokenizerFile?: string): Promise<Map<string, { type: string; body: string | Uint8Array }>> {
  // esbuild is loaded only here, so that other commands start without it.
  const { build } = await import('esbuild');
  const bundle = await build({
    entryPoints: [join(root, 'web', 'app.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // The device module imports Dawn only when running in Node; the browser uses navigator.gpu.
    external: ['webgpu'],
    logLevel: 'silent',
  });
  const files = new Map<string, { type: string; body: string | Uint8Array }>();
  if (weightsFile) {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(weightsFile);
    } catch {
      throw new UserError(`${weightsFile}: cannot read the weights file`);
    }
    files.set(WEIGHTS_PATH, { type: 'application/octet-stream', body: bytes });
  }
  if (tokenizerFile) {
    const configFile = configBeside(tokenizerFile);
    for (const [path, file] of [[TOKENIZER_PATH, tokenizerFile], ['/tokenizer_config.json', configFile]] as const) {
      if (!file) continue;
      try {
        files.set(path, { type: 'application/json; charset=utf-8', body: readFileSync(file, 'utf8') });
      } catch {
        throw new UserError(`${file}: cannot read the tokenizer file`);
      }
    }
  }
  files.set('/index.html', { type: 'text/html; charset=utf-8', body: readFileSync(join(root, 'web', 'index.html'), 'utf8') });
  files.set('/app.js', { type: 'text/javascript; charset=utf-8', body: bundle.outputFiles[0].text });
  const specs = readdirSync(join(root, 'specs')).filter((x) => x.endsWith('.mdl')).sort();
  for (const f of specs) files.set(`/specs/${f}`, { type: 'text/plain; charset=utf-8', body: readFileSync(join(root, 'specs', f), 'utf8') });
  // The page's list of examples.
  files.set('/specs/index.json', { type: 'application/json', body: `${JSON.stringify(specs)}\n` });
  return files;
}

/** Serves the page on 127.0.0.1; resolves with the server and its URL. */
export async function servePage(port = 0, weightsFile?: string, tokenizerFile?: string): Promise<{ server: Server; url: string }> {
  const files = await pageFiles(weightsFile, tokenizerFile);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const file = files.get(path === '/' ? '/index.html' : path);
    if (!file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': file.type, 'cache-control': 'no-store' }).end(file.body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') reject(new UserError(`port ${port} is already in use (choose another with --port, or --port 0 for any free port)`));
      else if (e.code === 'EACCES') reject(new UserError(`port ${port} needs privileges this user lacks (choose one above 1023, or --port 0)`));
      else reject(e);
    });
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('the server has no port');
  return { server, url: `http://127.0.0.1:${address.port}/` };
}

export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('serve the browser page on 127.0.0.1, or write it to a folder with --build')
    .option('--port <n>', 'port (default: any free port)', '0')
    .option('--build <dir>', 'write the static page to DIR instead of serving it')
    .option('--weights <file>', `a safetensors file to serve at ${WEIGHTS_PATH} (open the page with ?weights=${WEIGHTS_PATH})`)
    .option('--tokenizer <file>', `a tokenizer.json to serve at ${TOKENIZER_PATH} (open the page with ?tokenizer=${TOKENIZER_PATH})`)
    .action(async (opts: { port: string; build?: string; weights?: string; tokenizer?: string }) => {
      if (opts.build) {
        const files = await pageFiles(opts.weights, opts.tokenizer);
        const out = new Map([...files].map(([path, f]) => [path.slice(1), f.body]));
        out.set(PAGE_FOLDER.marker, `${JSON.stringify({ format: 'mdl-page/1', files: [...out.keys()] }, null, 2)}\n`);
        writeOutputFolder(opts.build, out, PAGE_FOLDER);
        process.stdout.write(`wrote ${out.size} files to ${opts.build}/ (serve it over http; WebGPU needs a secure context such as localhost)\n`);
        return;
      }
      const port = Number(opts.port);
      if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UserError(`--port takes 0..65535, not '${opts.port}'`);
      const { server, url } = await servePage(port, opts.weights, opts.tokenizer);
      const hint = (opts.weights ? `?weights=${WEIGHTS_PATH} to use ${opts.weights}; ` : '') + (opts.tokenizer ? `?tokenizer=${TOKENIZER_PATH} to use ${opts.tokenizer}; ` : '');
      process.stdout.write(`mdl page on ${url}  (open it in a browser with WebGPU; ${hint}?spec=specs/packed.mdl&input=Hello to change the model; Ctrl-C stops)\n`);
      await untilInterrupted(server);
    });
}

/** Serves until SIGINT (Ctrl-C) or SIGTERM, then closes the server and its open connections and resolves. */
function untilInterrupted(server: Server): Promise<void> {
  return new Promise((resolve) => {
    const stop = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      server.close(() => resolve());
      // Browsers keep connections alive; without this the close would wait for them.
      server.closeAllConnections();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}
