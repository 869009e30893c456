// The grammar's generated files are committed; they must match what the grammar produces now.
// `npm run gen` rewrites them.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cstDeclarations, syntaxDiagramHtml } from '../../scripts/gen-grammar.ts';

const generated = join(import.meta.dirname, '..', '..', 'generated');

describe('generated grammar artifacts', () => {
  it('generated/cst.d.ts is up to date (run `npm run gen`)', () => {
    expect(readFileSync(join(generated, 'cst.d.ts'), 'utf8')).toBe(cstDeclarations());
  });

  it('generated/syntax-diagram.html is up to date and needs no network', () => {
    const html = syntaxDiagramHtml();
    expect(readFileSync(join(generated, 'syntax-diagram.html'), 'utf8')).toBe(html);
    expect(html).not.toMatch(/<script[^>]+src=/);
    expect(html).not.toMatch(/<link[^>]+href=["']https?:/);
    for (const rule of ['model', 'stackDecl', 'attentionLayer', 'expr']) expect(html).toContain(rule);
  });
});
