// How diagnostics are shown: bounded however many there are and however long the line they point into.

import { describe, expect, it } from 'vitest';
import type { Diagnostic } from '../../src/lang/diagnostics.ts';
import { MAX_LINE_WIDTH, MAX_SHOWN, renderDiagnostic, renderDiagnostics } from '../../src/check/render.ts';
import { spanAt } from '../../src/lang/parse.ts';
import { binaryReason } from '../../src/lang/source-text.ts';

const at = (text: string, offset: number, length: number, code = 'E102'): Diagnostic => ({
  code,
  severity: 'error',
  message: 'something is wrong',
  span: spanAt(text, 'f.mdl', offset, length),
});

describe('diagnostic rendering', () => {
  it('shows a short line whole, with the caret under the span', () => {
    const text = 'model m {\n  dim x = 1 +\n}\n';
    const out = renderDiagnostic(at(text, text.indexOf('+'), 1), text);
    expect(out.split('\n')).toEqual(['f.mdl:2:13: error[E102]: something is wrong', '  |', '2 |   dim x = 1 +', '  |             ^']);
  });

  it('cuts a long line to a window around the caret, with ellipses', () => {
    const text = `${'a '.repeat(5000)}BAD${' b'.repeat(5000)}`;
    const out = renderDiagnostic(at(text, text.indexOf('BAD'), 3), text).split('\n');
    const [line, caret] = [out[2].slice('1 | '.length), out[3].slice('  | '.length)];
    expect(line.startsWith('…')).toBe(true);
    expect(line.endsWith('…')).toBe(true);
    expect([...line].length).toBeLessThanOrEqual(MAX_LINE_WIDTH + 2);
    // The caret still stands under the word it points at.
    expect(caret).toMatch(/^ *\^\^\^$/);
    expect([...line].slice(caret.indexOf('^'), caret.indexOf('^') + 3).join('')).toBe('BAD');
  });

  it('keeps the caret on a long line whose error is near its start or end', () => {
    const text = `BAD${' x'.repeat(3000)}END`;
    for (const [word, lead] of [['BAD', ''], ['END', '…']]) {
      const out = renderDiagnostic(at(text, text.indexOf(word), 3), text).split('\n');
      const line = out[2].slice('1 | '.length);
      const caret = out[3].slice('  | '.length);
      expect(line.startsWith(lead === '…' ? '…' : 'BAD')).toBe(true);
      expect([...line].slice(caret.indexOf('^'), caret.indexOf('^') + 3).join('')).toBe(word);
    }
  });

  it(`shows at most ${MAX_SHOWN} diagnostics, then how many more there are`, () => {
    const text = 'x\n'.repeat(500);
    const ds = Array.from({ length: 500 }, (_, i) => at(text, 2 * i, 1));
    const out = renderDiagnostics(ds, text);
    expect(out.match(/error\[E102\]/g)).toHaveLength(MAX_SHOWN);
    expect(out.endsWith(`f.mdl: … and ${500 - MAX_SHOWN} more errors`)).toBe(true);
  });

  it('shows a diagnostic about the whole file as its head and hint only', () => {
    const d: Diagnostic = { ...at('\0\0', 0, 0, 'E109'), hint: 'pass the spec' };
    d.span = { ...d.span, wholeFile: true };
    expect(renderDiagnostic(d, '\0\0')).toBe('f.mdl:1:1: error[E109]: something is wrong\n = hint: pass the spec');
  });
});

describe('binary detection', () => {
  it('tells text from binary data', () => {
    expect(binaryReason('model m {\n\tdim x = 1\r\n}\n// 我喜欢\f')).toBeUndefined();
    expect(binaryReason('model m {\0}')).toBe('it contains NUL bytes');
    expect(binaryReason('\x01\x02\x03abcdefgh')).toMatch(/^27% of its first 11 characters/);
    expect(binaryReason('\ufffd'.repeat(20) + 'a'.repeat(100))).toMatch(/not UTF-8/);
    // A few stray control characters in a text file are reported as syntax errors, not as a binary file.
    expect(binaryReason(`model m { \x07 }${' '.repeat(100)}`)).toBeUndefined();
  });
});
