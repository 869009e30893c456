// Rendering diagnostics for people: `file:line:col: error[E301]: message`, the source line, a caret under the span,
// and the hint. Never a stack trace: a diagnostic is about the user's text, not about the compiler.
//
// Output stays bounded whatever the input: at most MAX_SHOWN diagnostics per file (then a count of the rest), and a
// source line longer than MAX_LINE_WIDTH is cut to a window around the caret.

import pc from 'picocolors';
import { lineIndexOf, type LineIndex } from '../lang/source-text.ts';
import type { Diagnostic } from '../lang/diagnostics.ts';

export interface RenderOptions {
  color?: boolean;
}

/** Diagnostics shown per file; a file with more is almost always not a spec, or one broken in one place. */
export const MAX_SHOWN = 50;
/** Source line characters shown around the caret. */
export const MAX_LINE_WIDTH = 120;
/** Of the window, how many characters come before the caret. */
const BEFORE_CARET = 40;

export function renderDiagnostic(d: Diagnostic, text: string, opts: RenderOptions = {}): string {
  return render(d, lineIndexOf(text), opts);
}

function render(d: Diagnostic, lines: LineIndex, opts: RenderOptions): string {
  const c = opts.color ? pc : plain;
  const head = `${d.span.file}:${d.span.line}:${d.span.col}: ${d.severity === 'error' ? c.red('error') : c.yellow('warning')}[${d.code}]: ${d.message}`;
  const hint = (pad: string) => (d.hint ? [`${pad} = ${c.cyan('hint')}: ${d.hint}`] : []);
  if (d.span.wholeFile) return [head, ...hint('')].join('\n');
  const gutter = String(d.span.line);
  const pad = ' '.repeat(gutter.length);
  let raw = lines.line(d.span.line).replace(/\r$/, '');
  let col = d.span.col;
  let lastCol = d.span.endLine === d.span.line ? d.span.endCol : raw.length + 1;
  // A very long line (a minified or generated file) is first cut in UTF-16 units, so the work stays bounded.
  let cutBefore = false;
  let cutAfter = false;
  if (raw.length > 8 * MAX_LINE_WIDTH) {
    const from = Math.max(0, col - 1 - 4 * MAX_LINE_WIDTH);
    const to = Math.min(raw.length, col - 1 + 4 * MAX_LINE_WIDTH);
    cutBefore = from > 0;
    cutAfter = to < raw.length;
    raw = raw.slice(from, to);
    col -= from;
    lastCol = Math.min(lastCol - from, raw.length + 1);
  }
  // Code points, so that non-ASCII names line up; tabs shown as one space so the caret stays under its character.
  const chars = [...raw.replace(/\t/g, ' ')];
  // Underline to the end of the span on its first line (at least one caret).
  let before = [...raw.slice(0, col - 1)].length;
  let width = Math.max(1, [...raw.slice(col - 1, lastCol - 1)].length);
  let from = 0;
  let to = chars.length;
  if (chars.length > MAX_LINE_WIDTH || cutBefore || cutAfter) {
    from = Math.max(0, Math.min(before - BEFORE_CARET, chars.length - MAX_LINE_WIDTH));
    to = Math.min(chars.length, from + MAX_LINE_WIDTH);
  }
  const lead = from > 0 || cutBefore ? '…' : '';
  const shown = `${lead}${chars.slice(from, to).join('')}${to < chars.length || cutAfter ? '…' : ''}`;
  before = before - from + lead.length;
  width = Math.max(1, Math.min(width, to - from + lead.length - before));
  return [head, `${pad} |`, `${gutter} | ${shown}`, `${pad} | ${' '.repeat(before)}${c.red('^'.repeat(width))}`, ...hint(pad)].join('\n');
}

export function renderDiagnostics(ds: Diagnostic[], text: string, opts: RenderOptions = {}): string {
  const lines = lineIndexOf(text);
  const out = ds.slice(0, MAX_SHOWN).map((d) => render(d, lines, opts));
  const rest = ds.length - MAX_SHOWN;
  if (rest > 0) {
    const errors = ds.slice(MAX_SHOWN).filter((d) => d.severity === 'error').length;
    const what = errors === rest ? `error${rest === 1 ? '' : 's'}` : `diagnostic${rest === 1 ? '' : 's'}`;
    out.push(`${ds[0].span.file}: … and ${rest} more ${what}`);
  }
  return out.join('\n\n');
}

const id = (s: string) => s;
const plain = { red: id, yellow: id, cyan: id };
