// Lowering mask expressions: every kind of mistake becomes one E4xx diagnostic (or the checker's name diagnostic) at
// the offending text, lowering never throws whatever it is given, and data reads are listed with their axes.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { MASK_SCOPE_SPEC, policyOf } from '../support/mask-scope.ts';
import { dataReads, printPolicy } from '../../src/masks/policy.ts';

/** Diagnostics of a model that declares `mask m = EXPR` (plus `extra` lines), as [code, the text it points at]. */
function diagnose(expr: string, extra = ''): [string, string][] {
  const text = `${MASK_SCOPE_SPEC}${expr}\n${extra}}\n`;
  return checkSource(text, 'm.mdl').diagnostics.map((d) => [d.code, text.slice(d.span.start, d.span.end)]);
}

describe('mask diagnostics', () => {
  it.each<[string, string, [string, string][]]>([
    // unknown names and policies
    ['unknown policy', 'windw(3)', [['E401', 'windw']]],
    ['unknown bare name', 'causal & lookahead', [['E401', 'lookahead']]],
    ['a dim used as a policy', 'heads(2)', [['E401', 'heads']]],
    // arity and parameter names
    ['missing parameter', 'window()', [['E402', 'window()']]],
    ['one parameter too many', 'window(1, 2)', [['E402', '2']]],
    ['unknown parameter name', 'causal(size = 2)', [['E402', 'size']]],
    ['a parameter given twice', 'band(1, left = 2)', [['E402', 'band(1, left = 2)'], ['E402', 'left = 2']]],
    ['arguments to a policy that takes none', 'diagonal(3)', [['E402', '3']]],
    ['align and offset together', 'causal(align = bottom_right, offset = 1)', [['E402', 'causal(align = bottom_right, offset = 1)']]],
    ['unknown alignment', 'causal(align = top_right)', [['E403', 'top_right']]],
    ['abs with two arguments', 'abs(q, k) < 2', [['E402', 'abs(q, k)']]],
    // values of parameters
    ['window of 0', 'window(0)', [['E403', '0']]],
    ['negative chunk', 'chunked(-1)', [['E403', '-1']]],
    ['prefix of 0', 'prefix(0)', [['E403', '0']]],
    ['steps of 0', 'steps(0)', [['E403', '0']]],
    ['sink of 0', 'sink(0)', [['E403', '0']]],
    ['dilation step of 0', 'dilated(4, 0)', [['E403', '0']]],
    ['negative band side', 'band(-1, 2)', [['E403', '-1']]],
    ['a concrete dim expression that is 0', 'window(d_model - 8)', [['E403', 'd_model - 8']]],
    ['a parameter that depends on positions', 'window(q)', [['E403', 'q']]],
    ['a parameter that reads data', 'window(src_len[b])', [['E403', 'src_len[b]']]],
    ['a parameter too large for i32', 'window(4294967296)', [['E403', '4294967296']]],
    ['monotonic ratio of 0', 'monotonic(0, 1, 1)', [['E403', '0']]],
    ['monotonic fraction with a zero denominator', 'monotonic(S / 0, 1, 1)', [['E403', '0']]],
    // whole numbers
    ['fractional window', 'window(2.5)', [['E409', '2.5']]],
    ['a whole number written as a real', 'window(2.0)', [['E409', '2.0']]],
    ['fractional offset in a predicate', 'k < q + 1.5', [['E409', '1.5']]],
    ['a literal too large for i32', 'k < 99999999999', [['E409', '99999999999']]],
    // random
    ['rate above 1', 'random(1.5, 1)', [['E408', '1.5']]],
    ['negative rate', 'random(-0.1, 1)', [['E408', '-0.1']]],
    ['rate given by a dim', 'random(S, 1)', [['E408', 'S']]],
    // boolean / integer confusion
    ['a number used as a mask', 'q + k', [['E404', 'q + k']]],
    ['arithmetic on a mask', 'causal + 1', [['E404', 'causal']]],
    ['a number combined with &', 'causal & q', [['E404', 'q']]],
    ['negating a number', '!q', [['E404', 'q']]],
    ['minus a mask', '-causal < k', [['E404', 'causal']]],
    ['a mask inside min', 'min(causal, 1) < q', [['E404', 'causal']]],
    ['comparing masks', 'causal == diagonal', [['E404', 'causal == diagonal']]],
    // data reads
    ['an offset index', 'docs[q + 1] == docs[k]', [['E405', 'docs[q + 1]']]],
    ['the head as an index', 'docs[h] == 0', [['E405', 'docs[h]']]],
    ['two indices', 'docs[q, k] == 0', [['E405', 'docs[q, k]']]],
    ['a per-sequence input at a position', 'k < src_len[q]', [['E405', 'src_len[q]']]],
    ['a per-position input at b', 'docs[b] == 0', [['E405', 'docs[b]']]],
    ['an input used without an index', 'docs == 1', [['E405', 'docs']]],
    ['indexing a dim', 'vocab[q] == 1', [['E203', 'vocab']]],
    ['indexing an unknown name', 'zzz[q] == 1', [['E202', 'zzz']]],
    // inputs of the wrong kind
    ['key padding of segments', 'key_padding(docs)', [['E406', 'docs']]],
    ['documents of tokens', 'document(tgt)', [['E406', 'tgt']]],
    ['prefix of segments', 'prefix(docs)', [['E406', 'docs']]],
    ['query padding of a dim', 'query_padding(vocab)', [['E406', 'vocab']]],
    ['key padding of an unknown input', 'key_padding(zzz)', [['E202', 'zzz']]],
  ])('%s: %s', (_what, expr, want) => {
    expect(diagnose(expr)).toEqual(want);
  });

  it('reports a reference cycle once, at the reference that closes it', () => {
    const ds = diagnose('ma & causal', '  mask ma = mb | diagonal\n  mask mb = !m\n');
    expect(ds).toEqual([['E407', 'm']]);
  });

  it('a mask referring to itself', () => {
    expect(diagnose('m & causal')).toEqual([['E407', 'm']]);
  });

  it('reports every mistake of one expression in one run', () => {
    expect(diagnose('window(0) & chunked(2.5) & (q + k)')).toEqual([['E403', '0'], ['E409', '2.5'], ['E404', '(q + k)']]);
  });

  it('tokens without a pad id cannot be padding', () => {
    const text = `${MASK_SCOPE_SPEC.replace('input tgt: tokens[B, T] pad 0', 'input tgt: tokens[B, T]')}key_padding(tgt)\n}\n`;
    expect(checkSource(text, 'm.mdl').diagnostics.map((d) => d.code)).toEqual(['E406']);
  });

  it('never throws, whatever expression it is given', () => {
    const words = ['causal', 'window', 'random', 'monotonic', 'key_padding', 'document', 'prefix', 'min', 'abs', 'q', 'k', 'b', 'h', 'S', 'T', 'Lq', 'docs', 'src_len', 'tgt', 'm', 'heads', 'align', 'bottom_right'];
    const symbols = ['(', ')', '[', ']', ',', '=', '&', '|', '!', '+', '-', '*', '/', '%', '<', '<=', '==', '0', '3', '-1', '2.5', '0.5', '99999999999'];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...words, ...symbols), { minLength: 1, maxLength: 12 }), (tokens) => {
        const text = `${MASK_SCOPE_SPEC}${tokens.join(' ')}\n}\n`;
        const r = checkSource(text, 'm.mdl');
        for (const d of r.diagnostics) expect(d.span.end).toBeGreaterThanOrEqual(d.span.start);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('data reads', () => {
  const reads = (expr: string) => dataReads(policyOf(expr)).map(({ input, at, along, axisDim }) => ({ input, at, along, axisDim }));

  it('list each input with the axis it is compared along and the dim it runs along', () => {
    expect(reads('key_padding(src_len) & document(docs) & query_padding(tgt)')).toEqual([
      { input: 'src_len', at: 'b', along: 'k', axisDim: 'S' },
      { input: 'docs', at: 'q', along: 'q', axisDim: 'T' },
      { input: 'docs', at: 'k', along: 'k', axisDim: 'T' },
      { input: 'tgt', at: 'q', along: 'q', axisDim: 'T' },
    ]);
  });

  it('a per-sequence read in a raw predicate takes the axis of the position it is compared with', () => {
    expect(reads('k < src_len[b] & q < tgt_len[b]')).toEqual([
      { input: 'src_len', at: 'b', along: 'k', axisDim: 'S' },
      { input: 'tgt_len', at: 'b', along: 'q', axisDim: 'T' },
    ]);
    // Compared with both positions (or neither), it claims no axis.
    expect(reads('q - k < src_len[b]')).toEqual([]);
    expect(reads('prefix(prefix_len)')).toEqual([{ input: 'prefix_len', at: 'b', along: 'k', axisDim: 'T' }]);
  });

  it('the checker rejects target padding on the keys of a cross-attention', () => {
    const text = `model t {
  dim vocab = 16, d_model = 8, heads = 2
  dim B, S <= 64, T <= 64
  input src: tokens[B, S] pad 0
  input tgt: tokens[B, T] pad 0
  mask wrong = k < tgt_len[b]
  input tgt_len: lengths[B] of T
  embed tokens: learned(vocab, d_model), positions: sinusoidal
  decoder_input dec_in = shift_right(tgt, bos = 1)
  stack encoder x 1 on src (norm = pre layer) {
    attention self heads = heads
    ffn 16 gelu
  }
  stack decoder x 1 on dec_in (norm = pre layer) {
    attention self heads = heads mask = causal
    attention cross memory = encoder heads = heads mask = wrong
    ffn 16 gelu
  }
  output logits = project(decoder, vocab)
}
`;
    const codes = checkSource(text, 't.mdl').diagnostics.map((d) => `${d.code} ${d.message}`);
    expect(codes.some((c) => c.startsWith('E410') && c.includes("'tgt_len' runs along T"))).toBe(true);
  });
});

describe('normal forms of parameters', () => {
  it.each([
    ['window(d_model)', 'window(d_model)'],
    ['monotonic(S / T, 1, 2)', 'monotonic(S / T, 1, 2)'],
    ['monotonic(ratio = 3, left = 0, right = 1)', 'monotonic(3, 0, 1)'],
    ['band(right = 2, left = 1)', 'band(1, 2)'],
    ['causal(align = top_left)', 'causal'],
    ['causal(offset = 0)', 'causal(offset = 0)'],
    ['prefix(prefix_len)', 'prefix(prefix_len)'],
  ])('%s prints as %s', (expr, normal) => {
    expect(printPolicy(policyOf(expr))).toBe(normal);
  });
});
