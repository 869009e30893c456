// `mdl mask` data flags: lengths of a tokens input stand for its padding, decoder inputs are built from the target
// they shift, and mistakes in the flags are explained.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { drawMask } from '../../src/cli/mask-command.ts';

const root = join(import.meta.dirname, '..', '..');
const load = (f: string) => checkSource(readFileSync(join(root, 'specs', f), 'utf8'), f).model!;
const defaults = { batch: '0', head: '0' };
const cells = (text: string) => text.split('\n').filter((l) => /^[q ]\s*\d+ {2}[#.|]/.test(l)).map((l) => l.replace(/^[q ]\s*\d+ {2}/, '').replace(/\s+tiles.*$/, ''));

describe('mdl mask data', () => {
  it('--lengths of a tokens input pads each sequence after its length', () => {
    const model = load('translator.mdl');
    const text = drawMask(model, { ...defaults, mask: 'memory', dims: 'T=3,S=6', lengths: ['src=5,2'], batch: '1' });
    expect(cells(text)).toEqual(['##....', '##....', '##....']);
    expect(text).toContain('queries along T (Lq=3), keys along S (Lk=6); batch 1');
  });

  it('--lengths of the target builds the decoder input: <bos> then the shifted words', () => {
    const text = drawMask(load('translator.mdl'), { ...defaults, mask: 'look_back', dims: 'T=5,S=5', lengths: ['tgt=2'] });
    // tgt = w w <pad> <pad> <pad>, so dec_in = <bos> w w <pad> <pad>.
    expect(cells(text)).toEqual(['#....', '##...', '###..', '###..', '###..']);
  });

  it('one row of segment ids per batch row, and a stated default when data is missing', () => {
    const zoo = load('mask-zoo.mdl');
    const text = drawMask(zoo, { ...defaults, mask: 'packed_docs', dims: 'T=5,S=5', segments: ['docs=0,0,1,1,1'], tiles: '2x2' });
    expect(cells(text)).toEqual(['#.|..|.', '##|..|.', '..|#.|.', '..|##|.', '..|##|#']);
    expect(drawMask(zoo, { ...defaults, mask: 'packed_docs', dims: 'T=3,S=3' })).toContain('note: docs not given; one document per sequence');
  });

  it('rejects lengths for an input that holds segment ids', () => {
    expect(() => drawMask(load('mask-zoo.mdl'), { ...defaults, mask: 'packed_docs', dims: 'T=4,S=4', lengths: ['docs=2'] })).toThrow(/--segments/);
  });
});
