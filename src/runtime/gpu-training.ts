// `mdl train` and `mdl eval` on WebGPU: the lowered programs run over weights and optimizer state that stay on the
// device. Per micro-batch, the training program (forward, loss, backward) and the accumulate program (the gradients
// into their sums, weighted by counted positions) go to the device in one command buffer, and only the loss comes
// back; per optimizer step, the optimizer program (global norm, clipping, AdamW) runs and only the norm comes back.
// The weights, m and v are read back for checkpoints only (`download`). The loop mirrors the CPU reference's
// `trainStep` (training-loop.ts) decision for decision: same batches, same skipped empty micro-batches, same
// learning rate and bias corrections, so the two backends differ by f32 rounding only.

import type { CheckedModel } from '../check/model.ts';
import { sym } from '../check/sym.ts';
import { formula } from '../lower/formula.ts';
import type { GradGraph } from '../lower/grad.ts';
import { ACCUMULATE_SCALARS, CLIP_BUFFER, lowerOptimizer, stateIds, STEP_SCALARS, type OptimizerPrograms } from '../lower/optimizer-program.ts';
import type { Program, ProgramBuffer } from '../lower/program.ts';
import type { ScheduleOptions } from '../lower/schedule.ts';
import { lossBuffers, lowerEvaluation, lowerTraining, type TrainingProgram } from '../lower/train-schedule.ts';
import { learningRate, type OptimizerState } from './adamw.ts';
import type { GpuContext } from './device.ts';
import { readBack, withErrorScopes } from './gpu-buffers.ts';
import { encodeProgram, withLabels, type EncodedProgram } from './program.ts';
import type { TrainingBatch } from './training-data.ts';
import { batchAt, type EvalResult, type StepConfig, type StepResult } from './training-loop.ts';

/** Device memory of training, in bytes: what was measured, and the sizes it is made of. */
export interface TrainingMemory {
  /** The most bytes of device buffers alive at once during a micro-batch or an optimizer step. */
  peak: number;
  params: number;
  /** The training program's gradient outputs plus the accumulated sums. */
  gradients: number;
  /** AdamW's m and v. */
  optimizer: number;
  /** Every forward value the backward reads (all forward nodes' outputs) at the largest batch seen. */
  activations: number;
}

type Scalars = Record<string, number>;
const scalarsOf = (values: Scalars) => (name: string) => {
  const v = values[name];
  if (v === undefined) throw new Error(`no value for the run-time scalar '${name}'`);
  return v;
};

export class DeviceTrainer {
  private trainingProgram?: TrainingProgram;
  private evaluation?: TrainingProgram;
  private readonly optimizer: OptimizerPrograms;
  /** Weights (every parameter), and m, v and the gradient sum of every trained one, by program buffer id. */
  private readonly state = new Map<string, GPUBuffer>();
  private readonly persistent: number;
  private readonly activationIds: Set<string>;
  readonly memory: TrainingMemory;

  constructor(
    private readonly gpu: GpuContext,
    private readonly graph: GradGraph,
    private readonly model: CheckedModel,
    weights: ReadonlyMap<string, Float32Array>,
    optimizerState: OptimizerState,
    frozen: ReadonlySet<string>,
    /** The schedule's choices (the matmul tiling `mdl tune` picked for this adapter); the manifest shows them. */
    private readonly options: ScheduleOptions = {},
  ) {
    this.optimizer = lowerOptimizer(graph, frozen);
    let bytes = 0;
    const keep = (id: string, data: Float32Array) => {
      const b = gpu.device.createBuffer({ label: id, size: Math.max(4, data.byteLength), usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, mappedAtCreation: true });
      new Float32Array(b.getMappedRange()).set(data);
      b.unmap();
      this.state.set(id, b);
      bytes += b.size;
      return b.size;
    };
    let params = 0;
    for (const [name, w] of weights) params += keep(stateIds(name).weight, w);
    let moments = 0;
    let sums = 0;
    for (const p of this.optimizer.params) {
      const ids = stateIds(p.name);
      moments += keep(ids.m, optimizerState.m.get(p.name)!) + keep(ids.v, optimizerState.v.get(p.name)!);
      sums += keep(ids.sum, new Float32Array(p.elements));
    }
    this.persistent = bytes;
    const forward = new Set(graph.nodes.slice(0, graph.nodes.findIndex((n) => n.id === graph.loss)).filter((n) => n.op !== 'param' && n.op !== 'input' && n.op !== 'labels').map((n) => n.id));
    this.activationIds = forward;
    const shapes = new Map(graph.nodes.filter((n) => n.op === 'param').map((n) => [n.id.slice(1), n.shape]));
    const gradBytes = [...graph.grads.keys()].reduce((n, name) => n + 4 * (formula.evaluate(formula.of(shapes.get(name)!.reduce((a, d) => sym.mul(a, d), sym.constant(1))), {}) ?? 0), 0);
    this.memory = { peak: bytes, params, gradients: gradBytes + sums, optimizer: moments, activations: 0 };
  }

