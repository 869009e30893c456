// The schedule pass: fused IR → a program of kernel launches over named buffers, with every size a formula of the
// spec's dims (`4*B*T*128`, `ceil(T / 32)`), so one compiled program serves every batch size and length within the
// bounds.
//
// Each compute node becomes one step. Attention adds up to two steps before it: rotary positions rotate q and k in
// place, and a mask that reads data (padding, segments, lengths) is classified into tiles on the device. Masks of
// indices only are classified on the host at dispatch by interval analysis, and attention without a mask gets an
// all-FULL tile buffer. No buffer is Lq × Lk: attention reads Q, K, V and writes its output, and tile classes are one
// word per tile. Finally, values whose lifetimes do not overlap are given shared buffers (memory-plan.ts).

import type { CheckedModel, MaskInfo, ScoreMod } from '../check/model.ts';
import { sym, type Poly } from '../check/sym.ts';
import type { IrGraph, IrNode } from '../ir/ir.ts';
import { MASK_KERNEL_WORKGROUP } from '../masks/classify-wgsl.ts';
import { emitMaskWgsl } from '../masks/emit-wgsl.ts';
import type { MaskWgsl } from '../masks/kernel-contract.ts';
import { printPolicy, toPredicate } from '../masks/policy.ts';
import type { BoolExpr } from '../masks/predicate.ts';
import { chooseTiles, DEFAULT_KERNEL_LIMITS } from '../wgsl/attention.ts';
import { MATMUL_TILE, positionRateWords, type Activation, type MatmulOptions } from '../wgsl/kernels.ts';
import { alibiSlopes, type ScoreModifier } from '../wgsl/score-modifiers.ts';
import { formula, type Formula } from './formula.ts';
import { planMemory, type Slot } from './memory-plan.ts';

export type BufferRole = 'input' | 'param' | 'packed_param' | 'value' | 'tile_classes' | 'mask_params' | 'mask_data';

export interface ProgramBuffer {
  id: string;
  role: BufferRole;
  dtype: 'f32' | 'i32' | 'u32';
  elements: Formula;
  /** The device buffer this value shares with others whose lifetimes do not overlap (see memory-plan.ts). */
  slot?: number;
  /** For a packed parameter: the parameters it holds, one after another. */
  packs?: string[];
}

/** A uniform word: a formula of the dims, or a float passed as its bits. */
export type Word = Formula | { f32: number };

export interface MaskSite {
  name: string;
  normalForm: string;
  predicate: BoolExpr;
  wgsl: MaskWgsl;
}

export interface AttentionSite {
  heads: number;
  kvHeads: number;
  headDim: number;
  /** Multiplies q·k before the score modifiers. */
  scale: number;
  queryAxis: string;
  keyAxis: string;
  batch: Poly;
  lq: Poly;
  lk: Poly;
  /** The tile shape the kernel is generated with; `heads` is how many heads the tile classes distinguish. */
  tiles: { q: number; k: number; lanes: number; staged: boolean; heads: number };
  mask?: MaskSite;
  modifiers: ScoreModifier[];
  /** Who fills the tile classes: all FULL (no mask), the host (index-only mask), or the classify step before. */
  tileFill: 'full' | 'host' | 'device';
}

export type StepKind = 'embed' | 'matmul' | 'norm' | 'elementwise' | 'rope' | 'shift_right' | 'classify' | 'attention' | 'argmax';

export interface Step {
  /** The IR node this step computes (for rope and classify steps, the attention node they prepare). */
  node: string;
  kind: StepKind;
  /** Which generated kernel (steps of one family share a kernel and its pipeline). */
  family: string;
  /** Buffers bound at bindings 1, 2, … in the kernel's order; binding 0 is the uniform block of `words`. */
  buffers: string[];
  words: Word[];
  /** Workgroups per dispatch dimension. */
  grid: [Formula, Formula, Formula];
  /** For attention steps and the classify steps that serve them. */
  attention?: AttentionSite;
  options?: MatmulOptions;
}

export interface Program {
  model: string;
  dims: { name: string; bound?: number }[];
  buffers: ProgramBuffer[];
  steps: Step[];
  outputs: string[];
  /** Device buffers for intermediate values, each shared by values that are never live at the same step. */
  slots: Slot[];
}

export class ScheduleError extends Error {}

/** What an attention kernel's tile shape may depend on: its signature (see src/tune/signature.ts). */
export interface AttentionShape {
  headDim: number;
  heads: number;
  kvHeads: number;
  mask?: MaskWgsl;
  modifiers: ScoreModifier[];
}

export interface ScheduleOptions {
  /**
   * Tiles for an attention kernel (per-adapter tuning); the generator's default when absent. A choice must fit the
   * WebGPU default limits, which the rendered kernels are generated for.
   */
  attentionTiles?: (shape: AttentionShape) => { q: number; k: number; lanes: number; staged?: boolean };
}

