// The fusion pass, Before → Expected: a small decoder-only spec's IR before fusion, and the fused IR pinned in
// test/lower/fuse-small-lm.expected.txt (reviewed: q, k and v packed for one matmul, activations and residual adds
// folded into matmuls, positions folded into the embedding).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { buildIr } from '../../src/ir/build.ts';
import { printIr } from '../../src/ir/print.ts';
import { verifyIr } from '../../src/ir/verify.ts';
import { fuse } from '../../src/lower/fuse.ts';
import { expectGolden } from '../support/golden.ts';

const before = readFileSync(join(import.meta.dirname, '..', 'cases', 'ok_small_lm.mdl'), 'utf8');
const expectedPath = join(import.meta.dirname, 'fuse-small-lm.expected.txt');

describe('fuse', () => {
  it('small decoder-only model: Before → Expected', () => {
    const ir = buildIr(checkSource(before, 'ok_small_lm.mdl').model!);
    const fused = fuse(ir);
    expect(verifyIr(fused)).toEqual([]);
    const text = printIr(fused, { spans: false });
    expectGolden(expectedPath, text, import.meta.filename);
    // What fusion removed: two activations/adds per layer folded, positions folded.
    const ops = (g: typeof ir) => g.nodes.filter((n) => n.op !== 'param' && n.op !== 'input').length;
    expect(ops(ir) - ops(fused)).toBe(5);
  });

  it('keeps a producer that has a second user', () => {
    const ir = buildIr(checkSource(before, 'ok_small_lm.mdl').model!);
    // Make the FFN activation's matmul output also a graph output: it must not be fused away.
    const up = ir.nodes.find((n) => n.id.endsWith('ffn.up_proj'))!;
    const fused = fuse({ ...ir, outputs: [...ir.outputs, up.id] });
    expect(fused.nodes.some((n) => n.id === up.id && n.op === 'matmul' && !n.attrs.act)).toBe(true);
    expect(verifyIr(fused)).toEqual([]);
  });
});
