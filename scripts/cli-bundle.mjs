// The `mdl` command's bundle: src/cli/main.ts and everything it imports, compiled by esbuild into one plain
// JavaScript file, dist/mdl.js, which Node starts in a fraction of the time the TypeScript sources take through
// tsx (most of which goes to resolving and transforming hundreds of small modules, chevrotain's dependencies included).
//
// The bundle's first line records a hash of every file it was built from (as esbuild read them) and of package.json
// and package-lock.json (which pin the bundled dependencies). bin/mdl.js runs the bundle only when that hash still
// matches the files on disk, and rebuilds it otherwise, so it is never stale. `npm ci` builds it (the "prepare"
// script); `node scripts/cli-bundle.mjs` builds it by hand. Plain JavaScript, so that it runs without tsx.

import { createHash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const HEADER = '// mdl-bundle ';
/** Files that pin the versions of the bundled npm packages. */
const PINS = ['package.json', 'package-lock.json'];

export function bundlePath(root) {
  return join(root, 'dist', 'mdl.js');
}

/** sha256 over the given files' paths and contents; undefined if one cannot be read (it was moved or deleted). */
function hashFiles(root, paths, contents = new Map()) {
  const hash = createHash('sha256');
  for (const path of paths) {
    let bytes = contents.get(path);
    if (bytes === undefined) {
      try {
        bytes = readFileSync(join(root, path));
      } catch {
        return undefined;
      }
    }
    hash.update(`${path}\0${bytes.length}\0`);
    hash.update(bytes);
  }
  return hash.digest('hex');
}

/** The header of an existing bundle ({hash, inputs}), or undefined if there is none or it cannot be read. */
function readHeader(file) {
  let fd;
  try {
    fd = openSync(file, 'r');
    const buffer = Buffer.alloc(64 * 1024);
    const n = readSync(fd, buffer, 0, buffer.length, 0);
    const text = buffer.subarray(0, n).toString('utf8');
    const end = text.indexOf('\n');
    if (!text.startsWith(HEADER) || end < 0) return undefined;
    const header = JSON.parse(text.slice(HEADER.length, end));
    return typeof header?.hash === 'string' && Array.isArray(header.inputs) ? header : undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Whether dist/mdl.js exists and was built from exactly the files now on disk. */
export function bundleIsFresh(root) {
  const header = readHeader(bundlePath(root));
  return !!header && hashFiles(root, header.inputs) === header.hash;
}

/** Builds dist/mdl.js (written beside it, then renamed into place, so concurrent runs never see half a file). */
export async function buildBundle(root) {
  const { build } = await import('esbuild');
  const read = new Map();
  // Sources are read here rather than by esbuild, so the hash covers exactly the text that was compiled.
  const recordSources = {
    name: 'record-sources',
    setup(b) {
      b.onLoad({ filter: /\.(ts|js|mjs|json)$/ }, (args) => {
        const path = relative(root, args.path).split(sep).join('/');
        if (path.startsWith('..') || path.startsWith('node_modules/')) return undefined;
        const bytes = readFileSync(args.path);
        read.set(path, bytes);
        return { contents: bytes, loader: path.endsWith('.ts') ? 'ts' : path.endsWith('.json') ? 'json' : 'js' };
      });
    },
  };
  const result = await build({
    entryPoints: [join(root, 'src', 'cli', 'main.ts')],
    bundle: true,
    write: false,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Dawn's native module and esbuild's binary stay where npm put them; they are loaded only by commands that use them.
    external: ['webgpu', 'esbuild'],
    // Bundled CommonJS packages (pngjs) call require() for Node's built-in modules.
    banner: { js: "import { createRequire as mdlCreateRequire } from 'node:module'; const require = mdlCreateRequire(import.meta.url);" },
    plugins: [recordSources],
    logLevel: 'silent',
  });
  const inputs = [...[...read.keys()].sort(), ...PINS];
  const hash = hashFiles(root, inputs, read);
  if (!hash) throw new Error('a pinned file (package.json, package-lock.json) cannot be read');
  const file = bundlePath(root);
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${Date.now().toString(36)}.tmp`;
  try {
    writeFileSync(tmp, `${HEADER}${JSON.stringify({ hash, inputs })}\n${result.outputFiles[0].text}`);
    renameSync(tmp, file);
  } finally {
    rmSync(tmp, { force: true });
  }
  return file;
}

// `node scripts/cli-bundle.mjs`: build now.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const file = await buildBundle(root);
  process.stdout.write(`built ${relative(process.cwd(), file) || file}\n`);
}
