#!/usr/bin/env node
// The `mdl` command. The compiler is written in TypeScript. For a quick start the command runs dist/mdl.js, one
// JavaScript file that scripts/cli-bundle.mjs builds from the sources with esbuild; it is used only while it matches
// the sources byte for byte, and rebuilt here when they changed. If it cannot be built (a read-only checkout), or
// when MDL_DEBUG is set (so that stack traces name the sources), the sources run through tsx's loader instead.
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleIsFresh, bundlePath, buildBundle } from '../scripts/cli-bundle.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));

async function bundle() {
  if (process.env.MDL_DEBUG) return undefined;
  if (bundleIsFresh(root)) return bundlePath(root);
  try {
    return await buildBundle(root);
  } catch {
    return undefined;
  }
}

const file = await bundle();
if (file) {
  await import(pathToFileURL(file).href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
