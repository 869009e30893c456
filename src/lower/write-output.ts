// Writing a compiled model to a directory: one .wgsl file per kernel and manifest.json for the full pass, and for the
// decode programs their kernels (prefill-NN-…, step-NN-…) with prefill.manifest.json and step.manifest.json. The
// files are written into a fresh sibling directory which then replaces the target in one rename, so a failure never
// leaves a half-written output directory and readers never see a mix of old and new files.

import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Lowered } from './passes.ts';

export interface CompiledFile {
  file: string;
  text: string;
}

/** Every file of a compiled model, in a fixed order. */
export function compiledFiles(lowered: Pick<Lowered, 'rendered' | 'decode'>): CompiledFile[] {
  const wgsl = (k: { file: string; wgsl: string }) => ({ file: k.file, text: k.wgsl.endsWith('\n') ? k.wgsl : `${k.wgsl}\n` });
  const files = [...lowered.rendered.kernels.map(wgsl), { file: 'manifest.json', text: lowered.rendered.manifest }];
  for (const d of lowered.decode ? [lowered.decode.prefill, lowered.decode.step] : []) {
    files.push(...d.rendered.kernels.map(wgsl), { file: `${d.name}.manifest.json`, text: d.rendered.manifest });
  }
  return files;
}

export function writeCompiled(dir: string, lowered: Pick<Lowered, 'rendered' | 'decode'>): string[] {
  const parent = dirname(dir);
  mkdirSync(parent, { recursive: true });
  const staging = mkdtempSync(join(parent, `.${basename(dir)}.tmp-`));
  try {
    const compiled = compiledFiles(lowered);
    for (const f of compiled) writeFileSync(join(staging, f.file), f.text);
    const files = compiled.map((f) => f.file);
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
