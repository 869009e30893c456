// Rendering diagnostics for people: `file:line:col: error[E301]: message`, the source line, a caret under the span,
// and the hint. Never a stack trace: a diagnostic is about the user's text, not about the compiler.

import pc from 'picocolors';
import type { Diagnostic } from '../lang/diagnostics.ts';

export interface RenderOptions {
  color?: boolean;
}

function renderDiagnostic(d: Diagnostic, text: string, opts: RenderOptions = {}): string {
  const c = opts.color ? pc : plain;
  const head = `${d.span.file}:${d.span.line}:${d.span.col}: ${d.severity === 'error' ? c.red('error') : c.yellow('warning')}[${d.code}]: ${d.message}`;
  const lines = text.split('\n');
  const srcLine = (lines[d.span.line - 1] ?? '').replace(/\r$/, '');
  const gutter = String(d.span.line);
  const pad = ' '.repeat(gutter.length);
  // Underline to the end of the span on its first line (at least one caret), measuring in code points so that
  // non-ASCII names line up.
  const before = [...srcLine.slice(0, d.span.col - 1)].length;
  const lastCol = d.span.endLine === d.span.line ? d.span.endCol : srcLine.length + 1;
  const width = Math.max(1, [...srcLine.slice(d.span.col - 1, lastCol - 1)].length);
  const out = [head, `${pad} |`, `${gutter} | ${srcLine.replace(/\t/g, ' ')}`, `${pad} | ${' '.repeat(before)}${c.red('^'.repeat(width))}`];
  if (d.hint) out.push(`${pad} = ${c.cyan('hint')}: ${d.hint}`);
  return out.join('\n');
}

export function renderDiagnostics(ds: Diagnostic[], text: string, opts: RenderOptions = {}): string {
  return ds.map((d) => renderDiagnostic(d, text, opts)).join('\n\n');
}

const id = (s: string) => s;
const plain = { red: id, yellow: id, cyan: id };
