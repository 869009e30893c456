// Parser recovery: one run reports every syntax error, and what follows an error is still parsed and checked.

import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { parseSource } from '../../src/lang/parse.ts';

const codes = (text: string) => parseSource(text, 'r.mdl').diagnostics.map((d) => `${d.code}@${d.span.line}:${d.span.col}`);

describe('parser recovery', () => {
  it('reports a missing token and keeps parsing the following declarations', () => {
    const text = ['model m {', '  dim a = 4, b 8', '  dim c = 2', '  mask x = causal', '}'].join('\n');
    const r = parseSource(text, 'r.mdl');
    expect(r.diagnostics.map((d) => d.code)).toEqual(['E102']);
    // The declarations after the error survive into the AST.
    const kinds = r.file.model?.items.map((i) => i.kind);
    expect(kinds).toContain('mask');
  });

  it('skips an extra token inside a list and resynchronises at the next item', () => {
    const text = ['model m {', '  dim a = 4,, b = 8', '  dim c = 2', '}'].join('\n');
    const r = parseSource(text, 'r.mdl');
    expect(r.diagnostics.length).toBeGreaterThanOrEqual(1);
    expect(r.diagnostics[0].span.line).toBe(2);
    const dims = r.file.model?.items.flatMap((i) => (i.kind === 'dim' ? i.dims.map((d) => d.name.text) : []));
    expect(dims).toContain('c');
  });

  it('reports errors in two separate declarations in one run', () => {
    const text = ['model m {', '  dim a = (4', '  mask x = causal &', '  dim c = 2', '}'].join('\n');
    expect(codes(text).length).toBeGreaterThanOrEqual(2);
    const lines = parseSource(text, 'r.mdl').diagnostics.map((d) => d.span.line);
    expect(new Set(lines).size).toBeGreaterThanOrEqual(2);
  });

  it('recovers inside a stack: a bad layer does not hide the next one', () => {
    const text = [
      'model m {',
      '  dim vocab = 8, d = 8',
      '  dim B, T <= 4',
      '  input ids: tokens[B, T] pad 0',
      '  embed tokens: learned(vocab, d)',
      '  stack s x 1 on ids {',
      '    attention self heads = = 2',
      '    ffn 16 gelu',
      '    ffn 16 swish',
      '  }',
      '}',
    ].join('\n');
    const r = checkSource(text, 'r.mdl');
    const got = r.diagnostics.map((d) => `${d.code}@${d.span.line}`);
    expect(got).toContain('E103@7');
    // The checker still ran on the recovered tree and found the bad activation two lines later.
    expect(got).toContain('E503@9');
  });

  it('reports an unclosed model at the end of the file, not past it', () => {
    const text = 'model m {\n  dim a = 4\n';
    const [d] = parseSource(text, 'r.mdl').diagnostics;
    expect(d.code).toBe('E102');
    expect(d.span.start).toBeLessThanOrEqual(text.length);
    expect(d.message).toContain("'}'");
  });
});