const c = (n: number): Poly => sym.constant(n);
const prod = (ps: Poly[]): Poly => ps.reduce((a, b) => sym.mul(a, b), c(1));
const f = (p: Poly): Formula => formula.of(p);
const fc = (n: number): Formula => formula.constant(n);
/** A one-dimensional launch of `count` invocations in workgroups of 64. */
const linear = (count: Formula): Step['grid'] => [formula.ceilDiv(count, 64), fc(1), fc(1)];

export function schedule(g: IrGraph, m: CheckedModel, options: ScheduleOptions = {}): Program {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const buffers: ProgramBuffer[] = g.nodes.map((n) => ({
    id: n.id,
    role: n.op === 'input' ? 'input' : n.op === 'param' ? 'param' : 'value',
    dtype: n.dtype,
    elements: f(prod(n.shape)),
  }));
  const steps: Step[] = [];
  const rows = (n: IrNode) => prod(n.shape.slice(0, -1));
  const last = (n: IrNode) => n.shape[n.shape.length - 1];
  const masks = new Map<string, MaskSite | undefined>();

  for (const n of g.nodes) {
    switch (n.op) {
      case 'input':
      case 'param':
        break;
      case 'shift_right': {
        const [b, t] = n.shape;
        // 2^32 - 1 is the kernel's "no end-of-sequence token".
        const eos = n.attrs.eos === undefined ? 0xffffffff : Number(n.attrs.eos);
        const words = [f(b), f(t), fc(Number(n.attrs.bos)), fc(Number(n.attrs.pad)), fc(eos)];
        steps.push({ node: n.id, kind: 'shift_right', family: 'shift_right', buffers: [n.args[0], n.id], words, grid: linear(f(prod(n.shape))) });
        break;
      }
      case 'gather': {
        const positions = (n.attrs.positions as string | undefined) ?? 'none';
        const table = byId.get(n.args[0])!;
        const width = sym.asConstant(last(n)) ?? 0;
        const words: Word[] = [f(rows(n)), f(last(n)), f(n.shape[1]), f(table.shape[0]), { f32: Number(n.attrs.scale ?? 1) }, ...positionRateWords(width).map(fc), fc(0)];
        steps.push({ node: n.id, kind: 'embed', family: `embed_${positions}`, buffers: [...n.args, n.id], words, grid: linear(f(prod(n.shape))) });
        break;
      }
      case 'positions':
        throw new ScheduleError(`positions node ${n.id} was not fused into its embedding`);
      case 'add':
      case 'act':
      case 'swiglu': {
        const op = n.op === 'act' ? (n.attrs.fn as Activation) : n.op;
        if (n.op === 'add' && sym.print(prod(byId.get(n.args[1])!.shape)) !== sym.print(prod(n.shape))) {
          throw new ScheduleError(`${n.id}: broadcasting adds are only supported as fused position embeddings`);
        }
        steps.push({ node: n.id, kind: 'elementwise', family: `elementwise_${op}`, buffers: [...n.args, n.id], words: [f(prod(n.shape))], grid: linear(f(prod(n.shape))) });
        break;
      }
      case 'norm':
        steps.push({ node: n.id, kind: 'norm', family: `norm_${n.attrs.type}`, buffers: [...n.args, n.id], words: [f(rows(n)), f(last(n)), { f32: Number(n.attrs.eps) }], grid: [f(rows(n)), fc(1), fc(1)] });
        break;
      case 'matmul': {
        if (!n.attrs.transpose_b) throw new ScheduleError(`${n.id}: only [out, in] weights (transpose_b) are supported`);
        if (Array.isArray(n.attrs.pack)) {
          // Packed projections: one step, at the first of them, computes them all.
          const ids = n.attrs.pack as string[];
          if (ids[0] === n.id) steps.push(packedMatmul(ids.map((id) => byId.get(id)!), byId, buffers));
          break;
        }
        const act = (n.attrs.act as Activation | undefined) ?? 'none';
        const residual = !!n.attrs.residual;
        const bias = n.args.length === (residual ? 4 : 3);
        const x = byId.get(n.args[0])!;
        const family = `matmul_${act}${bias ? '_bias' : ''}${residual ? '_res' : ''}`;
        const grid: Step['grid'] = [formula.ceilDiv(f(last(n)), MATMUL_TILE), formula.ceilDiv(f(rows(n)), MATMUL_TILE), fc(1)];
        steps.push({ node: n.id, kind: 'matmul', family, buffers: [...n.args, n.id], words: [f(rows(n)), f(last(n)), f(last(x))], grid, options: { act, bias, residual } });
        break;
      }
      case 'attention':
        steps.push(...attentionSteps(n, m, byId, masks, buffers, options));
        break;
      case 'argmax':
        // One result per row of the input: the output has the input's shape without its last axis.
        steps.push({ node: n.id, kind: 'argmax', family: 'argmax', buffers: [n.args[0], n.id], words: [f(prod(n.shape)), f(last(byId.get(n.args[0])!))], grid: linear(f(prod(n.shape))) });
        break;
    }
  }
  // Weights that only reach the device inside a packed parameter need no buffer of their own.
  const bound = new Set(steps.flatMap((s) => s.buffers));
  const needed = buffers.filter((b) => b.role !== 'param' || bound.has(b.id));
  const program: Program = { model: g.model, dims: g.dims, buffers: needed, steps, outputs: g.outputs, slots: [] };
  program.slots = planMemory(program);
  return program;
}

