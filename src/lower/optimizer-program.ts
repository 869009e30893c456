// The optimizer programs of `mdl train` on the device (`mdl dump FILE --stage optimizer`, and `accumulate.manifest.json`
// / `optimizer.manifest.json` from `mdl compile`), built from the backward graph's parameters and checked by the same
// render pass as every other program.
//
// - accumulate: after each micro-batch's training program, every trained parameter's gradient (the training
//   program's output of the same id) is added into its gradient sum, weighted by the micro-batch's counted positions.
// - optimizer: one step. Each trained parameter's share of the squared global norm (fixed chunks, in order), the
//   norm and clipping factor (one invocation, partials in order), then AdamW on each parameter.
//
// The weights, both moments and the gradient sums are `state` buffers: they stay on the device between steps and
// the training program reads the same weight buffers. Frozen parameters (and parameters the loss does not reach)
// have no steps at all: no sum, no share of the norm (as in PyTorch, where a frozen parameter has no gradient), no
// update. The learning rate, AdamW's constants, the bias corrections and the accumulation weights are run-time
// scalars, since they change from step to step; only which parameters decay is fixed here.

import { sym } from '../check/sym.ts';
import { GRAD_NORM_CHUNK, type OptimizerKernel } from '../wgsl/optimizer-kernels.ts';
import { formula } from './formula.ts';
import type { GradGraph } from './grad.ts';
import { planMemory } from './memory-plan.ts';
import type { Program, ProgramBuffer, Step, Word } from './program.ts';
import { render, type Rendered } from './render.ts';

/** Norm scales and biases are not decayed (the usual practice for transformers; the CPU reference uses this rule). */
export function isDecayed(name: string): boolean {
  if (name.endsWith('.bias')) return false;
  return !(/norm(\.|$)/.test(name) && name.endsWith('.weight'));
}

export interface TrainedParam {
  name: string;
  elements: number;
  /** The id of the parameter's gradient in the training program. */
  grad: string;
}

/** The buffer ids of a parameter's device state. */
export const stateIds = (name: string) => ({ weight: `%${name}`, m: `%${name}#m`, v: `%${name}#v`, sum: `%${name}#grad_sum` });
/** The optimizer program's [norm, factor] output. */
export const CLIP_BUFFER = '#clip';
const PARTIALS = '#grad_norm_partials';

export const ACCUMULATE_SCALARS = { weight: "this micro-batch's counted positions", keep: "0 on a step's first micro-batch (the sums start afresh), 1 after" };
export const STEP_SCALARS = {
  lr: 'the learning rate of this step (after warmup and decay)',
  beta1: "AdamW's β1",
  beta2: "AdamW's β2",
  eps: "AdamW's ε",
  weight_decay: "AdamW's decoupled weight decay λ",
  bias1: '1 − β1^t at step t',
  bias2: '1 − β2^t at step t',
  grad_scale: 'one over the counted positions of the whole step (turns the gradient sums into the mean)',
  max_norm: 'the clipping threshold of the global norm (0: no clipping)',
};

/** The parameters the optimizer updates, in declaration order: those with a gradient that are not frozen. */
export function trainedParams(g: GradGraph, frozen: ReadonlySet<string> = new Set()): TrainedParam[] {
  const shapes = new Map(g.nodes.filter((n) => n.op === 'param').map((n) => [n.id.slice(1), n.shape]));
  return [...g.grads]
    .filter(([name]) => !frozen.has(name))
    .map(([name, grad]) => ({ name, grad, elements: shapes.get(name)!.reduce((a, d) => a * (sym.asConstant(d) ?? 0), 1) }));
}

const fc = (n: number) => formula.constant(n);
const linear = (count: number): Step['grid'] => [fc(Math.ceil(count / 64)), fc(1), fc(1)];
const scalar = (name: string): Word => ({ scalar: name });

