// Writing a single output file the user names (`mdl init -o`, `mdl mask --out`). The bytes go to a temporary file
// beside the target and are then put in place in one step, so a failure never leaves half a file. An existing file
// is never replaced unless the user passes --force: mdl cannot tell its own weights or pictures from the user's.

import { linkSync, lstatSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { UserError } from './user-error.ts';

/** Fails before any work is done: the folder must exist, and the path must not be a folder (nor a file, unless force). */
export function checkOutputFile(path: string, force = false): void {
  const dir = dirname(resolve(path));
  let stat;
  try {
    stat = lstatSync(dir);
  } catch {
    throw new UserError(`${path}: the directory ${dir} does not exist`);
  }
  if (!stat.isDirectory()) throw new UserError(`${path}: ${dir} is not a directory`);
  const existing = lstatOrUndefined(path);
  if (existing?.isDirectory()) throw new UserError(`${path}: is a directory`);
  if (existing && !force) throw new UserError(`${path}: already exists; mdl replaces a file only with --force`);
}

/** Writes `bytes` to `path` atomically; without `force`, fails (nothing written) if `path` exists by then. */
export function writeOutputFile(path: string, bytes: string | Uint8Array, force = false): void {
  checkOutputFile(path, force);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now().toString(36)}.tmp`);
  try {
    writeFileSync(tmp, bytes);
    if (force) renameSync(tmp, path);
    else placeIfAbsent(tmp, path);
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${path}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** A hard link fails if the target exists, so a file that appeared since the check is never clobbered. */
function placeIfAbsent(tmp: string, path: string): void {
  try {
    linkSync(tmp, path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new UserError(`${path}: already exists; mdl replaces a file only with --force`);
    // File systems without hard links: fall back to the check above and a rename.
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EXDEV') throw e;
    if (lstatOrUndefined(path)) throw new UserError(`${path}: already exists; mdl replaces a file only with --force`);
    renameSync(tmp, path);
  }
}

function lstatOrUndefined(path: string) {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}