  /** The training program, built when first needed (`mdl eval` never needs it). */
  private get training(): TrainingProgram {
    return (this.trainingProgram ??= lowerTraining(this.graph, this.model, this.options));
  }

  private external = (b: ProgramBuffer): GPUBuffer | undefined => this.state.get(b.id);

  private note(bytes: number): void {
    this.memory.peak = Math.max(this.memory.peak, this.persistent + bytes);
  }

  /** One optimizer step (accumulated micro-batches, clipping, AdamW) on the device; `state.step` advances by one. */
  async step(c: StepConfig, state: OptimizerState): Promise<StepResult> {
    let lossSum = 0;
    let counted = 0;
    for (let j = 0; j < c.accumulate; j++) {
      const batch = batchAt(c.batches, c.seed, state.step * c.accumulate + j);
      const run = { dims: batch.dims, inputs: batch.inputs, weights: new Map<string, Float32Array>() };
      const labelled = withLabels(this.graph, this.model, run);
      // As on the CPU: a micro-batch with nothing to count adds nothing.
      if (labelled.counted === 0) continue;
      const loss = await this.microBatch({ ...run, inputs: labelled.inputs }, labelled.counted, counted > 0);
      lossSum += loss * labelled.counted;
      counted += labelled.counted;
    }
    const lr = learningRate(state.step + 1, c.schedule);
    state.step++;
    if (counted === 0) return { loss: 0, counted: 0, gradNorm: 0, lr };
    const opt = await this.encodeOptimizer(stepScalars(c, state.step, lr, counted));
    try {
      this.note(opt.bytes);
      await this.submit('the optimizer step', [opt]);
      const clip = (await opt.read(CLIP_BUFFER)) as Float32Array;
      return { loss: lossSum / counted, counted, gradNorm: clip[0], lr };
    } finally {
      opt.release();
    }
  }

  /**
   * The programs of one optimizer step on one batch — training, accumulate, optimizer — encoded over this trainer's
   * buffers but not run, with each program's steps (a profile times them one by one). Running the optimizer program
   * updates the weights. The caller releases them.
   */
  async encodeStep(c: StepConfig, batch: TrainingBatch): Promise<{ program: Program; encoded: EncodedProgram }[]> {
    const run = { dims: batch.dims, inputs: batch.inputs, weights: new Map<string, Float32Array>() };
    const labelled = withLabels(this.graph, this.model, run);
    const train = await encodeProgram(this.gpu, this.training, this.model, { ...run, inputs: labelled.inputs }, { external: this.external });
    const acc = await this.encodeAccumulate(train, Math.max(1, labelled.counted), false);
    const opt = await this.encodeOptimizer(stepScalars(c, 1, learningRate(1, c.schedule), Math.max(1, labelled.counted)));
    return [
      { program: this.training.program, encoded: train },
      { program: this.optimizer.accumulate.program, encoded: acc },
      { program: this.optimizer.step.program, encoded: opt },
    ];
  }

  private encodeAccumulate(train: EncodedProgram, counted: number, keep: boolean): Promise<EncodedProgram> {
    const gradOrState = (b: ProgramBuffer) => this.state.get(b.id) ?? train.buffers.get(b.id);
    const scalars = { weight: counted, keep: keep ? 1 : 0 };
    checkScalars(scalars, ACCUMULATE_SCALARS);
    return encodeProgram(this.gpu, this.optimizer.accumulate, this.model, { dims: {}, inputs: {}, weights: new Map() }, { external: gradOrState, scalar: scalarsOf(scalars) });
  }

  private encodeOptimizer(scalars: Scalars): Promise<EncodedProgram> {
    checkScalars(scalars, STEP_SCALARS);
    return encodeProgram(this.gpu, this.optimizer.step, this.model, { dims: {}, inputs: {}, weights: new Map() }, { external: this.external, scalar: scalarsOf(scalars) });
  }

