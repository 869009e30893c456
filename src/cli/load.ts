// Loading specs for the commands: read, parse, check, and print diagnostics the same way everywhere.

import { readFileSync } from 'node:fs';
import { checkSource, type CheckResult } from '../check/check.ts';
import { renderDiagnostics } from '../check/render.ts';
import { UserError } from './user-error.ts';

export function readSpec(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new UserError(`${path}: no such file`);
    if (code === 'EISDIR') throw new UserError(`${path}: is a directory, not a .mdl file`);
    throw new UserError(`${path}: cannot read (${code ?? (e as Error).message})`);
  }
}

/** Checks a spec, printing its diagnostics to stderr. Returns the result; `model` is set only when it has no errors. */
export function loadSpec(path: string): CheckResult & { text: string } {
  const text = readSpec(path);
  const result = checkSource(text, path);
  if (result.diagnostics.length) process.stderr.write(`${renderDiagnostics(result.diagnostics, text, { color: useColor() })}\n`);
  return { ...result, text };
}

/** Like loadSpec, but a spec with errors stops the command (status 1) after its diagnostics are printed. */
export function requireModel(path: string) {
  const r = loadSpec(path);
  if (!r.model) {
    const n = r.diagnostics.filter((d) => d.severity === 'error').length;
    throw new UserError(`${path}: ${n} error${n === 1 ? '' : 's'}`);
  }
  return { ...r, model: r.model };
}

function useColor(): boolean {
  return !!process.stderr.isTTY && !process.env.NO_COLOR;
}
