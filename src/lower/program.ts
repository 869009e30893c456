// A compiled program: kernel launches (steps) over named buffers whose sizes are formulas of the spec's dims. The
// types live here, apart from the passes that build them (schedule.ts, memory-plan.ts, decode-program.ts), so those
// passes and the runtime share them without importing one another.
//
// A step names its kernel by a typed description (`StepKernel`), binds its buffers by the roles the kernel's
// generator declares, and gives its uniforms by field name; `verifyProgram` checks all three against the kernel.

import type { Poly } from '../check/sym.ts';
import type { MaskWgsl } from '../masks/kernel-contract.ts';
import type { BoolExpr } from '../masks/predicate.ts';
import { packUniforms, type UniformField } from '../wgsl/kernel.ts';
import type { ElementwiseOp, EmbedPositions, MatmulOptions, NormType } from '../wgsl/kernels.ts';
import type { RopeStyle } from '../wgsl/positions.ts';
import type { TrainingKernel } from '../wgsl/backward-kernels.ts';
import type { MatmulTiling } from '../wgsl/matmul-tilings.ts';
import type { OptimizerKernel } from '../wgsl/optimizer-kernels.ts';
import type { ScoreModifier } from '../wgsl/score-modifiers.ts';
import type { AttentionHeads } from '../wgsl/attention.ts';
import type { SinusoidalLayout } from '../check/model.ts';
import { formula, type Formula } from './formula.ts';

/**
 * `kv_cache` and `kept` appear in the decode programs only: a cache the runtime grows, a value kept from the first
 * call. `state` appears in the optimizer programs only: the weights, the moments and the gradient sums, which live on
 * the device from one optimizer step to the next (the host uploads them once and downloads them for checkpoints).
 * `row_positions` appears in the decode step only: where each batch row stands (its start, its attention windows).
 */
export type BufferRole = 'input' | 'param' | 'packed_param' | 'value' | 'tile_classes' | 'mask' | 'kv_cache' | 'kept' | 'state' | 'row_positions';

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

/**
 * A uniform value: a formula of the dims for a u32 field; for an f32 field a number fixed at lowering, or a named
 * scalar the host gives at each run (the optimizer's learning rate and bias corrections, which change every step).
 */
export type Word = Formula | { f32: number } | { scalar: string };

export interface MaskSite {
  name: string;
  normalForm: string;
  predicate: BoolExpr;
  wgsl: MaskWgsl;
}

export interface AttentionSite extends AttentionHeads {
  /** Multiplies q·k before the score modifiers. */
  scale: number;
  queryAxis: string;
  keyAxis: string;
  batch: Poly;
  lq: Poly;
  lk: Poly;
  /** The tile shape the kernel is generated with; `heads` is how many heads the tile classes distinguish. */
  tiles: { q: number; k: number; lanes: number; staged: boolean; heads: number; rowwise?: boolean; subgroups?: boolean; splitKeys?: boolean };
  mask?: MaskSite;
  modifiers: ScoreModifier[];
  /** Who fills the tile classes: all FULL (no mask), the host (index-only mask), or the classify step before. */
  tileFill: 'full' | 'host' | 'device';
  /** The training program's forward step also writes each query row's log-sum-exp (binding `lse`) for the backward. */
  lse?: boolean;
  /** Attention and classify read each batch row's offsets and key count (binding `rowWindow`): the decode step. */
  rowWindows?: boolean;
}

/** The kernels of attention's backward pass, in the order they run (attention-grad-steps.ts). */
export type AttentionBackwardPart = 'delta' | 'dkdv' | 'dq' | 'table';

/** Which generator makes a step's kernel, with its options; attention and classify kernels follow `Step.attention`. */
export type StepKernel =
  | { kind: 'matmul'; options: MatmulOptions; shape: 'tiled' | 'skinny'; /** The tiled shape's tiling (absent: the default, wg32). */ tiling?: MatmulTiling }
  | { kind: 'embed'; positions: EmbedPositions; layout: SinusoidalLayout; rowStarts?: boolean }
  | { kind: 'norm'; type: NormType; bias: boolean; /** One invocation a row (absent: a workgroup a row, the default). */ rows?: boolean }
  | { kind: 'elementwise'; op: ElementwiseOp }
  | { kind: 'rope'; style: RopeStyle; rowStarts?: boolean }
  | { kind: 'shift_right' }
  | { kind: 'argmax' }
  | { kind: 'classify' }
  | { kind: 'attention' }
  | { kind: 'train'; op: TrainingKernel }
  | { kind: 'optimizer'; op: OptimizerKernel }
  | { kind: 'attention_backward'; part: AttentionBackwardPart };

export type StepKind = StepKernel['kind'];

export interface Step {
  /** The IR node this step computes (for rope and classify steps, the attention node they prepare). */
  node: string;
  kind: StepKind;
  kernel: StepKernel;
  /** Buffers by the roles of the kernel's bindings. */
  bind: Record<string, string>;
  /** Uniform values by the kernel's field names. */
  uniforms: Record<string, Word>;
  /** Workgroups per dispatch dimension. */
  grid: [Formula, Formula, Formula];
  /** For attention steps and the classify steps that serve them. */
  attention?: AttentionSite;
}

export interface Slot {
  id: number;
  dtype: ProgramBuffer['dtype'];
  elements: ProgramBuffer['elements'];
  /** The values stored in this slot, in the order they occupy it. */
  values: string[];
}

export interface ProgramDim {
  name: string;
  bound?: number;
  /**
   * For a dim the runtime derives rather than the user gives (the decode programs' cache positions): the value the
   * verifier checks it at, a number or the name of the dim whose sampled value it takes.
   */
  sample?: number | string;
}

export interface Program {
  model: string;
  dims: ProgramDim[];
  buffers: ProgramBuffer[];
  steps: Step[];
  outputs: string[];
  /** Device buffers for intermediate values, each shared by values that are never live at the same step. */
  slots: Slot[];
  /** The f32 scalars the host gives at each run (named by `{ scalar }` uniforms), with what each one is. */
  scalars?: Record<string, string>;
}

/** Every buffer a step binds, in no particular order. */
export const boundBuffers = (s: Step): string[] => Object.values(s.bind);

/** A run-time scalar's value; a program that names none never calls it. */
export type ScalarValue = (name: string) => number;

const noScalars: ScalarValue = (name) => {
  throw new Error(`no value given for the run-time scalar '${name}'`);
};

/** The uniform values of a step as numbers, by field name, with the dims evaluated by `size`. */
export function uniformValues(s: Step, size: (f: Formula) => number, scalar: ScalarValue = noScalars): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, w] of Object.entries(s.uniforms)) out[name] = 'f32' in w ? w.f32 : 'scalar' in w ? scalar(w.scalar) : size(w);
  return out;
}

/** Whether a value suits a field: a formula for u32, a number or a named scalar for f32. */
export const wordFits = (w: Word, f: UniformField): boolean => ('f32' in w || 'scalar' in w) === (f.type === 'f32');

export const printWord = (w: Word): string => ('f32' in w ? `${w.f32}f` : 'scalar' in w ? `$${w.scalar}` : formula.print(w));

/** The one packer of a step's uniform block for dispatch: full passes, decode steps and tests all use it. */
export function packStepUniforms(s: Step, fields: readonly UniformField[], size: (f: Formula) => number, scalar?: ScalarValue): Uint32Array {
  return packUniforms(fields, uniformValues(s, size, scalar));
}
