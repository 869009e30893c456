// The training program: the backward graph (grad.ts) — forward nodes, the loss, every `vjp` and gradient sum — as
// kernel launches over buffers sized by formulas of the dims, like the forward program (schedule.ts), then checked
// and rendered by the same render pass (`mdl dump FILE --stage train`).
//
// The graph is not fused: the backward steps read the forward values they need (a matmul's input, an activation's
// pre-activation value), so every forward node keeps its own value. A gradient that equals another (an add's, with
// respect to an argument shaped like its output) is that gradient's buffer under a second name, not a copy. Every buffer is a tensor of the graph or a
// per-row scalar of the loss, so sizes grow linearly with the lengths (attention's backward, like its forward pass,
// keeps no Lq × Lk buffer). The labels are computed by the host (the loss's count predicate and `within` are the
// CPU reference's `labelsOf`) and uploaded as an input; the program returns the loss, the number of counted
// positions and the gradient of every parameter.

import type { CheckedModel } from '../check/model.ts';
import { sym, type Poly } from '../check/sym.ts';
import type { IrNode, NodeOf } from '../ir/ir.ts';
import type { TrainingKernel } from '../wgsl/backward-kernels.ts';
import { GRAD_MATMUL_ROWS, gradMatmulFits, type GradMatmulOptions } from '../wgsl/matmul-grad.ts';
import { backwardMatmulBlock } from '../wgsl/matmul-tilings.ts';
import { type ElementwiseOp, type NormType } from '../wgsl/kernels.ts';
import { NORM_STATS_PER_ROW } from '../wgsl/norm-training.ts';
import { positionRateWords } from '../wgsl/positions.ts';
import { attentionBackwardSteps } from './attention-grad-steps.ts';
import { ScheduleError } from './attention-sites.ts';
import { formula, type Formula } from './formula.ts';
import type { GradGraph } from './grad.ts';
import { planMemory } from './memory-plan.ts';
import { render, type Rendered } from './render.ts';
import { rowStatsTableEntries } from './attention-grad-steps.ts';
import type { MaskSite, Program, ProgramBuffer, Step, Word } from './program.ts';
import { attentionSteps, tiledMatmul, type ScheduleOptions } from './schedule.ts';

const c = (n: number): Poly => sym.constant(n);
const prod = (ps: Poly[]): Poly => ps.reduce((a, b) => sym.mul(a, b), c(1));
const f = (p: Poly): Formula => formula.of(p);
const fc = (n: number): Formula => formula.constant(n);
const linear = (count: Formula): Step['grid'] => [formula.ceilDiv(count, 64), fc(1), fc(1)];
const rows = (n: IrNode) => prod(n.shape.slice(0, -1));
const last = (n: IrNode) => n.shape[n.shape.length - 1];
const size = (n: IrNode) => prod(n.shape);
const sameSize = (a: IrNode, b: IrNode) => sym.print(size(a)) === sym.print(size(b));

/** A norm's per-row statistics (mean, 1 / sqrt(variance + eps)), written by its forward step for its backward. */
const normStats = (norm: string) => `${norm}#stats`;

/** The loss's per-row and counter buffers, beside the loss value. */
export const lossBuffers = (loss: string) => ({ lse: `${loss}#lse`, rowLoss: `${loss}#row_loss`, count: `${loss}#count` });

/**
 * The training program; with `lossOnly`, only its forward part and the loss (the evaluation program of `mdl eval`
 * and of `mdl train --eval`), returning the loss, the counted positions and the logits.
 */
