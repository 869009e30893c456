// The schedule pass: fused IR → a program of kernel launches over named buffers, with every size a formula of the
// spec's dims (`B*T*128`), so one compiled program serves every batch size and length within the bounds.
//
// Each compute node becomes one step; rotary positions add an in-place step on q and k before their attention;
// a mask that reads data adds a tile-classification step before its attention (index-only masks are classified on
// the host at dispatch time, by interval analysis). No step has an Lq × Lk buffer: attention reads Q, K, V and
// writes its output, and tile classes are one word per tile.

import type { CheckedModel, ScoreMod } from '../check/model.ts';
import { sym, type Poly } from '../check/sym.ts';
import type { IrGraph, IrNode } from '../ir/ir.ts';
import { emitMaskWgsl } from '../masks/emit-wgsl.ts';
import type { MaskWgsl } from '../masks/kernel-contract.ts';
import { printPolicy, toPredicate } from '../masks/policy.ts';
import type { BoolExpr } from '../masks/predicate.ts';
import type { Activation } from '../wgsl/kernels.ts';
import { alibiSlopes, type ScoreModifier } from '../wgsl/score-modifiers.ts';

export interface ProgramBuffer {
  id: string;
  role: 'input' | 'param' | 'value';
  dtype: 'f32' | 'i32';
  /** Element count as a polynomial of the dims. */
  elements: Poly;
}

/** A uniform word: a formula of the dims, or a float passed as its bits. */
export type Word = { poly: Poly } | { f32: number };

export interface MaskSite {
  name: string;
  normalForm: string;
  predicate: BoolExpr;
  wgsl: MaskWgsl;
}

/** A workgroup count: ceil(poly / per). */
export interface Count {
  poly: Poly;
  per: number;
}

export interface Step {
  /** The IR node this step computes (or, for rope and classify steps, the node they prepare). */
  node: string;
  kind: 'embed' | 'matmul' | 'norm' | 'elementwise' | 'rope' | 'shift_right' | 'attention' | 'argmax';
  /** Which generated kernel (families share pipelines). */
  family: string;
  /** Buffers bound after the uniform block, in the kernel's binding order; the last is written. */
  buffers: string[];
  words: Word[];
  /** Workgroups per dimension, as formulas of the dims. */
  grid: [Count, Count, Count];
  attention?: {
    heads: number;
    kvHeads: number;
    headDim: number;
    queryAxis: string;
    keyAxis: string;
    mask?: MaskSite;
    modifiers: ScoreModifier[];
  };
  options?: Record<string, string | number | boolean>;
}

export interface Program {
  model: string;
  dims: { name: string; bound?: number }[];
  buffers: ProgramBuffer[];
  steps: Step[];
  outputs: string[];
}

const c = (n: number): Poly => sym.constant(n);
const prod = (ps: Poly[]): Poly => ps.reduce((a, b) => sym.mul(a, b), c(1));
const ceilDiv = (poly: Poly, per: number): Count => ({ poly, per });
const one = (poly: Poly): Count => ({ poly, per: 1 });

export class ScheduleError extends Error {}

export function schedule(g: IrGraph, m: CheckedModel): Program {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const buffers: ProgramBuffer[] = g.nodes.map((n) => ({
    id: n.id,
    role: n.op === 'input' ? 'input' : n.op === 'param' ? 'param' : 'value',
    dtype: n.dtype,
    elements: prod(n.shape),
  }));
  const steps: Step[] = [];
  const rows = (n: IrNode) => prod(n.shape.slice(0, -1));
  const last = (n: IrNode) => n.shape[n.shape.length - 1];
  const masks = new Map<string, MaskSite>();

  for (const n of g.nodes) {
    switch (n.op) {
      case 'input':
      case 'param':
        break;
      case 'shift_right': {
        const [b, t] = n.shape;
        const eos = n.attrs.eos === undefined ? 0xffffffff : Number(n.attrs.eos);
        steps.push({ node: n.id, kind: 'shift_right', family: 'shift_right', buffers: [n.args[0], n.id], words: [{ poly: b }, { poly: t }, { poly: c(Number(n.attrs.bos)) }, { poly: c(Number(n.attrs.pad)) }, { poly: c(eos) }], grid: [ceilDiv(prod(n.shape), 64), one(c(1)), one(c(1))] });
        break;
      }
      case 'gather': {
        const positions = (n.attrs.positions as string | undefined) ?? 'none';
        const table = byId.get(n.args[0])!;
        const [, t] = n.shape;
        const words: Word[] = [{ poly: rows(n) }, { poly: last(n) }, { poly: t }, { poly: table.shape[0] }, { f32: Number(n.attrs.scale ?? 1) }, { poly: c(0) }];
        steps.push({ node: n.id, kind: 'embed', family: `embed_${positions}`, buffers: [...n.args, n.id], words, grid: [ceilDiv(prod(n.shape), 64), one(c(1)), one(c(1))] });
        break;
      }
      case 'positions':
      case 'add':
      case 'act':
      case 'swiglu': {
        if (n.op === 'positions') throw new ScheduleError(`positions node ${n.id} was not fused into its embedding`);
        const op = n.op === 'act' ? (n.attrs.fn as Activation) : n.op;
        steps.push({ node: n.id, kind: 'elementwise', family: `elementwise_${op}`, buffers: [...n.args, n.id], words: [{ poly: prod(n.shape) }], grid: [ceilDiv(prod(n.shape), 64), one(c(1)), one(c(1))] });
        break;
      }
      case 'norm':
        steps.push({ node: n.id, kind: 'norm', family: `norm_${n.attrs.type}`, buffers: [...n.args, n.id], words: [{ poly: rows(n) }, { poly: last(n) }, { f32: Number(n.attrs.eps) }], grid: [one(rows(n)), one(c(1)), one(c(1))] });
        break;
      case 'matmul': {
        const act = (n.attrs.act as string | undefined) ?? 'none';
        const bias = n.args.length >= 3;
        const residual = !!n.attrs.residual;
        const x = byId.get(n.args[0])!;
        const family = `matmul_${act}${bias ? '_bias' : ''}${residual ? '_res' : ''}`;
        steps.push({ node: n.id, kind: 'matmul', family, buffers: [...n.args, n.id], words: [{ poly: rows(n) }, { poly: last(n) }, { poly: last(x) }], grid: [ceilDiv(last(n), 16), ceilDiv(rows(n), 16), one(c(1))], options: { act, bias, residual } });
        break;
      }
      case 'attention':
        steps.push(...attentionSteps(n, m, byId, masks));
        break;
      case 'argmax':
        steps.push({ node: n.id, kind: 'argmax', family: 'argmax', buffers: [n.args[0], n.id], words: [{ poly: rows(n) }, { poly: last(byId.get(n.args[0])!) }], grid: [ceilDiv(rows(n), 64), one(c(1)), one(c(1))] });
        break;
    }
  }
  return { model: g.model, dims: g.dims, buffers, steps, outputs: g.outputs };
}

