// Property tests for the front end: whatever the input, parsing and checking return diagnostics (never throw, never
// hang), and every diagnostic points inside the file. scripts/fuzz-front.ts runs the same checks at length.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { renderDiagnostics } from '../../src/check/render.ts';
import { deepNesting, frontEndProblems, longChain, mutatedSpec, tokenSoup } from '../support/spec-mutations.ts';

function holds(text: string): void {
  const t0 = performance.now();
  expect(frontEndProblems(text, (t) => checkSource(t, 'fuzz.mdl'))).toEqual([]);
  expect(performance.now() - t0).toBeLessThan(2000);
  const shown = renderDiagnostics(checkSource(text, 'fuzz.mdl').diagnostics, text);
  expect(shown).not.toMatch(/\n\s+at .*:\d+:\d+/); // no compiler stack frame in a diagnostic
}

describe('front end under random input', () => {
  it('never throws on random token soup', () => {
    fc.assert(fc.property(tokenSoup, holds), { numRuns: 300 });
  });

  it('never throws on random characters', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200, unit: 'binary' }), holds), { numRuns: 300 });
  });

  it('never throws on mutated shipped specs', () => {
    fc.assert(fc.property(mutatedSpec, holds), { numRuns: 400 });
  });

  it('never overflows the stack on deep nesting', () => {
    fc.assert(fc.property(deepNesting, holds), { numRuns: 100 });
  });

  it('never overflows the stack on long flat chains', () => {
    fc.assert(fc.property(longChain, holds), { numRuns: 15 });
  });
});