/** One matmul over the concatenated weights (and biases) of projections that read the same input. */
function packedMatmul(parts: IrNode[], byId: Map<string, IrNode>, buffers: ProgramBuffer[]): Step {
  const [first] = parts;
  const x = first.args[0];
  const bias = first.args.length === 3;
  if (parts.length > 3 || parts.some((p) => p.op !== 'matmul' || p.args[0] !== x || p.args.length !== first.args.length || p.attrs.act || p.attrs.residual)) {
    throw new ScheduleError(`${first.id}: projections packed together must be plain matmuls of one input`);
  }
  const widths = parts.map((p) => p.shape[p.shape.length - 1]);
  const total = widths.reduce((a, b) => sym.add(a, b), c(0));
  const input = byId.get(x)!;
  const k = input.shape[input.shape.length - 1];
  const weight = `${first.id}#packed_weight`;
  buffers.push({ id: weight, role: 'packed_param', dtype: 'f32', elements: f(sym.mul(total, k)), packs: parts.map((p) => p.args[1]) });
  const bound = [x, weight];
  if (bias) {
    bound.push(`${first.id}#packed_bias`);
    buffers.push({ id: `${first.id}#packed_bias`, role: 'packed_param', dtype: 'f32', elements: f(total), packs: parts.map((p) => p.args[2]) });
  }
  const rows = prod(first.shape.slice(0, -1));
  const words = [f(rows), f(total), f(k), f(widths[0]), f(widths[1])];
  const grid: Step['grid'] = [formula.ceilDiv(f(total), MATMUL_TILE), formula.ceilDiv(f(rows), MATMUL_TILE), fc(1)];
  const options: MatmulOptions = { act: 'none', bias, residual: false, parts: parts.length };
  return { node: first.id, kind: 'matmul', family: `matmul_none${bias ? '_bias' : ''}_pack${parts.length}`, buffers: [...bound, ...parts.map((p) => p.id)], words, grid, options };
}

