// Per-stack learned positions on the CPU reference: each stack reads its own table at row p + offset (checked
// against the table itself), the model-wide table is gone, and the gradients of both tables and every other weight
// match central differences of the forward loss (f64).

import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { sym } from '../../src/check/sym.ts';
import { buildIr } from '../../src/ir/build.ts';
import { interpret } from '../../src/runtime/cpu-interpreter.ts';
import { checkModelGradients, modelCase, randomTensor, rng } from '../support/finite-differences.ts';
import { STACK_POSITIONS_SPEC } from '../support/stack-positions-spec.ts';

const src = Int32Array.from([5, 6, 7, 8, 9, 1, 11, 12, 13, 14, 15, 16]);
const tgt = Int32Array.from([20, 21, 22, 2, 1, 23, 24, 25, 26, 2]);

describe('per-stack learned positions', () => {
  it('each stack reads its own table at row p + 2; there is no model-wide table', () => {
    const r = checkSource(STACK_POSITIONS_SPEC, 'spec.mdl');
    expect(r.diagnostics).toEqual([]);
    const g = buildIr(r.model!);
    const params = g.nodes.filter((n) => n.op === 'param');
    const shapes = new Map(params.map((n) => [n.id.slice(1), n.shape.map((d) => sym.asConstant(d))]));
    expect(shapes.get('encoder.positions.weight')).toEqual([12, 16]);
    expect(shapes.get('decoder.positions.weight')).toEqual([13, 16]);
    expect(shapes.has('embed.positions.weight')).toBe(false);
    const g7 = rng(3);
    const weights = new Map(params.map((n) => [n.id.slice(1), randomTensor(n.shape.reduce((p, d) => p * sym.asConstant(d)!, 1), g7, 1)]));
    const values = interpret(g, r.model!, { dims: { B: 2, S: 6, T: 5 }, inputs: { src, tgt }, weights });
    for (const [stack, len] of [['encoder', 6], ['decoder', 5]] as const) {
      const table = weights.get(`${stack}.positions.weight`)!;
      const pos = values.get(`%${stack}.positions`)!;
      expect(pos.length).toBe(len * 16);
      for (let p = 0; p < len; p++) for (let j = 0; j < 16; j++) expect(pos[p * 16 + j]).toBe(table[(p + 2) * 16 + j]);
      // The embedded input is token row + position row (scale = 1), before the embedding norm.
      const tokens = weights.get('embed.tokens.weight')!;
      const ids = stack === 'encoder' ? src : values.get('%dec_in')!;
      const sum = values.get(`%${stack}.embed_pos`)!;
      for (let p = 0; p < len; p++) for (let j = 0; j < 16; j++) expect(sum[p * 16 + j]).toBeCloseTo(tokens[ids[p] * 16 + j] + table[(p + 2) * 16 + j], 14);
    }
  });

  it('gradients of both tables and every other weight match finite differences', () => {
    const c = modelCase(STACK_POSITIONS_SPEC, { B: 2, S: 6, T: 5 }, { src, tgt });
    const r = checkModelGradients(c);
    expect(r.counted).toBeGreaterThan(0);
    expect(r.worst, r.at).toBeLessThanOrEqual(1e-6);
    expect([...c.weights.keys()]).toEqual(expect.arrayContaining(['encoder.positions.weight', 'decoder.positions.weight']));
  });
});