export function scheduleTraining(g: GradGraph, m: CheckedModel, options: ScheduleOptions = {}, lossOnly = false): Program {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const buffers: ProgramBuffer[] = g.nodes.map((n) => ({
    id: n.id,
    // The labels are worked out on the host (see the header) and uploaded like a model input.
    role: n.op === 'input' || n.op === 'labels' ? 'input' : n.op === 'param' ? 'param' : 'value',
    dtype: n.dtype,
    elements: f(size(n)),
  }));
  const steps: Step[] = [];
  const masks = new Map<string, MaskSite | undefined>();
  const attentionForward = new Map<string, Step>();
  const attentionDone = new Set<string>();
  /** Gradients that are another value's buffer under a second name (an add's identity gradient), by id. */
  const alias = new Map<string, string>();
  const gradOutputs = new Set(g.grads.values());
  const train = (n: IrNode, op: TrainingKernel, bind: Record<string, string>, uniforms: Record<string, Word>, count: Poly | Formula): void => {
    const cnt = 'factors' in count ? count : f(count);
    steps.push({ node: n.id, kind: 'train', kernel: { kind: 'train', op }, bind, uniforms, grid: linear(cnt) });
  };
  const elementwise = (n: IrNode, op: ElementwiseOp, bind: Record<string, string>) =>
    steps.push({ node: n.id, kind: 'elementwise', kernel: { kind: 'elementwise', op }, bind, uniforms: { count: f(size(n)) }, grid: linear(f(size(n))) });

  for (const n of g.nodes) {
    switch (n.op) {
      case 'input':
      case 'param':
      case 'labels':
        break;
      case 'shift_right': {
        const [b, t] = n.shape;
        const eos = n.attrs.eos ?? 0xffffffff;
        const uniforms = { B: f(b), T: f(t), bos: fc(n.attrs.bos), pad: fc(n.attrs.pad), eos: fc(eos) };
        steps.push({ node: n.id, kind: 'shift_right', kernel: { kind: 'shift_right' }, bind: { tokens: n.args[0], dec: n.id }, uniforms, grid: linear(f(size(n))) });
        break;
      }
      case 'gather': {
        if (n.attrs.positions) throw new ScheduleError(`${n.id}: the training program takes positions as their own node`);
        const [table, ids] = n.args;
        const uniforms: Record<string, Word> = { rows: f(rows(n)), D: f(last(n)), T: f(n.shape[1]), vocab: f(byId.get(table)!.shape[0]), scale: { f32: n.attrs.scale }, start: fc(0) };
        steps.push({ node: n.id, kind: 'embed', kernel: { kind: 'embed', positions: 'none', layout: 'interleaved' }, bind: { table, ids, out: n.id }, uniforms, grid: linear(f(size(n))) });
        break;
      }
      case 'positions': {
        const kind = n.attrs.kind;
        const [t, d] = n.shape;
        const uniforms: Record<string, Word> = { T: f(t), D: f(d) };
        if (kind === 'sinusoidal') {
          const [lo, hi] = positionRateWords(sym.asConstant(d) ?? 0);
          Object.assign(uniforms, { rate_lo: fc(lo), rate_hi: fc(hi) });
        } else {
          uniforms.offset = fc(n.attrs.offset ?? 0);
        }
        train(n, { name: 'positions', kind, layout: n.attrs.layout ?? 'interleaved' }, kind === 'learned' ? { pos_table: n.args[1], out: n.id } : { out: n.id }, uniforms, size(n));
        break;
      }
      case 'add':
      case 'act':
      case 'swiglu':
      case 'geglu': {
        const b = n.args[1] ? byId.get(n.args[1])! : undefined;
        if (n.op === 'add' && sym.print(size(b!)) !== sym.print(size(n))) {
          train(n, { name: 'add_broadcast' }, { a: n.args[0], b: b!.id, out: n.id }, { count: f(size(n)), nb: f(size(b!)) }, size(n));
          break;
        }
        elementwise(n, n.op === 'act' ? n.attrs.fn : n.op, { a: n.args[0], ...(b ? { b: b.id } : {}), out: n.id });
        break;
      }
      case 'norm': {
        const [x, gamma, beta] = n.args;
        const uniforms = { rows: f(rows(n)), D: f(last(n)), eps: { f32: n.attrs.eps } };
        // The backward reads each row's mean and 1 / sqrt(variance + eps) from here instead of recomputing them.
        const stats = normStats(n.id);
        buffers.push({ id: stats, role: 'value', dtype: 'f32', elements: f(sym.mul(rows(n), c(NORM_STATS_PER_ROW))) });
        train(n, { name: 'norm_rows', type: n.attrs.type, bias: !!beta }, { x, gamma, ...(beta ? { beta } : {}), out: n.id, stats }, uniforms, rows(n));
        break;
      }
      case 'matmul': {
        plainMatmul(n);
        const [a, w, bias] = n.args;
        const uniforms = { M: f(rows(n)), N: f(last(n)), K: f(last(byId.get(a)!)) };
        const tiled = tiledMatmul({ act: 'none', bias: !!bias, residual: false }, uniforms.M, uniforms.N, last(byId.get(a)!), options.matmulTiling);
        steps.push({ node: n.id, kind: 'matmul', ...tiled, bind: { a, w, ...(bias ? { bias } : {}), out: n.id }, uniforms });
        break;
      }
      case 'attention': {
        const own = attentionSteps(n, m, byId, masks, buffers, options);
        const fwd = own[own.length - 1];
        // The backward pass recomputes the probabilities from each query row's log-sum-exp, which the forward writes
        // into the first part of the row-stats buffer; the backward's delta step writes the rest: D, a copy of dO and of
        // a relative_bias table, which the walks read through this one binding (`rowStatsLayout`, attention-backward.ts).
        const lse = `${n.id}#row_stats`;
        const a = fwd.attention!;
        const rows = sym.mul(sym.mul(a.batch, a.lq), c(a.heads));
        buffers.push({ id: lse, role: 'value', dtype: 'f32', elements: f(sym.add(sym.mul(rows, c(4 + a.headDim)), c(rowStatsTableEntries(a)))) });
        fwd.attention = { ...fwd.attention!, lse: true };
        fwd.bind.lse = lse;
        attentionForward.set(n.id, fwd);
        steps.push(...own);
        break;
      }
      case 'cross_entropy': {
        const [logits, labels] = n.args;
        const x = byId.get(logits)!;
        const lb = lossBuffers(n.id);
        buffers.push({ id: lb.lse, role: 'value', dtype: 'f32', elements: f(rows(x)) }, { id: lb.rowLoss, role: 'value', dtype: 'f32', elements: f(rows(x)) }, { id: lb.count, role: 'value', dtype: 'f32', elements: fc(1) });
        train(n, { name: 'xent_rows' }, { logits, labels, lse: lb.lse, row_loss: lb.rowLoss }, { rows: f(rows(x)), V: f(last(x)) }, rows(x));
        train(n, { name: 'xent_total' }, { labels, row_loss: lb.rowLoss, loss: n.id, count: lb.count }, { rows: f(rows(x)) }, c(1));
        break;
      }
      case 'cross_entropy_grad': {
        const [logits, labels] = n.args;
        const lb = lossBuffers(g.loss);
        train(n, { name: 'xent_grad' }, { logits, labels, lse: lb.lse, count: lb.count, dlogits: n.id }, { rows: f(rows(n)), V: f(last(n)) }, size(n));
        break;
      }
      case 'vjp': {
        const fwd = byId.get(n.attrs.of)!;
        const dy = n.args[n.args.length - 1];
        if (fwd.op === 'add' && sameSize(byId.get(fwd.args[n.attrs.wrt])!, fwd) && !gradOutputs.has(n.id)) {
          // An argument of an add shaped like its output takes the upstream gradient as it is: its readers read that
          // buffer (no copy, no launch). A parameter's gradient keeps a buffer of its own, as every output does.
          alias.set(n.id, alias.get(dy) ?? dy);
        } else if (fwd.op !== 'attention') {
          vjpSteps(n, fwd, byId, train, options);
        } else if (!attentionDone.has(fwd.id)) {
          // All of the node's gradients come from one backward pass, run at its first `vjp` node.
          attentionDone.add(fwd.id);
          const vjps = new Map(g.nodes.flatMap((v) => (v.op === 'vjp' && v.attrs.of === fwd.id ? [[v.attrs.wrt, v.id] as const] : [])));
          steps.push(...attentionBackwardSteps(fwd, attentionForward.get(fwd.id)!, n.args[n.args.length - 1], vjps, byId, buffers));
        }
        break;
      }
      case 'argmax':
        throw new ScheduleError(`${n.id}: the training program computes no argmax`);
    }
    if (lossOnly && n.id === g.loss) break;
  }
  for (const st of steps) for (const [role, id] of Object.entries(st.bind)) st.bind[role] = alias.get(id) ?? id;
  const lb = lossBuffers(g.loss);
  const logits = byId.get(g.loss)!.args[0];
  const outputs = lossOnly ? [g.loss, lb.count, logits] : [g.loss, lb.count, ...g.grads.values()];
  const bound = new Set(steps.flatMap((s) => Object.values(s.bind)));
  // The evaluation program keeps only the buffers its steps bind (no gradient is ever allocated).
  const kept = lossOnly ? buffers.filter((b) => bound.has(b.id)) : buffers.filter((b) => !alias.has(b.id));
  const program: Program = { model: g.model, dims: g.dims, buffers: kept, steps, outputs, slots: [] };
  program.slots = planMemory(program);
  return program;
}