function attentionSteps(n: IrNode, m: CheckedModel, byId: Map<string, IrNode>, masks: Map<string, MaskSite | undefined>, buffers: ProgramBuffer[], options: ScheduleOptions): Step[] {
  const heads = Number(n.attrs.heads);
  const kvHeads = Number(n.attrs.kv_heads);
  const headDim = Number(n.attrs.head_dim);
  const [q, k] = [byId.get(n.args[0])!, byId.get(n.args[1])!];
  const [batch, lq, lk] = [q.shape[0], q.shape[1], k.shape[1]];
  const out: Step[] = [];

  if (n.attrs.rope) {
    for (const [x, h] of [[q, heads], [k, kvHeads]] as const) {
      const r = rows(x);
      const words = [f(r), fc(h), fc(headDim), f(x.shape[1]), ...positionRateWords(headDim).map(fc), fc(0)];
      out.push({ node: n.id, kind: 'rope', family: 'rope', buffers: [x.id], words, grid: linear(f(sym.mul(r, c((h * headDim) / 2)))) });
    }
  }

  const maskName = String(n.attrs.mask ?? '');
  if (maskName && !masks.has(maskName)) masks.set(maskName, maskSiteOf(m, maskName));
  const mask = maskName ? masks.get(maskName) : undefined;
  const modifiers = scoreModifiers(m, String(n.attrs.score ?? ''), heads);
  const chosen = options.attentionTiles?.({ headDim, heads, kvHeads, mask: mask?.wgsl, modifiers });
  // Validated against the default limits either way: the kernel generator throws on a shape that does not fit.
  const shape = chooseTiles(headDim, DEFAULT_KERNEL_LIMITS, chosen);
  const tiles = { q: shape.tileQ, k: shape.tileK, lanes: shape.lanes, staged: shape.staged, heads: mask?.wgsl.perHead ? heads : 1 };
  const site: AttentionSite = {
    heads,
    kvHeads,
    headDim,
    scale: 1 / Math.sqrt(headDim),
    queryAxis: String(n.attrs.query_axis),
    keyAxis: String(n.attrs.key_axis),
    batch,
    lq,
    lk,
    tiles,
    mask,
    modifiers,
    tileFill: !mask ? 'full' : mask.wgsl.indexOnly ? 'host' : 'device',
  };

  const qTiles = formula.ceilDiv(f(lq), tiles.q);
  const kTiles = formula.ceilDiv(f(lk), tiles.k);
  const tileCount = formula.times(f(sym.mul(batch, c(tiles.heads))), qTiles, kTiles);
  const tileId = `${n.id}#tiles`;
  buffers.push({ id: tileId, role: 'tile_classes', dtype: 'u32', elements: tileCount });
  // Bindings in the kernel's order: Q, K, V, output, tile classes, then the mask's buffers, then a score table.
  const [qId, kId, vId, tableId] = n.args;
  const bound = [qId, kId, vId, n.id, tileId];
  if (mask) {
    // Mask inputs are packed by the host at dispatch (kernel-contract.ts): one i32 per parameter slot, and every
    // input the predicate reads, whole, one after another.
    const read = [...new Set(mask.wgsl.inputs.map((i) => i.input))];
    const dataElements = read.reduce((sum, name) => sym.add(sum, prod(byId.get(`%${name}`)?.shape ?? [c(1)])), c(0));
    buffers.push({ id: `${n.id}#mask_params`, role: 'mask_params', dtype: 'i32', elements: fc(Math.max(1, mask.wgsl.params.length)) });
    buffers.push({ id: `${n.id}#mask_data`, role: 'mask_data', dtype: 'i32', elements: f(read.length ? dataElements : c(1)) });
    bound.push(`${n.id}#mask_params`, `${n.id}#mask_data`);
    if (site.tileFill === 'device') {
      const words = [f(lq), f(lk), qTiles, kTiles, fc(tiles.q), fc(tiles.k), fc(tiles.heads), tileCount, fc(0), fc(0), fc(0), fc(0)];
      out.push({ node: n.id, kind: 'classify', family: 'classify', buffers: [tileId, `${n.id}#mask_params`, `${n.id}#mask_data`], words, grid: [formula.ceilDiv(tileCount, MASK_KERNEL_WORKGROUP), fc(1), fc(1)], attention: site });
    }
  }
  if (tableId) bound.push(tableId);
  // The attention kernel's uniform block (attentionParams): lq, lk, query tiles, key tiles, heads, kv heads, group,
  // scale, and the query and key offsets, which are 0 here: a full pass starts both at position 0 (kv-cache.ts
  // replaces them for decode steps).
  const words: Word[] = [f(lq), f(lk), qTiles, kTiles, fc(heads), fc(kvHeads), fc(heads / kvHeads), { f32: site.scale }, fc(0), fc(0), fc(0), fc(0)];
  out.push({ node: n.id, kind: 'attention', family: 'attention', buffers: bound, words, grid: [qTiles, fc(heads), f(batch)], attention: site });
  return out;

  function rows(x: IrNode): Poly {
    return prod(x.shape.slice(0, -1));
  }
}

/** The compiled mask of a named mask (declared, or written inline at its attention site); undefined when all-visible. */
export function maskSiteOf(m: CheckedModel, name: string): MaskSite | undefined {
  const info = m.masks.get(name) ?? inlineMask(m, name);
  if (!info?.policy) throw new ScheduleError(`mask ${name} has no lowered policy`);
  const predicate = toPredicate(info.policy);
  if (predicate.kind === 'true') return undefined;
  return { name, normalForm: printPolicy(info.policy), predicate, wgsl: emitMaskWgsl(predicate) };
}

export function inlineMask(m: CheckedModel, name: string): MaskInfo | undefined {
  for (const s of m.stacks) for (const l of s.layers) if (l.kind === 'attention' && l.mask?.name === name) return l.mask;
  return undefined;
}

/** The score modifiers of a named score declaration, as the attention kernel and its CPU oracle take them. */
export function scoreModifiers(m: CheckedModel, scoreName: string, heads: number): ScoreModifier[] {
  const score = scoreName ? m.scores.get(scoreName) : undefined;
  return (score?.mods ?? []).map((s) => modifierOf(s, heads));
}

function modifierOf(s: ScoreMod, heads: number): ScoreModifier {
  // Slopes are 2^(-maxBias·i/n); the table for the usual maxBias of 8, raised to maxBias / 8, gives any other.
  if (s.kind === 'alibi') return { kind: 'alibi', slopes: alibiSlopes(heads).map((x) => x ** (s.maxBias / 8)) };
  if (s.kind === 'softcap') return { kind: 'softcap', cap: s.cap };
  return { kind: 'relative_bias', heads, buckets: s.buckets, maxDistance: s.maxDistance, bidirectional: s.bidirectional };
}