function step(node: string, op: OptimizerKernel, bind: Record<string, string>, uniforms: Record<string, Word>, invocations: number): Step {
  return { node, kind: 'optimizer', kernel: { kind: 'optimizer', op }, bind, uniforms, grid: linear(Math.max(1, invocations)) };
}

export function scheduleAccumulate(model: string, params: TrainedParam[]): Program {
  const buffers: ProgramBuffer[] = [];
  const steps: Step[] = [];
  for (const p of params) {
    const ids = stateIds(p.name);
    buffers.push({ id: p.grad, role: 'input', dtype: 'f32', elements: fc(p.elements) }, { id: ids.sum, role: 'state', dtype: 'f32', elements: fc(p.elements) });
    steps.push(step(ids.sum, { name: 'grad_accumulate' }, { grad: p.grad, sum: ids.sum }, { count: fc(p.elements), weight: scalar('weight'), keep: scalar('keep') }, p.elements));
  }
  return { model, dims: [], buffers, steps, outputs: [], slots: [], scalars: { ...ACCUMULATE_SCALARS } };
}

export function scheduleOptimizerStep(model: string, params: TrainedParam[]): Program {
  const buffers: ProgramBuffer[] = [];
  const steps: Step[] = [];
  let partials = 0;
  for (const p of params) {
    const ids = stateIds(p.name);
    buffers.push(...[ids.weight, ids.m, ids.v, ids.sum].map((id): ProgramBuffer => ({ id, role: 'state', dtype: 'f32', elements: fc(p.elements) })));
    const chunks = Math.ceil(p.elements / GRAD_NORM_CHUNK);
    steps.push(step(ids.sum, { name: 'grad_sq_partials' }, { grad: ids.sum, partials: PARTIALS }, { count: fc(p.elements), offset: fc(partials) }, chunks));
    partials += chunks;
  }
  buffers.push({ id: PARTIALS, role: 'value', dtype: 'f32', elements: fc(Math.max(1, partials)) }, { id: CLIP_BUFFER, role: 'value', dtype: 'f32', elements: fc(2) });
  // With every parameter frozen there is nothing to measure or update.
  if (params.length > 0) steps.push(step(CLIP_BUFFER, { name: 'clip_factor' }, { partials: PARTIALS, clip: CLIP_BUFFER }, { n: fc(partials), grad_scale: scalar('grad_scale'), max_norm: scalar('max_norm') }, 1));
  for (const p of params) {
    const ids = stateIds(p.name);
    const uniforms: Record<string, Word> = { count: fc(p.elements), decayed: fc(isDecayed(p.name) ? 1 : 0) };
    for (const s of ['lr', 'beta1', 'beta2', 'eps', 'weight_decay', 'bias1', 'bias2']) uniforms[s] = scalar(s);
    steps.push(step(ids.weight, { name: 'adamw' }, { grad: ids.sum, clip: CLIP_BUFFER, param: ids.weight, m: ids.m, v: ids.v }, uniforms, p.elements));
  }
  const program: Program = { model, dims: [], buffers, steps, outputs: params.length ? [CLIP_BUFFER] : [], slots: [], scalars: { ...STEP_SCALARS } };
  program.slots = planMemory(program);
  return program;
}

export interface LoweredProgram {
  program: Program;
  rendered: Rendered;
}

export interface OptimizerPrograms {
  params: TrainedParam[];
  accumulate: LoweredProgram;
  step: LoweredProgram;
}

/** Schedules and renders (and so verifies) the optimizer programs of a backward graph with these parameters frozen. */
export function lowerOptimizer(g: GradGraph, frozen: ReadonlySet<string> = new Set()): OptimizerPrograms {
  const params = trainedParams(g, frozen);
  const accumulate = scheduleAccumulate(g.model, params);
  const step = scheduleOptimizerStep(g.model, params);
  return {
    params,
    accumulate: { program: accumulate, rendered: render(accumulate, 'accumulate-') },
    step: { program: step, rendered: render(step, 'optimizer-') },
  };
}
