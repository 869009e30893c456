// The schedule pass: fused IR → a program of kernel launches over named buffers, with every size a formula of the
// spec's dims (`4*B*T*128`, `ceil(T / 32)`), so one compiled program serves every batch size and length within the
// bounds.
//
// Each compute node becomes one step. Attention adds up to two steps before it: rotary positions rotate q and k in
// place, and a mask that reads data (padding, segments, lengths) is classified into tiles on the device. Masks of
// indices only are classified on the host at dispatch by interval analysis, and attention without a mask gets an
// all-FULL tile buffer. No buffer is Lq × Lk: attention reads Q, K, V and writes its output, and tile classes are one
// word per tile. Finally, values whose lifetimes do not overlap are given shared buffers (memory-plan.ts).

import type { CheckedModel } from '../check/model.ts';
import { sym, type Poly } from '../check/sym.ts';
import { rotaryOf, type IrGraph, type IrNode, type NodeOf } from '../ir/ir.ts';
import { chooseTiles, DEFAULT_KERNEL_LIMITS, type AttentionKernelShape } from '../wgsl/attention.ts';
import { type ElementwiseOp, type EmbedPositions, type MatmulOptions, type NormForm, type NormType } from '../wgsl/kernels.ts';
import { matmulTileOf, tilingFor, type MatmulTiling } from '../wgsl/matmul-tilings.ts';
import { positionRateWords } from '../wgsl/positions.ts';
import { MASK_KERNEL_WORKGROUP } from '../wgsl/mask-kernels.ts';
import { maskDataStart } from '../masks/kernel-contract.ts';
import { maskSiteOf, ropeUniforms, ScheduleError, scoreModifiers } from './attention-sites.ts';
import { formula, type Formula } from './formula.ts';
import { planMemory } from './memory-plan.ts';
import { boundBuffers, type AttentionSite, type MaskSite, type Program, type ProgramBuffer, type Step, type Word } from './program.ts';

export { ScheduleError };

export interface ScheduleOptions {
  /**
   * Tiles for an attention kernel (per-adapter tuning); the generator's default when absent. A choice must fit the
   * WebGPU default limits, which the rendered kernels are generated for.
   */
  attentionTiles?: (shape: AttentionKernelShape) => { q: number; k: number; lanes: number; staged?: boolean; rowwise?: boolean; subgroups?: boolean };
  /**
   * Tiles for the attention of the decode step (a few new query rows against a KV cache), tuned apart from the full
   * pass's; the one-row decode tiles when absent. Must fit the WebGPU default limits too.
   */
  decodeTiles?: (shape: AttentionKernelShape) => { q: number; k: number; lanes: number; splitKeys?: boolean } | undefined;
  /** The matmul tiling measured fastest on this adapter; the default (wg32) when absent. */
  matmulTiling?: MatmulTiling;
  /** The norm kernel's form measured fastest on this adapter; a workgroup a row when absent. */
  normForm?: NormForm;
}

/**
 * The kernel and grid of a tiled matmul step: the chosen tiling where it fits this inner size (the vec4 forms need K
 * a multiple of 4, known only for constant K), its grid sized by the tiling's output tile.
 */
