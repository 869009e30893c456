// The page's query parameters: usable values are taken, anything else is reported with what was used instead.

import { describe, expect, it } from 'vitest';
import { readParams } from '../../web/page-params.ts';

describe('the page query parameters', () => {
  it('takes the defaults and the values given', () => {
    expect(readParams('').params).toEqual({ max: 6, seed: 1, run: true, spec: undefined, weights: undefined, source: undefined, input: undefined, temperature: undefined, topK: undefined, topP: undefined, beams: undefined });
    const { params, problems } = readParams('?spec=specs/packed.mdl&max=3&seed=0&temperature=0.7&topk=20&topp=0.9&beams=2&run=0&input=Hi&tokenizer=/tokenizer.json');
    expect(problems).toEqual([]);
    expect(params).toMatchObject({ spec: 'specs/packed.mdl', max: 3, seed: 0, temperature: 0.7, topK: 20, topP: 0.9, beams: 2, run: false, input: 'Hi', tokenizer: '/tokenizer.json' });
  });

  it('reports every value it cannot use, and every unknown name, instead of ignoring them', () => {
    const { params, problems } = readParams('?max=-1&seed=x&temperature=0&topp=2&beams=1.5&run=yes&mx=3');
    expect(problems).toEqual([
      "unknown query parameter 'mx' (the page reads spec, weights, tokenizer, source, input, max, seed, temperature, topk, topp, beams, run, and the mask fields dims, lengths, tokens, segments, batch, head, tiles)",
      'run=yes: expected 0 or 1; using 1',
      'max=-1: expected a whole number from 1 to 256; using 6',
      'seed=x: expected a whole number from 0 to 4294967295; using 1',
      'temperature=0: expected a number above 0; ignored',
      'topp=2: expected a number in (0, 1]; ignored',
      'beams=1.5: expected a whole number from 1 to 16; ignored',
    ]);
    expect(params).toMatchObject({ max: 6, seed: 1, run: true, temperature: undefined, topP: undefined, beams: undefined });
  });
});
