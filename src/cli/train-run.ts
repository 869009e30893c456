// The loop of `mdl train`: optimizer steps, a progress line on stderr, evaluation, checkpoints every N steps, at the
// end and on Ctrl-C (SIGINT: the step under way finishes, the checkpoint is written, the process exits with 130),
// then the loss curves as an SVG beside the checkpoint and a summary (or JSON) on stdout.
// The curves are train loss per step and eval loss where it was measured, on shared axes, in a small self-contained
// SVG whose first line marks it as mdl's, so that a later run may replace it and nothing else.

import { existsSync, readFileSync } from 'node:fs';
import type { CheckedModel } from '../check/model.ts';
import type { GradGraph } from '../lower/grad.ts';
import type { AdamWConfig, LrSchedule, OptimizerState } from '../runtime/adamw.ts';
import type { TrainingMemory } from '../runtime/gpu-training.ts';
import type { TrainingBatch } from '../runtime/training-data.ts';
import { evaluate, trainStep, type EvalResult, type StepConfig, type StepResult } from '../runtime/training-loop.ts';
import { optimizerPath, writeCheckpoint } from './checkpoint.ts';
import { writeOutputFile } from './output-file.ts';
import { UserError } from './user-error.ts';

/** What a checkpoint records of a run (as JSON in the optimizer file), so that --resume continues it exactly. */
export interface RunSettings {
  seed: number;
  steps: number;
  accumulate: number;
  batchTokens: number;
  clip: number;
  adamw: AdamWConfig;
  schedule: LrSchedule;
  frozen: string[];
  examples: number;
  /** A hash of every token of the batches, so that a run is resumed only on the data it started on. */
  data: string;
  history: { train: Curve; eval: Curve };
}

/** Where the steps run: the CPU reference, or the device (weights and state on the GPU, read back to save). */
export interface Backend {
  name: 'cpu' | 'gpu';
  step(c: StepConfig, weights: Map<string, Float32Array>, state: OptimizerState): Promise<StepResult>;
  evaluate(batches: TrainingBatch[], weights: Map<string, Float32Array>): Promise<EvalResult>;
  /** Brings the host's weights and optimizer state up to date (before a checkpoint is written). */
  sync(weights: Map<string, Float32Array>, state: OptimizerState): Promise<void>;
  memory?: TrainingMemory;
}

export const cpuBackend = (graph: GradGraph, model: CheckedModel): Backend => ({
  name: 'cpu',
  step: async (c, weights, state) => trainStep(c, weights, state),
  evaluate: async (batches, weights) => evaluate(graph, model, batches, weights),
  sync: async () => {},
});

export interface TrainingRun {
  backend: Backend;
  model: CheckedModel;
  graph: GradGraph;
  shapes: Map<string, number[]>;
  batches: TrainingBatch[];
  evalBatches?: TrainingBatch[];
  weights: Map<string, Float32Array>;
  state: OptimizerState;
  settings: RunSettings;
  output: string;
  saveEvery: number;
  evalEvery: number;
  logEvery: number;
  json: boolean;
}

export async function runTraining(r: TrainingRun): Promise<void> {
  const s = r.settings;
  const config = { graph: r.graph, model: r.model, batches: r.batches, seed: s.seed, accumulate: s.accumulate, clip: s.clip, adamw: s.adamw, schedule: s.schedule, frozen: new Set(s.frozen) };
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
  };
  process.on('SIGINT', onSigint);
  const save = async () => {
    await r.backend.sync(r.weights, r.state);
    writeCheckpoint(r.output, { model: r.model.name, shapes: r.shapes, weights: r.weights, state: r.state, run: s });
  };
  const evalNow = async () => {
    if (!r.evalBatches) return undefined;
    const e = await r.backend.evaluate(r.evalBatches, r.weights);
    s.history.eval.push([r.state.step, e.loss]);
    return e.loss;
  };
  const started = Date.now();
  const startStep = r.state.step;
  let tokens = 0;
  let lastEval: number | undefined = s.history.eval.at(-1)?.[1];
  try {
    while (r.state.step < s.steps) {
      // Let a pending SIGINT be delivered between steps.
      await new Promise((done) => setImmediate(done));
      if (interrupted) break;
      const res = await r.backend.step(config, r.weights, r.state);
      tokens += res.counted;
      s.history.train.push([r.state.step, res.loss]);
      const step = r.state.step;
      if (r.evalEvery > 0 && step % r.evalEvery === 0 && step < s.steps) lastEval = await evalNow();
      if (r.saveEvery > 0 && step % r.saveEvery === 0 && step < s.steps) await save();
      if (step % r.logEvery === 0 || step === s.steps) {
        const seconds = (Date.now() - started) / 1000;
        const rate = tokens / Math.max(seconds, 1e-3);
        const eta = ((s.steps - step) * seconds) / Math.max(1, step - startStep);
        const evalText = lastEval !== undefined ? `  eval ${lastEval.toFixed(4)}` : '';
        process.stderr.write(`step ${step}/${s.steps}  loss ${res.loss.toFixed(4)}${evalText}  lr ${res.lr.toExponential(2)}  ${Math.round(rate)} tokens/s  ETA ${clock(eta)}\n`);
      }
    }
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (interrupted) {
    await save();
    process.stderr.write(`mdl: interrupted at step ${r.state.step}/${s.steps}; checkpoint ${r.output} written; continue with --resume ${r.output}\n`);
    process.exitCode = 130;
    return;
  }
  const finalEval = r.evalBatches ? await r.backend.evaluate(r.evalBatches, r.weights) : undefined;
  if (finalEval && s.history.eval.at(-1)?.[0] !== r.state.step) s.history.eval.push([r.state.step, finalEval.loss]);
  await save();
  const mem = r.backend.memory;
  if (mem) process.stderr.write(`${memoryLine(mem)}\n`);
  const svg = svgPath(r.output);
  writeLossCurves(svg, lossCurvesSvg(`${r.model.name}: loss`, s.history.train, s.history.eval));
  const trainLoss = s.history.train.at(-1)?.[1];
  if (r.json) {
    const memory = mem ? { peak_bytes: mem.peak, params_bytes: mem.params, gradients_bytes: mem.gradients, optimizer_bytes: mem.optimizer, activations_bytes: mem.activations } : null;
    const out = { model: r.model.name, backend: r.backend.name, steps: r.state.step, train_loss: trainLoss ?? null, eval_loss: finalEval?.loss ?? null, eval_accuracy: finalEval ? finalEval.correct / finalEval.counted : null, checkpoint: r.output, optimizer: optimizerPath(r.output), curves: svg, memory, history: s.history };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } else {
    const evalText = finalEval ? `, eval loss ${finalEval.loss.toFixed(4)}` : '';
    process.stdout.write(`${r.output}: ${r.model.name} after ${r.state.step} steps, train loss ${trainLoss?.toFixed(4) ?? '-'}${evalText}; curves in ${svg}\n`);
  }
}