function attentionSteps(n: IrNode, m: CheckedModel, byId: Map<string, IrNode>, masks: Map<string, MaskSite>): Step[] {
  const heads = Number(n.attrs.heads);
  const kvHeads = Number(n.attrs.kv_heads);
  const headDim = Number(n.attrs.head_dim);
  const out: Step[] = [];
  if (n.attrs.rope) {
    for (const [arg, h] of [
      [n.args[0], heads],
      [n.args[1], kvHeads],
    ] as const) {
      const x = byId.get(arg)!;
      const r = prod(x.shape.slice(0, -1));
      out.push({ node: arg, kind: 'rope', family: 'rope', buffers: [arg], words: [{ poly: r }, { poly: c(h) }, { poly: c(headDim) }, { poly: x.shape[1] }, { poly: c(0) }], grid: [ceilDiv(sym.mul(r, c((h * headDim) / 2)), 64), one(c(1)), one(c(1))] });
    }
  }
  const maskName = n.attrs.mask as string;
  let mask: MaskSite | undefined;
  if (maskName) {
    mask = masks.get(maskName);
    if (!mask) {
      const info = m.masks.get(maskName) ?? findInline(m, maskName);
      if (!info?.policy) throw new ScheduleError(`mask ${maskName} has no lowered policy`);
      const predicate = toPredicate(info.policy);
      mask = { name: maskName, normalForm: printPolicy(info.policy), predicate, wgsl: emitMaskWgsl(predicate) };
      masks.set(maskName, mask);
    }
    if (mask.predicate.kind === 'true') mask = undefined;
  }
  const score = n.attrs.score ? m.scores.get(n.attrs.score as string) : undefined;
  const modifiers = (score?.mods ?? []).map((s) => modifierOf(s, heads));
  const q = byId.get(n.args[0])!;
  const k = byId.get(n.args[1])!;
  out.push({
    node: n.id,
    kind: 'attention',
    family: `attention`,
    buffers: [...n.args, n.id],
    words: [{ poly: q.shape[0] }, { poly: q.shape[1] }, { poly: k.shape[1] }],
    grid: [ceilDiv(q.shape[1], 0), one(c(heads)), one(q.shape[0])],
    attention: { heads, kvHeads, headDim, queryAxis: String(n.attrs.query_axis), keyAxis: String(n.attrs.key_axis), mask, modifiers },
  });
  return out;
}

function findInline(m: CheckedModel, name: string) {
  for (const s of m.stacks) for (const l of s.layers) if (l.kind === 'attention' && l.mask?.name === name) return l.mask;
  return undefined;
}

function modifierOf(s: ScoreMod, heads: number): ScoreModifier {
  // Slopes are 2^(-maxBias·i/n); the table for the usual maxBias of 8, raised to maxBias / 8, gives any other.
  if (s.kind === 'alibi') return { kind: 'alibi', slopes: alibiSlopes(heads).map((x) => x ** (s.maxBias / 8)) };
  if (s.kind === 'softcap') return { kind: 'softcap', cap: s.cap };
  throw new ScheduleError('relative_bias needs a learned bias table, which the WebGPU backend does not support yet; use alibi or softcap');
}
