// Property tests for the front end: whatever the input, parsing and checking return diagnostics (never throw, never
// hang), and every diagnostic points inside the file.

import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { renderDiagnostics } from '../../src/check/render.ts';

const specDir = join(import.meta.dirname, '..', '..', 'specs');
const specs = readdirSync(specDir).filter((f) => f.endsWith('.mdl')).map((f) => readFileSync(join(specDir, f), 'utf8'));

const WORDS = ['model', 'm', '{', '}', 'dim', 'input', 'mask', 'score', 'embed', 'stack', 'x', 'on', 'attention', 'self', 'cross', 'ffn',
  'norm', 'output', '=', ':', ',', '(', ')', '[', ']', '&', '|', '!', '<=', '<', '==', '+', '-', '*', '/', '%', 'q', 'k', 'b', 'h', 'causal',
  'window', 'B', 'T', '0', '4', '-1', '2.5', 'tokens', 'heads', 'gelu', '\n', ' ', '//c\n', '我', 'decoder_input', 'shift_right', '$'];

/** Checks one input: no exception, bounded time, every diagnostic inside the text and renderable. */
function holds(text: string): void {
  const t0 = performance.now();
  const r = checkSource(text, 'fuzz.mdl');
  expect(performance.now() - t0).toBeLessThan(2000);
  for (const d of r.diagnostics) {
    expect(d.code).toMatch(/^E\d{3}$/);
    expect(d.span.start).toBeGreaterThanOrEqual(0);
    expect(d.span.end).toBeLessThanOrEqual(text.length);
    expect(d.span.start).toBeLessThanOrEqual(d.span.end);
    expect(d.span.line).toBeGreaterThanOrEqual(1);
    expect(d.span.line).toBeLessThanOrEqual(text.split('\n').length);
    expect(d.span.col).toBeGreaterThanOrEqual(1);
  }
  const shown = renderDiagnostics(r.diagnostics, text);
  expect(shown).not.toMatch(/\bat .*\.ts:\d+/); // no compiler stack frame in a diagnostic
}

/** A mutation of a shipped spec: delete, duplicate, or replace a slice with random language words. */
const mutated = fc
  .record({
    spec: fc.constantFrom(...specs),
    edits: fc.array(fc.record({ at: fc.nat(), len: fc.nat({ max: 40 }), kind: fc.constantFrom('delete', 'dup', 'replace'), words: fc.array(fc.constantFrom(...WORDS), { maxLength: 6 }) }), { minLength: 1, maxLength: 4 }),
  })
  .map(({ spec, edits }) => {
    let s = spec;
    for (const e of edits) {
      const at = e.at % (s.length + 1);
      const end = Math.min(s.length, at + e.len);
      if (e.kind === 'delete') s = s.slice(0, at) + s.slice(end);
      else if (e.kind === 'dup') s = s.slice(0, end) + s.slice(at, end) + s.slice(end);
      else s = s.slice(0, at) + e.words.join(' ') + s.slice(end);
    }
    return s;
  });

describe('front end under random input', () => {
  it('never throws on random token soup', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom(...WORDS), { maxLength: 80 }).map((w) => w.join(' ')), holds), { numRuns: 300 });
  });

  it('never throws on random characters', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200, unit: 'binary' }), holds), { numRuns: 300 });
  });

  it('never throws on mutated shipped specs', () => {
    fc.assert(fc.property(mutated, holds), { numRuns: 400 });
  });
});