  /** The training program on one micro-batch, its gradients added into the sums; returns the batch's mean loss. */
  private async microBatch(run: { dims: Record<string, number>; inputs: Record<string, Int32Array | Float32Array>; weights: Map<string, Float32Array> }, counted: number, keep: boolean): Promise<number> {
    const train = await encodeProgram(this.gpu, this.training, this.model, run, { external: this.external });
    let acc: EncodedProgram | undefined;
    try {
      acc = await this.encodeAccumulate(train, counted, keep);
      this.note(train.bytes + acc.bytes);
      this.noteActivations(run.dims);
      await this.submit('a training step', [train, acc]);
      const lb = lossBuffers(this.graph.loss);
      const deviceCount = (await train.read(lb.count))[0];
      if (deviceCount !== counted) throw new Error(`the device counted ${deviceCount} positions, the host ${counted}`);
      return (await train.read(this.graph.loss))[0];
    } finally {
      train.release();
      acc?.release();
    }
  }

  private noteActivations(dims: Record<string, number>): void {
    let bytes = 0;
    for (const b of this.training.program.buffers) {
      if (!this.activationIds.has(b.id)) continue;
      bytes += 4 * (formula.evaluate(b.elements, dims) ?? 0);
    }
    this.memory.activations = Math.max(this.memory.activations, bytes);
  }

  private async submit(what: string, programs: EncodedProgram[]): Promise<void> {
    await withErrorScopes(this.gpu, `running ${what} of ${this.model.name}`, () => {
      const encoder = this.gpu.device.createCommandEncoder({ label: what });
      for (const p of programs) p.encode(encoder);
      this.gpu.device.queue.submit([encoder.finish()]);
    });
    this.gpu.checkHealthy();
  }

  /** Teacher-forced evaluation on the device's current weights, as the CPU reference's `evaluate` computes it. */
  async evaluate(batches: TrainingBatch[]): Promise<EvalResult> {
    this.evaluation ??= lowerEvaluation(this.graph, this.model, this.options);
    const logitsId = this.evaluation.program.outputs[2];
    let sum = 0;
    let counted = 0;
    let correct = 0;
    for (const batch of batches) {
      const run = { dims: batch.dims, inputs: batch.inputs, weights: new Map<string, Float32Array>() };
      const labelled = withLabels(this.graph, this.model, run);
      if (labelled.counted === 0) continue;
      const e = await encodeProgram(this.gpu, this.evaluation, this.model, { ...run, inputs: labelled.inputs }, { external: this.external });
      try {
        this.note(e.bytes);
        await this.submit('an evaluation', [e]);
        const loss = (await e.read(this.graph.loss))[0];
        sum += loss * labelled.counted;
        counted += labelled.counted;
        correct += countCorrect((await e.read(logitsId)) as Float32Array, labelled.labels);
      } finally {
        e.release();
      }
    }
    return { loss: counted ? sum / counted : NaN, counted, correct };
  }

  /** The device's weights and moments into the host's maps (for a checkpoint, or evaluation on the CPU). */
  async download(weights: Map<string, Float32Array>, state: OptimizerState): Promise<void> {
    const read = async (id: string, into: Float32Array) => into.set(new Float32Array(await readBack(this.gpu, this.state.get(id)!, into.byteLength)));
    for (const [name, w] of weights) await read(stateIds(name).weight, w);
    for (const p of this.optimizer.params) {
      const ids = stateIds(p.name);
      await read(ids.m, state.m.get(p.name)!);
      await read(ids.v, state.v.get(p.name)!);
    }
  }

  release(): void {
    for (const b of this.state.values()) b.destroy();
    this.state.clear();
  }
}

/** Counted rows whose label is the logits' argmax (the first of equal maxima), as the CPU reference counts them. */
function countCorrect(logits: Float32Array, labels: Int32Array): number {
  const vocab = logits.length / labels.length;
  let correct = 0;
  labels.forEach((label, row) => {
    if (label < 0) return;
    let best = 0;
    for (let j = 1; j < vocab; j++) if (logits[row * vocab + j] > logits[row * vocab + best]) best = j;
    if (best === label) correct++;
  });
  return correct;
}

/** The optimizer program's run-time scalars at step `t` (counted from 1) with this learning rate and counted positions. */
function stepScalars(c: StepConfig, t: number, lr: number, counted: number): Scalars {
  return {
    lr,
    beta1: c.adamw.beta1,
    beta2: c.adamw.beta2,
    eps: c.adamw.eps,
    weight_decay: c.adamw.weightDecay,
    bias1: 1 - c.adamw.beta1 ** t,
    bias2: 1 - c.adamw.beta2 ** t,
    grad_scale: 1 / counted,
    max_norm: c.clip,
  };
}

function checkScalars(values: Scalars, declared: Record<string, string>): void {
  for (const name of Object.keys(declared)) if (!Number.isFinite(values[name])) throw new Error(`run-time scalar '${name}' is ${values[name]}`);
}
