// Random inputs for fuzzing the front end: token soup in the language's own words, and mutations of the shipped
// specs (slices deleted, duplicated, or replaced by random words). Shared by the property tests and by the longer
// fuzzing run in scripts/fuzz-front.ts.

import fc from 'fast-check';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const specDir = join(import.meta.dirname, '..', '..', 'specs');
export const shippedSpecs = readdirSync(specDir).filter((f) => f.endsWith('.mdl')).sort().map((f) => readFileSync(join(specDir, f), 'utf8'));

export const WORDS = ['model', 'm', '{', '}', 'dim', 'input', 'mask', 'score', 'embed', 'stack', 'x', 'on', 'attention', 'self', 'cross', 'ffn',
  'norm', 'output', '=', ':', ',', '(', ')', '[', ']', '&', '|', '!', '<=', '<', '==', '+', '-', '*', '/', '%', 'q', 'k', 'b', 'h', 'causal',
  'window', 'B', 'T', '0', '4', '-1', '2.5', '99999999999999999999', 'tokens', 'heads', 'gelu', '\n', ' ', '//c\n', '/*', '*/', '我',
  'decoder_input', 'shift_right', '$', 'fn', 'loop', 'var', 'let', 'x'.repeat(300)];

export const tokenSoup = fc.array(fc.constantFrom(...WORDS), { maxLength: 80 }).map((w) => w.join(' '));

export const mutatedSpec = fc
  .record({
    spec: fc.constantFrom(...shippedSpecs),
    edits: fc.array(
      fc.record({ at: fc.nat(), len: fc.nat({ max: 40 }), kind: fc.constantFrom('delete', 'dup', 'replace'), words: fc.array(fc.constantFrom(...WORDS), { maxLength: 6 }) }),
      { minLength: 1, maxLength: 4 },
    ),
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

// ---- deep nesting and long chains: the shapes that would overflow a recursive parser or pass ----

const SMALL_LM = shippedSpecs.find((s) => /mask\s+\w+\s*=/.test(s)) ?? shippedSpecs[0];
const ATOMS = ['causal', 'window(4)', 'k <= q', 'k == q - 1', 'none', '!causal', 'q < 3', 'k >= q + 2 * 3'];

/** A spec whose first mask is replaced by `expr`, so every stage downstream sees it. */
function withMask(expr: string): string {
  return SMALL_LM.replace(/(mask\s+\w+\s*=)[^\n]*/, `$1 ${expr}`);
}

/** Parentheses, negations, calls and indexing nested up to 150 deep, around a mask or an integer. */
export const deepNesting = fc
  .record({
    wrappers: fc.array(fc.constantFrom(['(', ')'], ['!(', ')'], ['!', ''], ['-', ''], ['min(', ', 1)'], ['abs(', ')']), { minLength: 1, maxLength: 150 }),
    atom: fc.constantFrom('causal', 'q', 'k', '1', 'seg[q]'),
  })
  .map(({ wrappers, atom }) => withMask(wrappers.map((w) => w[0]).join('') + atom + wrappers.map((w) => w[1]).reverse().join('')));

/** Flat chains of 1000–5000 terms joined by `|`, `&` (mixed or not), or arithmetic operators. */
export const longChain = fc
  .record({
    n: fc.integer({ min: 1000, max: 5000 }),
    ops: fc.constantFrom(['|'], ['&'], ['|', '&'], ['+'], ['+', '-', '*']),
    seed: fc.nat(),
  })
  .map(({ n, ops, seed }) => {
    const arithmetic = ops[0] === '+';
    const terms: string[] = [arithmetic ? 'k <= q' : ATOMS[seed % ATOMS.length]];
    for (let i = 1; i < n; i++) {
      const op = ops[(seed + i) % ops.length];
      terms.push(`${op} ${arithmetic ? String(i % 7) : ATOMS[(seed + i * 7) % ATOMS.length]}`);
    }
    return withMask(terms.join(' '));
  });

/** Problems with one run of the front end on `text`, empty when it behaved: no throw, spans inside the text. */
export function frontEndProblems(text: string, run: (t: string) => { diagnostics: { code: string; span: { start: number; end: number; line: number; col: number } }[] }): string[] {
  const problems: string[] = [];
  let r;
  try {
    r = run(text);
  } catch (e) {
    return [`threw: ${(e as Error).message}`];
  }
  const lines = text.split('\n').length;
  for (const d of r.diagnostics) {
    const s = d.span;
    if (!/^E\d{3}$/.test(d.code)) problems.push(`bad code ${d.code}`);
    if (s.start < 0 || s.end > text.length || s.start > s.end) problems.push(`${d.code}: span ${s.start}..${s.end} outside 0..${text.length}`);
    if (s.line < 1 || s.line > lines || s.col < 1) problems.push(`${d.code}: position ${s.line}:${s.col} outside the file`);
  }
  return problems;
}