/** The device memory of training, measured against the parts it must hold. */
export function memoryLine(m: TrainingMemory): string {
  const mib = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;
  const parts = m.params + m.gradients + m.optimizer + m.activations;
  return `device memory: peak ${mib(m.peak)} in a step; parameters ${mib(m.params)} + gradients ${mib(m.gradients)} + optimizer state ${mib(m.optimizer)} + activations ${mib(m.activations)} = ${mib(parts)} (peak ${(m.peak / parts).toFixed(2)}× that)`;
}

function clock(seconds: number): string {
  const t = Math.max(0, Math.round(seconds));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = String(t % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export const SVG_MARK = '<!-- mdl train: loss curves -->';

export type Curve = [step: number, loss: number][];

export function svgPath(weightsPath: string): string {
  return weightsPath.replace(/(\.safetensors)?$/, '.loss.svg');
}

export function checkSvgTarget(path: string): void {
  if (existsSync(path) && !readFileSync(path, 'utf8').startsWith(SVG_MARK)) throw new UserError(`${path}: already exists and is not a loss curve mdl wrote; mdl leaves it as it is (choose another -o)`);
}

export function lossCurvesSvg(title: string, train: Curve, evals: Curve): string {
  const W = 640;
  const H = 360;
  const left = 56;
  const right = 16;
  const top = 32;
  const bottom = 40;
  const all = [...train, ...evals];
  const maxStep = Math.max(1, ...all.map(([s]) => s));
  const finite = all.map(([, l]) => l).filter(Number.isFinite);
  const hi = Math.max(1e-9, ...finite);
  const lo = Math.min(hi, ...finite, 0);
  const x = (s: number) => (left + (s / maxStep) * (W - left - right)).toFixed(1);
  const y = (l: number) => (top + (1 - (l - lo) / (hi - lo || 1)) * (H - top - bottom)).toFixed(1);
  const line = (c: Curve, colour: string) => (c.length ? `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${c.map(([s, l]) => `${x(s)},${y(l)}`).join(' ')}"/>` : '');
  const dots = evals.map(([s, l]) => `<circle cx="${x(s)}" cy="${y(l)}" r="3" fill="#d62728"/>`).join('');
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const ticks = [0, 0.5, 1].map((f) => {
    const l = lo + f * (hi - lo);
    return `<text x="${left - 6}" y="${y(l)}" text-anchor="end" dominant-baseline="middle">${l.toFixed(2)}</text>`;
  });
  return [
    SVG_MARK,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(title)}</text>`,
    `<line x1="${left}" y1="${H - bottom}" x2="${W - right}" y2="${H - bottom}" stroke="black"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${H - bottom}" stroke="black"/>`,
    ...ticks,
    `<text x="${left}" y="${H - bottom + 16}">0</text>`,
    `<text x="${W - right}" y="${H - bottom + 16}" text-anchor="end">step ${maxStep}</text>`,
    line(train, '#1f77b4'),
    line(evals, '#d62728'),
    dots,
    `<text x="${W - right}" y="${top}" text-anchor="end" fill="#1f77b4">train loss</text>`,
    evals.length ? `<text x="${W - right}" y="${top + 14}" text-anchor="end" fill="#d62728">eval loss</text>` : '',
    '</svg>',
    '',
  ].join('\n');
}

export function writeLossCurves(path: string, svg: string): void {
  checkSvgTarget(path);
  writeOutputFile(path, svg, true);
}
