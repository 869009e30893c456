// Each fusion rule on a handwritten graph, Before → Expected as IR text, including the cases where fusing would be
// wrong (a second reader, a graph output, an operand defined too late), and the packing of attention projections. The fused graph must also compute the same
// values as the unfused one, which the interpreter checks.

import { describe, expect, it } from 'vitest';
import type { IrGraph } from '../../src/ir/ir.ts';
import { printIr } from '../../src/ir/print.ts';
import { verifyIr } from '../../src/ir/verify.ts';
import { fuse } from '../../src/lower/fuse.ts';
import { interpret } from '../../src/runtime/cpu-interpreter.ts';
import { attentionAttrs, bareModel, GraphBuilder } from './graph-builder.ts';

const body = (g: IrGraph) => printIr(g, { spans: false }).split('\n').slice(1, -3).map((l) => l.trim()).filter((l) => !l.includes('= param()') && !l.includes('= input('));

function fused(before: IrGraph): string[] {
  const after = fuse(before);
  expect(verifyIr(after)).toEqual([]);
  // Same numbers before and after.
  const dims = { B: 2, T: 3 };
  const inputs: Record<string, Float32Array | Int32Array> = {};
  const weights = new Map<string, Float32Array>();
  let seed = 1;
  const fill = (n: number) => Float32Array.from({ length: n }, () => Math.sin(seed++ * 1.7));
  for (const n of before.nodes) {
    const size = n.shape.reduce((p, d) => p * (d.has('') ? d.get('')! : dims[[...d.keys()][0] as 'B' | 'T']), 1);
    if (n.op === 'input') inputs[String(n.attrs.name)] = n.dtype === 'i32' ? Int32Array.from({ length: size }, (_, i) => i % 5) : fill(size);
    if (n.op === 'param') weights.set(n.id.slice(1), fill(size));
  }
  const a = interpret(before, bareModel, { dims, inputs, weights });
  const b = interpret(after, bareModel, { dims, inputs, weights });
  for (const o of before.outputs) expect([...b.get(o)!]).toEqual([...a.get(o)!]);
  return body(after);
}

