// The train view: a small data file pasted or dropped into the page, trained with the spec's own loss as `mdl train`
// trains it (same batching, data order, clipping and AdamW) on either of its backends: the page's WebGPU device
// (the device trainer, weights and optimizer state on the GPU) or the CPU reference. The train and eval losses are
// drawn as they come; the weights download as safetensors and go to the generate view.

import type { CheckedModel } from '../src/check/model.ts';
import { buildTrainingIr } from '../src/ir/training.ts';
import { buildGradGraph, type GradGraph } from '../src/lower/grad.ts';
import { DEFAULT_ADAMW, freshState } from '../src/runtime/adamw.ts';
import type { GpuContext } from '../src/runtime/device.ts';
import { DeviceTrainer } from '../src/runtime/gpu-training.ts';
import { DEFAULT_SEED, paramsOf, seededWeights } from '../src/runtime/init-weights.ts';
import { writeSafetensors } from '../src/runtime/safetensors.ts';
import { byteTokenizer, tokenizerOptionsOf, type Tokenizer } from '../src/runtime/tokenizer.ts';
import { readTrainingRows } from '../src/runtime/training-data.ts';
import { batchByLength, evaluate, trainStep } from '../src/runtime/training-loop.ts';

export interface TrainSettings {
  steps: number;
  lr: number;
  batchTokens: number;
  seed: number;
  /** Evaluate the held-out lines every this many steps (and at the end). */
  evalEvery: number;
}

export interface TrainProgress {
  step: number;
  train: { step: number; loss: number }[];
  eval: { step: number; loss: number }[];
}

export interface Trained {
  model: CheckedModel;
  weights: Map<string, Float32Array>;
  shapes: Map<string, number[]>;
  progress: TrainProgress;
  backend: 'WebGPU' | 'CPU reference';
}

/** Lines held out for evaluation: the last tenth of the data when it has at least 10 lines, else none. */
export function splitData(text: string): { train: string; eval?: string } {
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (lines.length < 10) return { train: lines.join('\n') };
  const held = Math.ceil(lines.length / 10);
  return { train: lines.slice(0, -held).join('\n'), eval: lines.slice(-held).join('\n') };
}

/**
 * Trains `model` on `text` (source<TAB>target lines for an encoder-decoder, text lines for a decoder-only model),
 * encoded with `codec` (the page's tokenizer; the byte-level one by default), calling `onStep` after every step and
 * yielding to the page between steps so that drawing and `stopped` are seen.
 */
export async function train(model: CheckedModel, text: string, s: TrainSettings, onStep: (p: TrainProgress) => void, stopped: () => boolean, gpu?: GpuContext, codec?: Tokenizer): Promise<Trained> {
  const graph: GradGraph = buildGradGraph(buildTrainingIr(model));
  codec ??= byteTokenizer(tokenizerOptionsOf(model));
  const data = splitData(text);
  const trainRows = readTrainingRows(data.train, 'training data', model, codec);
  if (trainRows.length === 0) throw new Error('the training data has no examples (paste lines, or drop a file)');
  const batches = batchByLength(trainRows, s.batchTokens, model, 'training data');
  const evalBatches = data.eval ? batchByLength(readTrainingRows(data.eval, 'held-out data', model, codec), s.batchTokens, model, 'held-out data') : undefined;
  const weights = seededWeights(graph, s.seed);
  const state = freshState(weights);
  const config = { graph, model, batches, seed: s.seed, accumulate: 1, clip: 1, adamw: DEFAULT_ADAMW, schedule: { lr: s.lr, warmup: 0, total: s.steps, schedule: 'cosine' as const }, frozen: new Set<string>() };
  const progress: TrainProgress = { step: 0, train: [], eval: [] };
  // On the device the weights and moments stay there, and come back once at the end.
  const device = gpu ? new DeviceTrainer(gpu, graph, model, weights, state, config.frozen) : undefined;
  try {
    const evalNow = async () => {
      if (!evalBatches) return;
      const e = device ? await device.evaluate(evalBatches) : evaluate(graph, model, evalBatches, weights);
      progress.eval.push({ step: progress.step, loss: e.loss });
    };
    await evalNow();
    onStep(progress);
    for (let step = 1; step <= s.steps && !stopped(); step++) {
      await new Promise((done) => setTimeout(done, 0));
      if (stopped()) break;
      const r = device ? await device.step(config, state) : trainStep(config, weights, state);
      progress.step = step;
      progress.train.push({ step, loss: r.loss });
      if (step % s.evalEvery === 0 || step === s.steps) await evalNow();
      onStep(progress);
    }
    if (evalBatches && progress.eval.at(-1)?.step !== progress.step) await evalNow();
    await device?.download(weights, state);
  } finally {
    device?.release();
  }
  return { model, weights, shapes: new Map(paramsOf(graph).map((p) => [p.name, p.shape])), progress, backend: device ? 'WebGPU' : 'CPU reference' };
}

/** The trained weights as a safetensors file, as `mdl train` writes its weights (names as the spec's parameters). */
export function weightsFile(t: Trained): Uint8Array {
  const tensors = new Map([...t.shapes].map(([name, shape]) => [name, { shape, data: t.weights.get(name)! }]));
  return writeSafetensors(tensors, { format: 'pt', model: t.model.name, step: String(t.progress.step) });
}

/** Draws the train loss (dark) and eval loss (orange, dots) against the step, with the axes labelled. */
export function drawLossCurves(canvas: HTMLCanvasElement, p: TrainProgress, steps: number): void {
  const ctx = canvas.getContext('2d')!;
  const { width: w, height: h } = canvas;
  const left = 48;
  const bottom = 24;
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, w, h);
  const all = [...p.train, ...p.eval].map((x) => x.loss).filter(Number.isFinite);
  if (!all.length) return;
  const top = Math.max(...all) * 1.05;
  const low = Math.min(...all) * 0.95;
  const x = (step: number) => left + ((w - left - 10) * step) / Math.max(1, steps);
  const y = (loss: number) => 8 + ((h - bottom - 8) * (top - loss)) / Math.max(1e-9, top - low);
  ctx.strokeStyle = '#99a';
  ctx.beginPath();
  ctx.moveTo(left, 8);
  ctx.lineTo(left, h - bottom);
  ctx.lineTo(w - 10, h - bottom);
  ctx.stroke();
  ctx.fillStyle = '#445';
  ctx.font = '11px sans-serif';
  ctx.fillText(top.toFixed(2), 4, 16);
  ctx.fillText(low.toFixed(2), 4, h - bottom);
  ctx.fillText('step', w - 40, h - 6);
  ctx.fillText('0', left - 3, h - 8);
  ctx.fillText(String(steps), x(steps) - 12, h - 8);
  const line = (points: { step: number; loss: number }[], color: string, dots: boolean) => {
    ctx.strokeStyle = ctx.fillStyle = color;
    ctx.beginPath();
    points.forEach((pt, i) => (i ? ctx.lineTo(x(pt.step), y(pt.loss)) : ctx.moveTo(x(pt.step), y(pt.loss))));
    ctx.stroke();
    if (dots) for (const pt of points) ctx.fillRect(x(pt.step) - 2, y(pt.loss) - 2, 4, 4);
  };
  line(p.train, '#1f4e79', false);
  line(p.eval, '#e08a00', true);
}

export const DEFAULT_TRAIN: TrainSettings = { steps: 30, lr: 1e-2, batchTokens: 512, seed: DEFAULT_SEED, evalEvery: 5 };