export function tiledMatmul(options: MatmulOptions, M: Formula, N: Formula, K: Poly, tiling: MatmulTiling | undefined): Pick<Step, 'kernel' | 'grid'> {
  const chosen = tilingFor(tiling, sym.asConstant(K));
  const tile = matmulTileOf(chosen);
  const kernel: Step['kernel'] = { kind: 'matmul', options, shape: 'tiled', ...(chosen === 'wg32' ? {} : { tiling: chosen }) };
  return { kernel, grid: [formula.ceilDiv(N, tile.cols), formula.ceilDiv(M, tile.rows), formula.constant(1)] };
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
        const eos = n.attrs.eos ?? 0xffffffff;
        const uniforms = { B: f(b), T: f(t), bos: fc(n.attrs.bos), pad: fc(n.attrs.pad), eos: fc(eos) };
        steps.push({ node: n.id, kind: 'shift_right', kernel: { kind: 'shift_right' }, bind: { tokens: n.args[0], dec: n.id }, uniforms, grid: linear(f(prod(n.shape))) });
        break;
      }
      case 'gather': {
        const positions: EmbedPositions = n.attrs.positions ?? 'none';
        const [table, ids, posTable] = n.args;
        const tableShape = byId.get(table)!.shape;
        // A full pass starts counting positions at 0; the decode program starts at the first new position.
        const uniforms: Record<string, Word> = { rows: f(rows(n)), D: f(last(n)), T: f(n.shape[1]), vocab: f(tableShape[0]), scale: { f32: n.attrs.scale }, start: fc(0) };
        if (positions === 'sinusoidal') {
          const [lo, hi] = positionRateWords(sym.asConstant(last(n)) ?? 0);
          Object.assign(uniforms, { rate_lo: fc(lo), rate_hi: fc(hi) });
        }
        if (positions === 'learned') uniforms.offset = fc(n.attrs.offset ?? 0);
        const bind: Record<string, string> = { table, ids, ...(posTable ? { pos_table: posTable } : {}), out: n.id };
        steps.push({ node: n.id, kind: 'embed', kernel: { kind: 'embed', positions, layout: n.attrs.layout ?? 'interleaved' }, bind, uniforms, grid: linear(f(prod(n.shape))) });
        break;
      }
      case 'positions':
        throw new ScheduleError(`positions node ${n.id} was not fused into its embedding`);
      case 'add':
      case 'act':
      case 'swiglu':
      case 'geglu': {
        const op: ElementwiseOp = n.op === 'act' ? n.attrs.fn : n.op;
        if (n.op === 'add' && sym.print(prod(byId.get(n.args[1])!.shape)) !== sym.print(prod(n.shape))) {
          throw new ScheduleError(`${n.id}: broadcasting adds are only supported as fused position embeddings`);
        }
        const bind: Record<string, string> = { a: n.args[0], ...(n.args[1] ? { b: n.args[1] } : {}), out: n.id };
        steps.push({ node: n.id, kind: 'elementwise', kernel: { kind: 'elementwise', op }, bind, uniforms: { count: f(prod(n.shape)) }, grid: linear(f(prod(n.shape))) });
        break;
      }
      case 'norm': {
        const [x, gamma, beta] = n.args;
        const bind: Record<string, string> = { x, gamma, ...(beta ? { beta } : {}), out: n.id };
        const uniforms = { rows: f(rows(n)), D: f(last(n)), eps: { f32: n.attrs.eps } };
        // A workgroup a row, or (tuned) an invocation a row in workgroups of 64.
        const perRow = options.normForm === 'rows';
        const kernel: Step['kernel'] = { kind: 'norm', type: n.attrs.type, bias: !!beta, ...(perRow ? { rows: true } : {}) };
        steps.push({ node: n.id, kind: 'norm', kernel, bind, uniforms, grid: perRow ? linear(f(rows(n))) : [f(rows(n)), fc(1), fc(1)] });
        break;
      }
      case 'matmul': {
        if (!n.attrs.transpose_b) throw new ScheduleError(`${n.id}: only [out, in] weights (transpose_b) are supported`);
        if (n.attrs.pack) {
          // Packed projections: one step, at the first of them, computes them all.
          const ids = n.attrs.pack;
          if (ids[0] === n.id) steps.push(packedMatmul(ids.map((id) => byId.get(id)!), byId, buffers, options.matmulTiling));
          break;
        }
        const act: MatmulOptions['act'] = n.attrs.act ?? 'none';
        const residual = !!n.attrs.residual;
        const bias = n.args.length === (residual ? 4 : 3);
        const x = byId.get(n.args[0])!;
        const [a, w, ...rest] = n.args;
        const bind: Record<string, string> = { a, w, ...(bias ? { bias: rest[0] } : {}), ...(residual ? { res: rest[rest.length - 1] } : {}), out: n.id };
        const uniforms = { M: f(rows(n)), N: f(last(n)), K: f(last(x)) };
        steps.push({ node: n.id, kind: 'matmul', ...tiledMatmul({ act, bias, residual }, uniforms.M, uniforms.N, last(x), options.matmulTiling), bind, uniforms });
        break;
      }
      case 'attention':
        steps.push(...attentionSteps(n, m, byId, masks, buffers, options));
        break;
      case 'argmax':
        // One result per row of the input: the output has the input's shape without its last axis.
        const uniforms = { rows: f(prod(n.shape)), N: f(last(byId.get(n.args[0])!)) };
        steps.push({ node: n.id, kind: 'argmax', kernel: { kind: 'argmax' }, bind: { x: n.args[0], argmax_out: n.id }, uniforms, grid: linear(f(prod(n.shape))) });
        break;
    }
  }
  // Weights that only reach the device inside a packed parameter need no buffer of their own.
  const bound = new Set(steps.flatMap(boundBuffers));
  const needed = buffers.filter((b) => b.role !== 'param' || bound.has(b.id));
  const program: Program = { model: g.model, dims: g.dims, buffers: needed, steps, outputs: g.outputs, slots: [] };
  program.slots = planMemory(program);
  return program;
}

/** One matmul over the concatenated weights (and biases) of projections that read the same input. */
function packedMatmul(parts: IrNode[], byId: Map<string, IrNode>, buffers: ProgramBuffer[], tiling: MatmulTiling | undefined): Step {
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
  const bind: Record<string, string> = { a: x, w: weight };
  if (bias) {
    bind.bias = `${first.id}#packed_bias`;
    buffers.push({ id: `${first.id}#packed_bias`, role: 'packed_param', dtype: 'f32', elements: f(total), packs: parts.map((p) => p.args[2]) });
  }
  const rows = prod(first.shape.slice(0, -1));
  parts.forEach((p, i) => (bind[`out${i}`] = p.id));
  const uniforms = { M: f(rows), N: f(total), K: f(k), n0: f(widths[0]), n1: f(widths[1]) };
  const options: MatmulOptions = { act: 'none', bias, residual: false, parts: parts.length };
  return { node: first.id, kind: 'matmul', ...tiledMatmul(options, uniforms.M, uniforms.N, k, tiling), bind, uniforms };
}

