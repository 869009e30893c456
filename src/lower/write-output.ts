// Writing a folder of outputs (a compiled program, a static page). The files are written into a fresh sibling folder
// which then replaces the target in one rename, so a failure never leaves a half-written folder and readers never see
// a mix of old and new files.
//
// mdl never deletes what it did not write: the target must be missing, an empty folder, or a folder mdl wrote itself,
// recognised by its marker file (a compiled program's manifest.json, a page's mdl-page.json) naming mdl's format
// and listing every file in the folder. Anything else (a regular file, a link, a folder with other files) is refused
// with an OutputError before anything is touched.

import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Rendered } from './render.ts';

/** The output path cannot be written without destroying something mdl did not write (or cannot be written at all). */
export class OutputError extends Error {}

/** How a kind of output folder recognises itself: its marker file, and the files the marker lists (undefined: not ours). */
export interface FolderKind {
  marker: string;
  /** From the marker's text, the relative paths of every file mdl wrote there, or undefined if the marker is not mdl's. */
  listed(markerText: string): string[] | undefined;
}

/** A compiled program: manifest.json with format mdl-program/N, listing its kernel files. */
export const PROGRAM_FOLDER: FolderKind = {
  marker: 'manifest.json',
  listed(text) {
    const manifest = parseJson(text) as { format?: unknown; kernels?: { file?: unknown }[] } | undefined;
    if (typeof manifest?.format !== 'string' || !manifest.format.startsWith('mdl-program/') || !Array.isArray(manifest.kernels)) return undefined;
    return manifest.kernels.map((k) => String(k?.file));
  },
};

export function writeCompiled(dir: string, rendered: Rendered): string[] {
  const files = new Map<string, string>();
  for (const k of rendered.kernels) files.set(k.file, k.wgsl.endsWith('\n') ? k.wgsl : `${k.wgsl}\n`);
  files.set('manifest.json', rendered.manifest);
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
  let markerText: string | undefined;
  try {
    markerText = present.includes(kind.marker) ? readFileSync(join(dir, kind.marker), 'utf8') : undefined;
  } catch {
    markerText = undefined;
  }
  const listed = markerText === undefined ? undefined : kind.listed(markerText);
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