export interface TrainingProgram {
  program: Program;
  rendered: Rendered;
}

/** Schedules and renders (and so verifies) the training program of a backward graph. */
export function lowerTraining(g: GradGraph, m: CheckedModel, options: ScheduleOptions = {}): TrainingProgram {
  const program = scheduleTraining(g, m, options);
  return { program, rendered: render(program, 'train-') };
}

/** The evaluation program: the training program's forward part and loss, without the backward. */
export function lowerEvaluation(g: GradGraph, m: CheckedModel, options: ScheduleOptions = {}): TrainingProgram {
  const program = scheduleTraining(g, m, options, true);
  return { program, rendered: render(program, 'eval-') };
}

function plainMatmul(n: NodeOf<'matmul'>): void {
  if (!n.attrs.transpose_b || n.attrs.act || n.attrs.residual) throw new ScheduleError(`${n.id}: the training program takes unfused matmuls of [out, in] weights`);
}

type Train = (n: IrNode, op: TrainingKernel, bind: Record<string, string>, uniforms: Record<string, Word>, count: Poly | Formula) => void;

/** The steps of one `vjp` node: the gradient of `fwd`'s argument `wrt`, from the upstream gradient (its last arg). */
function vjpSteps(n: NodeOf<'vjp'>, fwd: IrNode, byId: Map<string, IrNode>, train: Train, options: ScheduleOptions): void {
  const wrt = n.attrs.wrt;
  const dy = n.args[n.args.length - 1];
  const arg = (i: number) => byId.get(fwd.args[i])!;
  const sum = (x: string, count: Poly, width: Poly) => train(n, { name: 'column_sum' }, { x, out: n.id }, { count: f(count), n: f(width) }, width);
  switch (fwd.op) {
    case 'add':
      // The same-shaped argument takes the gradient as it is; a broadcast table sums it over the batch rows.
      return sum(dy, size(fwd), size(arg(wrt)));
    case 'act':
      return train(n, { name: 'act_grad', fn: fwd.attrs.fn }, { x: fwd.args[0], dy, dx: n.id }, { count: f(size(fwd)) }, size(fwd));
    case 'swiglu':
    case 'geglu':
      return train(n, { name: 'gated_grad', gate: fwd.op === 'swiglu' ? 'silu' : 'gelu', wrt: wrt as 0 | 1 }, { gate: fwd.args[0], up: fwd.args[1], dy, dx: n.id }, { count: f(size(fwd)) }, size(fwd));
    case 'gather': {
      if (wrt !== 0) break;
      const table = arg(0);
      const uniforms = { rows: f(rows(fwd)), D: f(last(fwd)), vocab: f(table.shape[0]), scale: { f32: fwd.attrs.scale } };
      return train(n, { name: 'gather_grad' }, { ids: fwd.args[1], dy, dtable: n.id }, uniforms, table.shape[0]);
    }
    case 'positions': {
      const table = arg(1);
      return train(n, { name: 'positions_grad' }, { dy, dtable: n.id }, { T: f(fwd.shape[0]), D: f(fwd.shape[1]), table_rows: f(table.shape[0]), offset: fc(fwd.attrs.offset ?? 0) }, size(table));
    }
    case 'norm': {
      const type = fwd.attrs.type;
      const uniforms = { rows: f(rows(fwd)), D: f(last(fwd)), eps: { f32: fwd.attrs.eps } };
      const stats = normStats(fwd.id);
      if (wrt === 0) return train(n, { name: 'norm_grad_x', type }, { x: fwd.args[0], gamma: fwd.args[1], dy, stats, dx: n.id }, uniforms, rows(fwd));
      if (wrt === 1) return train(n, { name: 'norm_grad_param', type, which: 'gamma' }, { x: fwd.args[0], dy, stats, dparam: n.id }, uniforms, last(fwd));
      return train(n, { name: 'norm_grad_param', type, which: 'beta' }, { dy, dparam: n.id }, uniforms, last(fwd));
    }
    case 'matmul': {
      plainMatmul(fwd);
      const x = arg(0);
      const [mRows, nOut, kIn] = [rows(fwd), last(fwd), last(x)];
      const one = fc(1);
      // A register tiling blocks the products too (R×4 outputs an invocation), so the grid counts blocks; with the
      // weight's input size a multiple of 4 they read vec4s in blocks of their own height (matmul-grad.ts), else
      // scalars at run-time strides in the tiling's.
      const block = backwardMatmulBlock(options.matmulTiling);
      const [N, K] = [sym.asConstant(nOut), sym.asConstant(kIn)];
      if (block && wrt !== 2 && gradMatmulFits(K)) {
        const o: GradMatmulOptions = { wrt: wrt === 0 ? 'input' : 'weight', rows: GRAD_MATMUL_ROWS, dyVec4: N !== undefined && N % 4 === 0 };
        const outRows = f(wrt === 0 ? mRows : nOut);
        const uniforms = { M: f(mRows), N: f(nOut), K: f(kIn) };
        return train(n, { name: 'matmul_grad', ...o }, { a: dy, b: fwd.args[wrt === 0 ? 1 : 0], out: n.id }, uniforms, formula.times(formula.ceilDiv(outRows, o.rows), fc(K! / 4)));
      }
      const op: TrainingKernel = block ? { name: 'matmul_strided', block } : { name: 'matmul_strided' };
      const grid = (r: Poly, cols: Poly) => (block ? formula.times(formula.ceilDiv(f(r), block), formula.ceilDiv(f(cols), 4)) : f(sym.mul(r, cols)));
      // y[m, n] = Σ_k x[m, k] · w[n, k] (+ b[n]).
      if (wrt === 0) {
        const uniforms = { rows: f(mRows), cols: f(kIn), inner: f(nOut), a_row: f(nOut), a_inner: one, b_col: one, b_inner: f(kIn) };
        return train(n, op, { a: dy, b: fwd.args[1], out: n.id }, uniforms, grid(mRows, kIn));
      }
      if (wrt === 1) {
        const uniforms = { rows: f(nOut), cols: f(kIn), inner: f(mRows), a_row: one, a_inner: f(nOut), b_col: one, b_inner: f(kIn) };
        return train(n, op, { a: dy, b: fwd.args[0], out: n.id }, uniforms, grid(nOut, kIn));
      }
      return sum(dy, size(fwd), nOut);
    }
  }
  throw new ScheduleError(`${n.id}: no WebGPU backward for ${fwd.op} argument ${wrt}`);
}
