// Writing a folder of outputs (a compiled program, a static page). The files are written into a fresh sibling folder
// which then replaces the target in one rename, so a failure never leaves a half-written folder and readers never see
// a mix of old and new files. A compiled model is one .wgsl file per kernel and manifest.json for the full pass, and
// for the decode programs prefill.manifest.json and step.manifest.json with the kernels they do not share with the
// full pass (prefill-NN-…, step-NN-…); a shared kernel is one file, named by each manifest that runs it.
//
// mdl never deletes what it did not write: the target must be missing, an empty folder, or a folder mdl wrote itself,
// recognised by its marker file (a compiled program's manifest.json, a page's mdl-page.json) naming mdl's format
// and listing every file in the folder. Anything else (a regular file, a link, a folder with other files) is refused
// with an OutputError before anything is touched.

import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Lowered } from './passes.ts';
import { TRAINING_MANIFESTS, type NamedProgram } from './training-programs.ts';

export interface CompiledFile {
  file: string;
  text: string;
}

/** The decode programs' manifests, beside manifest.json when the model decodes with a KV cache. */
export const DECODE_MANIFESTS = ['prefill.manifest.json', 'step.manifest.json'];

/** Every file of a compiled model, in a fixed order; a spec with a loss adds its training programs (training-programs.ts). */
export function compiledFiles(lowered: Pick<Lowered, 'rendered' | 'decode'>, training: NamedProgram[] = []): CompiledFile[] {
  const wgsl = (k: { file: string; wgsl: string }) => ({ file: k.file, text: k.wgsl.endsWith('\n') ? k.wgsl : `${k.wgsl}\n` });
  const files = [...lowered.rendered.kernels.map(wgsl), { file: 'manifest.json', text: lowered.rendered.manifest }];
  for (const d of [...(lowered.decode ? [lowered.decode.prefill, lowered.decode.step] : []), ...training]) {
    // Kernels the decode programs share with the full pass (same file name) are written once.
    const written = new Set(files.map((f) => f.file));
    files.push(...d.rendered.kernels.filter((k) => !written.has(k.file)).map(wgsl), { file: `${d.name}.manifest.json`, text: d.rendered.manifest });
  }
  return files;
}

/** The output path cannot be written without destroying something mdl did not write (or cannot be written at all). */
export class OutputError extends Error {}

/** How a kind of output folder recognises itself: its marker file, and the files the marker lists (undefined: not ours). */
export interface FolderKind {
  marker: string;
  /**
   * From the marker's text, the relative paths of every file mdl wrote there, or undefined if the marker is not mdl's.
   * `read` gives the text of another file of the folder (undefined when it is missing or unreadable).
   */
  listed(markerText: string, read: (path: string) => string | undefined): string[] | undefined;
}

/** The kernel files a manifest of format mdl-program/N lists, or undefined when the text is not such a manifest. */
function programKernels(text: string): string[] | undefined {
  const manifest = parseJson(text) as { format?: unknown; kernels?: { file?: unknown }[] } | undefined;
  if (typeof manifest?.format !== 'string' || !manifest.format.startsWith('mdl-program/') || !Array.isArray(manifest.kernels)) return undefined;
  return manifest.kernels.map((k) => String(k?.file));
}

/**
 * A compiled program: manifest.json with format mdl-program/N, listing its kernel files; a decode manifest beside it
 * that is mdl's too lists itself and its own kernels.
 */
export const PROGRAM_FOLDER: FolderKind = {
  marker: 'manifest.json',
  listed(text, read) {
    const files = programKernels(text);
    if (!files) return undefined;
    for (const name of [...DECODE_MANIFESTS, ...TRAINING_MANIFESTS]) {
      const decodeText = read(name);
      const kernels = decodeText === undefined ? undefined : programKernels(decodeText);
      if (kernels) files.push(name, ...kernels);
    }
    return files;
  },
};

export function writeCompiled(dir: string, lowered: Pick<Lowered, 'rendered' | 'decode'>, training: NamedProgram[] = []): string[] {
  const files = new Map(compiledFiles(lowered, training).map((f) => [f.file, f.text]));
  writeOutputFolder(dir, files, PROGRAM_FOLDER);
  return [...files.keys()];
}

/** Replaces `dir` with exactly `files` (relative paths, '/'-separated), after checking that `dir` may be replaced. */
export function writeOutputFolder(dir: string, files: Map<string, string | Uint8Array>, kind: FolderKind): void {
  const existing = checkReplaceable(dir, kind);
  const parent = dirname(dir);
  let staging: string;
  try {
    mkdirSync(parent, { recursive: true });
    staging = mkdtempSync(join(parent, `.${basename(dir)}.tmp-`));
  } catch (e) {
    throw new OutputError(`${dir}: cannot write there (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    for (const [path, body] of files) {
      mkdirSync(dirname(join(staging, path)), { recursive: true });
      writeFileSync(join(staging, path), body);
    }
    const old = existing ? `${staging}.old` : undefined;
    if (old) renameSync(dir, old);
    renameSync(staging, dir);
    if (old) rmSync(old, { recursive: true, force: true });
  } catch (e) {
    rmSync(staging, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    // A full disk or a folder taken away meanwhile: the user's environment, not a fault of mdl's.
    throw code ? new OutputError(`${dir}: cannot write (${code})`) : e;
  }
}

/** Throws OutputError unless `dir` is missing (false), an empty folder or a folder mdl wrote (true). */
export function checkReplaceable(dir: string, kind: FolderKind): boolean {
  let stat;
  try {
    stat = lstatSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new OutputError(`${dir}: cannot inspect (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const refuse = (why: string) => new OutputError(`${dir}: ${why}; refusing to replace it (choose a new or empty folder)`);
  if (stat.isSymbolicLink()) throw refuse('is a symbolic link, not a folder mdl wrote');
  if (!stat.isDirectory()) throw refuse('is a file, not a folder mdl wrote');
  let present: string[];
  try {
    present = filesUnder(dir);
  } catch (e) {
    throw new OutputError(`${dir}: cannot list its files (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (present.length === 0) return true;
  const read = (path: string): string | undefined => {
    try {
      return present.includes(path) ? readFileSync(join(dir, path), 'utf8') : undefined;
    } catch {
      return undefined;
    }
  };
  const markerText = read(kind.marker);
  const listed = markerText === undefined ? undefined : kind.listed(markerText, read);
  if (!listed) throw refuse(`is not a folder mdl wrote (it has no ${kind.marker} of mdl's)`);
  const ours = new Set([kind.marker, ...listed]);
  const foreign = present.filter((f) => !ours.has(f));
  if (foreign.length) throw refuse(`holds files mdl did not write (${foreign.slice(0, 3).join(', ')}${foreign.length > 3 ? ', …' : ''})`);
  return true;
}

/** Relative paths of everything under `dir` that is not a folder (links and other oddities included). */
function filesUnder(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...filesUnder(dir, rel));
    else out.push(rel);
  }
  return out;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
