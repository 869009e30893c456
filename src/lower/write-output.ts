// Writing a compiled program to a directory: one .wgsl file per kernel and manifest.json. The files are written into
// a fresh sibling directory which then replaces the target in one rename, so a failure never leaves a half-written
// output directory and readers never see a mix of old and new files.

import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Rendered } from './render.ts';

export function writeCompiled(dir: string, rendered: Rendered): string[] {
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  const staging = mkdtempSync(join(parent, `.${basename(dir)}.tmp-`));
  try {
    const files = [...rendered.kernels.map((k) => k.file), 'manifest.json'];
    for (const k of rendered.kernels) writeFileSync(join(staging, k.file), k.wgsl.endsWith('\n') ? k.wgsl : `${k.wgsl}\n`);
    writeFileSync(join(staging, 'manifest.json'), rendered.manifest);
    const old = existsSync(dir) ? `${staging}.old` : undefined;
    if (old) renameSync(dir, old);
    renameSync(staging, dir);
    if (old) rmSync(old, { recursive: true, force: true });
    return files;
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    throw e;
  }
}