describe('fusion rules', () => {
  it('matmul → activation → residual add becomes one matmul with both epilogues', () => {
    const g = new GraphBuilder();
    const x = g.input('x', ['B', 'T', 4]);
    const up = g.add('up', 'matmul', [x, g.param('w', [4, 4]), g.param('b', [4])], { transpose_b: true }, ['B', 'T', 4]);
    const act = g.add('act', 'act', [up], { fn: 'gelu' }, ['B', 'T', 4]);
    const out = g.add('out', 'add', [x, act], {}, ['B', 'T', 4]);
    const before = g.graph([out]);
    expect(body(before)).toEqual([
      '%up = matmul(%x, %w, %b) {transpose_b} : f32[B, T, 4]',
      '%act = act(%up) {fn = gelu} : f32[B, T, 4]',
      '%out = add(%x, %act) : f32[B, T, 4]',
    ]);
    expect(fused(before)).toEqual(['%out = matmul(%x, %w, %b, %x) {act = gelu, residual, transpose_b} : f32[B, T, 4]']);
  });

  it('a residual add after a matmul without bias appends the residual as its third argument', () => {
    const g = new GraphBuilder();
    const x = g.input('x', ['B', 'T', 4]);
    const y = g.add('y', 'matmul', [x, g.param('w', [4, 4])], { transpose_b: true }, ['B', 'T', 4]);
    const out = g.add('out', 'add', [y, x], {}, ['B', 'T', 4]);
    expect(fused(g.graph([out]))).toEqual(['%out = matmul(%x, %w, %x) {residual, transpose_b} : f32[B, T, 4]']);
  });

  it('keeps a matmul whose value has another reader or is a graph output', () => {
    const g = new GraphBuilder();
    const x = g.input('x', ['B', 'T', 4]);
    const y = g.add('y', 'matmul', [x, g.param('w', [4, 4])], { transpose_b: true }, ['B', 'T', 4]);
    const a = g.add('a', 'act', [y], { fn: 'relu' }, ['B', 'T', 4]);
    const s = g.add('s', 'add', [y, a], {}, ['B', 'T', 4]);
    const unchanged = ['%y = matmul(%x, %w) {transpose_b} : f32[B, T, 4]', '%a = act(%y) {fn = relu} : f32[B, T, 4]', '%s = add(%y, %a) : f32[B, T, 4]'];
    expect(fused(g.graph([s]))).toEqual(unchanged);

    const h = new GraphBuilder();
    const hx = h.input('x', ['B', 'T', 4]);
    const hy = h.add('y', 'matmul', [hx, h.param('w', [4, 4])], { transpose_b: true }, ['B', 'T', 4]);
    const ha = h.add('a', 'act', [hy], { fn: 'relu' }, ['B', 'T', 4]);
    expect(fused(h.graph([hy, ha]))).toEqual(['%y = matmul(%x, %w) {transpose_b} : f32[B, T, 4]', '%a = act(%y) {fn = relu} : f32[B, T, 4]']);
  });

  it('does not fuse a residual defined after the matmul (the matmul would read it before it exists)', () => {
    const g = new GraphBuilder();
    const x = g.input('x', ['B', 'T', 4]);
    const y = g.add('y', 'matmul', [x, g.param('w', [4, 4])], { transpose_b: true }, ['B', 'T', 4]);
    const late = g.add('late', 'act', [x], { fn: 'silu' }, ['B', 'T', 4]);
    const out = g.add('out', 'add', [y, late], {}, ['B', 'T', 4]);
    expect(fused(g.graph([out]))).toEqual([
      '%y = matmul(%x, %w) {transpose_b} : f32[B, T, 4]',
      '%late = act(%x) {fn = silu} : f32[B, T, 4]',
      '%out = add(%y, %late) : f32[B, T, 4]',
    ]);
  });

  it('packs the projections of one attention site that read the same input', () => {
    const g = new GraphBuilder();
    const x = g.input('x', ['B', 'T', 8]);
    const mem = g.input('mem', ['B', 'T', 8]);
    const proj = (name: string, from: string) => g.add(name, 'matmul', [from, g.param(`w${name}`, [8, 8]), g.param(`b${name}`, [8])], { transpose_b: true }, ['B', 'T', 8]);
    const attn = attentionAttrs(2, 2, 4);
    const self = g.add('self', 'attention', [proj('q', x), proj('k', x), proj('v', x)], attn, ['B', 'T', 8]);
    const cross = g.add('cross', 'attention', [proj('cq', self), proj('ck', mem), proj('cv', mem)], attn, ['B', 'T', 8]);
    expect(fused(g.graph([cross])).filter((l) => l.includes('pack'))).toEqual([
      '%q = matmul(%x, %wq, %bq) {pack = [%q, %k, %v], transpose_b} : f32[B, T, 8]',
      '%k = matmul(%x, %wk, %bk) {pack = [%q, %k, %v], transpose_b} : f32[B, T, 8]',
      '%v = matmul(%x, %wv, %bv) {pack = [%q, %k, %v], transpose_b} : f32[B, T, 8]',
      '%ck = matmul(%mem, %wck, %bck) {pack = [%ck, %cv], transpose_b} : f32[B, T, 8]',
      '%cv = matmul(%mem, %wcv, %bcv) {pack = [%ck, %cv], transpose_b} : f32[B, T, 8]',
    ]);
  });

  it('does not pack a projection that is read elsewhere too', () => {
    const g = new GraphBuilder();
    const x = g.input('x', ['B', 'T', 8]);
    const proj = (name: string) => g.add(name, 'matmul', [x, g.param(`w${name}`, [8, 8])], { transpose_b: true }, ['B', 'T', 8]);
    const [q, k, v] = [proj('q'), proj('k'), proj('v')];
    const a = g.add('a', 'attention', [q, k, v], attentionAttrs(2, 2, 4), ['B', 'T', 8]);
    const out = g.add('out', 'add', [a, q], {}, ['B', 'T', 8]);
    expect(fused(g.graph([out])).filter((l) => l.includes('pack'))).toEqual([
      '%k = matmul(%x, %wk) {pack = [%k, %v], transpose_b} : f32[B, T, 8]',
      '%v = matmul(%x, %wv) {pack = [%k, %v], transpose_b} : f32[B, T, 8]',
    ]);
  });

  it('token embedding plus a position table becomes one gather reading both tables', () => {
    for (const kind of ['sinusoidal', 'learned'] as const) {
      const g = new GraphBuilder();
      const ids = g.input('ids', ['B', 'T'], 'i32');
      const table = g.param('tok', [5, 4]);
      const pos = kind === 'learned' ? [g.param('pos', [8, 4])] : [];
      const e = g.add('e', 'gather', [table, ids], { scale: 2 }, ['B', 'T', 4]);
      const p = g.add('p', 'positions', [ids, ...pos], { kind }, ['T', 4]);
      const out = g.add('x', 'add', [e, p], {}, ['B', 'T', 4]);
      const expected = kind === 'learned' ? '%x = gather(%tok, %ids, %pos) {positions = learned, scale = 2} : f32[B, T, 4]' : '%x = gather(%tok, %ids) {positions = sinusoidal, scale = 2} : f32[B, T, 4]';
      expect(fused(g.graph([out]))).toEqual([expected]);
    }
  });
});