export function attentionSteps(n: NodeOf<'attention'>, m: CheckedModel, byId: Map<string, IrNode>, masks: Map<string, MaskSite | undefined>, buffers: ProgramBuffer[], options: ScheduleOptions): Step[] {
  const { heads, kv_heads: kvHeads, head_dim: headDim } = n.attrs;
  const [q, k] = [byId.get(n.args[0])!, byId.get(n.args[1])!];
  const [batch, lq, lk] = [q.shape[0], q.shape[1], k.shape[1]];
  const out: Step[] = [];

  const rotary = rotaryOf(n.attrs);
  if (rotary) {
    for (const [x, h] of [[q, heads], [k, kvHeads]] as const) {
      const r = rows(x);
      const uniforms = { rows: f(r), ...ropeUniforms(rotary, h, headDim, x.shape[1]) };
      out.push({ node: n.id, kind: 'rope', kernel: { kind: 'rope', style: rotary.style }, bind: { x: x.id }, uniforms, grid: linear(f(sym.mul(r, c((h * rotary.dims) / 2)))) });
    }
  }

  const maskName = n.attrs.mask;
  if (maskName && !masks.has(maskName)) masks.set(maskName, maskSiteOf(m, maskName));
  const mask = maskName ? masks.get(maskName) : undefined;
  const modifiers = scoreModifiers(m, n.attrs.score, heads);
  const chosen = options.attentionTiles?.({ headDim, heads, kvHeads, mask: mask?.wgsl, modifiers });
  // Validated against the default limits either way: the kernel generator throws on a shape that does not fit.
  const shape = chooseTiles(headDim, DEFAULT_KERNEL_LIMITS, chosen);
  const tiles = { q: shape.tileQ, k: shape.tileK, lanes: shape.lanes, staged: shape.staged, heads: mask?.wgsl.perHead ? heads : 1, ...(shape.rowwise ? { rowwise: true } : {}), ...(shape.subgroups ? { subgroups: true } : {}) };
  const site: AttentionSite = {
    heads,
    kvHeads,
    headDim,
    scale: n.attrs.scale,
    queryAxis: n.attrs.query_axis,
    keyAxis: n.attrs.key_axis,
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
  const [qId, kId, vId, tableId] = n.args;
  const bind: Record<string, string> = { q: qId, k: kId, v: vId, out: n.id, tileClass: tileId };
  if (mask) {
    // The mask table is packed by the host at dispatch (kernel-contract.ts): one i32 per parameter slot, then every
    // input the predicate reads, whole, one after another.
    const read = [...new Set(mask.wgsl.inputs.map((i) => i.input))];
    const dataElements = read.reduce((sum, name) => sym.add(sum, prod(byId.get(`%${name}`)?.shape ?? [c(1)])), c(0));
    buffers.push({ id: `${n.id}#mask`, role: 'mask', dtype: 'i32', elements: f(sym.add(c(maskDataStart(mask.wgsl)), read.length ? dataElements : c(1))) });
    bind.mask = `${n.id}#mask`;
    if (site.tileFill === 'device') {
      const uniforms = { lq: f(lq), lk: f(lk), n_q_tiles: qTiles, n_k_tiles: kTiles, tile_q: fc(tiles.q), tile_k: fc(tiles.k), heads: fc(tiles.heads), total: tileCount, q_offset: fc(0), k_offset: fc(0) };
      const classifyBind = { tileClass: tileId, mask: bind.mask };
      out.push({ node: n.id, kind: 'classify', kernel: { kind: 'classify' }, bind: classifyBind, uniforms, grid: [formula.ceilDiv(tileCount, MASK_KERNEL_WORKGROUP), fc(1), fc(1)], attention: site });
    }
  }
  if (tableId) bind.scoreTable = tableId;
  // The query and key offsets are 0: a full pass starts both at position 0 (the decode program moves them).
  const uniforms: Record<string, Word> = {
    lq: f(lq), lk: f(lk), n_q_tiles: qTiles, n_k_tiles: kTiles, heads: fc(heads), kv_heads: fc(kvHeads), kv_group: fc(heads / kvHeads),
    scale: { f32: site.scale }, q_offset: fc(0), k_offset: fc(0), kv_rows: f(lk),
  };
  out.push({ node: n.id, kind: 'attention', kernel: { kind: 'attention' }, bind, uniforms, grid: [qTiles, fc(heads), f(batch)], attention: site });
  return out;

  function rows(x: IrNode): Poly {
    return prod(x.shape.slice(0, -1));
  }
}

