// Small handwritten IR graphs for pass and kernel tests, over the symbolic dims B and T.

import type { CheckedModel } from '../../src/check/model.ts';
import { sym, type Poly } from '../../src/check/sym.ts';
import { irNode, type AttentionAttrs, type IrGraph, type IrNode, type Op, type OpAttrs } from '../../src/ir/ir.ts';
import { assertValidIr } from '../../src/ir/verify.ts';
import type { Lowered } from '../../src/lower/passes.ts';
import { render } from '../../src/lower/render.ts';
import { planCache } from '../../src/lower/kv-cache.ts';
import { schedule, type ScheduleOptions } from '../../src/lower/schedule.ts';

/** Kernels other than attention read nothing of the checked model. */
export const bareModel = { name: 'k', dims: new Map(), inputs: new Map(), masks: new Map(), scores: new Map(), stacks: [] } as unknown as CheckedModel;

export type Dim = string | number;

/** Attention attributes of a plain site over T (no mask, no score, no rotary), with the given head layout. */
export function attentionAttrs(heads: number, kvHeads: number, headDim: number, more: Partial<AttentionAttrs> = {}): AttentionAttrs {
  return { heads, kv_heads: kvHeads, head_dim: headDim, mask: '', score: '', scale: 1 / Math.sqrt(headDim), rope: false, query_axis: 'T', key_axis: 'T', ...more };
}
const poly = (d: Dim): Poly => (typeof d === 'number' ? sym.constant(d) : sym.atom(d));

export class GraphBuilder {
  readonly nodes: IrNode[] = [];

  /** Bounds of B and T, as a spec declares them (`T <= 9`); none by default. */
  constructor(readonly bounds: { B?: number; T?: number } = {}) {}

  input(name: string, shape: Dim[], dtype: 'f32' | 'i32' = 'f32'): string {
    return this.add(name, 'input', [], { name, kind: dtype === 'f32' ? 'features' : 'tokens' }, shape, dtype);
  }

  /** A weight; asking again for the same name returns the existing one. */
  param(name: string, shape: number[]): string {
    if (this.nodes.some((n) => n.id === `%${name}`)) return `%${name}`;
    return this.add(name, 'param', [], {}, shape, 'f32');
  }

  add<O extends Op>(name: string, op: O, args: string[], attrs: OpAttrs[O], shape: Dim[], dtype: 'f32' | 'i32' = 'f32'): string {
    this.nodes.push(irNode(op, { id: `%${name}`, args, attrs, shape: shape.map(poly), dtype }));
    return `%${name}`;
  }

  graph(outputs: string[]): IrGraph {
    const g: IrGraph = { model: 'k', dims: (['B', 'T'] as const).map((name) => ({ name, ...(this.bounds[name] ? { bound: this.bounds[name] } : {}) })), nodes: this.nodes, outputs };
    assertValidIr(g, 'building the test graph');
    return g;
  }

  /** Scheduled and rendered as is (no fusion), so each node is tested by its own kernel. */
  lower(outputs: string[], options: ScheduleOptions = {}): Lowered {
    const g = this.graph(outputs);
    const program = schedule(g, bareModel, options);
    const rendered = render(program);
    // A test graph has no decoder: the cache plan only says so.
    return { ir: g, fused: g, program, rendered, cache: planCache(program, rendered, bareModel, '') };
  }
}
