// The backward graph of every shipped spec that declares a loss: it verifies, every parameter gets exactly one
// gradient of its own shape, values read several times sum their contributions, and the verifier rejects a
// gradient whose shape is not its value's.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { sym } from '../../src/check/sym.ts';
import { buildTrainingIr, NoLossError } from '../../src/ir/training.ts';
import { verifyIr } from '../../src/ir/verify.ts';
import { buildGradGraph } from '../../src/lower/grad.ts';

const specs = join(import.meta.dirname, '..', '..', 'specs');
const files = readdirSync(specs).filter((f) => f.endsWith('.mdl')).sort();

describe('backward graphs of the shipped specs', () => {
  for (const f of files) {
    const model = checkSource(readFileSync(join(specs, f), 'utf8'), f).model!;
    if (!model.loss) {
      it(`${f} declares no loss, and asking for its training graph says so`, () => {
        expect(() => buildTrainingIr(model)).toThrow(NoLossError);
      });
      continue;
    }
    it(`${f}: verified, one gradient per parameter, with the parameter's shape`, () => {
      const g = buildGradGraph(buildTrainingIr(model));
      expect(verifyIr(g)).toEqual([]);
      const params = g.nodes.filter((n) => n.op === 'param');
      expect([...g.grads.keys()]).toEqual(params.map((p) => p.id.slice(1)));
      const byId = new Map(g.nodes.map((n) => [n.id, n]));
      for (const p of params) expect(byId.get(g.grads.get(p.id.slice(1))!)!.shape.map(sym.print)).toEqual(p.shape.map(sym.print));
      expect(g.outputs).toEqual([g.loss, ...g.grads.values()]);
      expect(new Set(g.nodes.map((n) => n.id)).size).toBe(g.nodes.length);
    });
  }

  it('the translator sums the token table over both embeddings and the tied output projection', () => {
    const model = checkSource(readFileSync(join(specs, 'translator.mdl'), 'utf8'), 'translator.mdl').model!;
    const g = buildGradGraph(buildTrainingIr(model));
    const parts = g.nodes.flatMap((n) => (n.op === 'vjp' && n.args.includes('%embed.tokens.weight') && n.args.indexOf('%embed.tokens.weight') === n.attrs.wrt ? [n.attrs.of] : []));
    expect(parts.sort()).toEqual(['%decoder.embed', '%encoder.embed', '%logits']);
    const sums = g.nodes.filter((n) => n.op === 'add' && n.id.startsWith('%d:embed.tokens.weight'));
    expect(sums).toHaveLength(2);
  });

  it('the verifier rejects a gradient whose shape differs from its value', () => {
    const model = checkSource(readFileSync(join(specs, 'packed.mdl'), 'utf8'), 'packed.mdl').model!;
    const g = buildGradGraph(buildTrainingIr(model));
    const vjp = g.nodes.find((n) => n.op === 'vjp' && n.attrs.op === 'attention')!;
    const broken = { ...g, nodes: g.nodes.map((n) => (n === vjp ? { ...n, shape: n.shape.slice(0, 2) } : n)) };
    expect(verifyIr(broken).join('\n')).toContain(`${vjp.id} (vjp): gradient shape differs`);
  });
});
