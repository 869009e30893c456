// The train panel's wiring: the data box (paste, drop or choose a file), the settings fields, Train and Stop, the
// live loss curves and status line, and the download link. The page is told of each finished run, so that Generate
// can use its weights.

import type { CheckedModel } from '../src/check/model.ts';
import type { GpuContext } from '../src/runtime/device.ts';
import type { Tokenizer } from '../src/runtime/tokenizer.ts';
import { clearError, showError } from './errors.ts';
import { DEFAULT_TRAIN, drawLossCurves, train, weightsFile, type Trained, type TrainProgress, type TrainSettings } from './train-view.ts';

declare global {
  interface Window {
    /** The latest training's losses, and whether it has finished. */
    mdlTrain?: TrainProgress & { done: boolean };
  }
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
let trainStopping = false;

function trainSettings(): TrainSettings {
  const field = (id: string) => $<HTMLInputElement>(id).value.trim();
  const s: TrainSettings = { ...DEFAULT_TRAIN, steps: Number(field('train-steps')), lr: Number(field('train-lr')), batchTokens: Number(field('train-batch')), evalEvery: Number(field('train-eval-every')), seed: Number(field('gen-seed')) };
  const bad: string[] = [];
  if (!Number.isInteger(s.steps) || s.steps < 1) bad.push(`steps must be a whole number of at least 1, not '${field('train-steps')}'`);
  if (!(s.lr > 0)) bad.push(`the learning rate must be above 0, not '${field('train-lr')}'`);
  if (!Number.isInteger(s.batchTokens) || s.batchTokens < 1) bad.push(`batch tokens must be a whole number of at least 1, not '${field('train-batch')}'`);
  if (!Number.isInteger(s.evalEvery) || s.evalEvery < 1) bad.push(`eval every must be a whole number of at least 1, not '${field('train-eval-every')}'`);
  if (!Number.isInteger(s.seed) || s.seed < 0) bad.push(`the seed (under Generate) must be a whole number of at least 0, not '${field('gen-seed')}'`);
  if (bad.length) throw bad;
  return s;
}

async function trainNow(model: CheckedModel | undefined, onTrained: (t: Trained) => void, device: () => Promise<GpuContext>, tokenizer: (m: CheckedModel) => Promise<Tokenizer>): Promise<void> {
  clearError($('train-error'));
  if (!model) throw new Error('the spec has errors (see the diagnostics under the editor)');
  const s = trainSettings();
  const m = model;
  trainStopping = false;
  $<HTMLButtonElement>('train-run').disabled = true;
  $<HTMLButtonElement>('train-stop').disabled = false;
  const canvas = $<HTMLCanvasElement>('loss-curve');
  const started = performance.now();
  try {
    const t = await train(m, $<HTMLTextAreaElement>('train-data').value, s, (p) => {
      window.mdlTrain = { ...p, done: false };
      drawLossCurves(canvas, p, s.steps);
      const last = p.train.at(-1);
      const ev = p.eval.at(-1);
      $('train-status').textContent = `step ${p.step}/${s.steps}${last ? ` · train loss ${last.loss.toFixed(4)}` : ''}${ev ? ` · eval loss ${ev.loss.toFixed(4)} (step ${ev.step})` : ''} · ${((performance.now() - started) / 1000).toFixed(1)} s`;
    }, () => trainStopping, $<HTMLSelectElement>('train-backend').value === 'gpu' ? await device() : undefined, await tokenizer(m));
    drawLossCurves(canvas, t.progress, s.steps);
    window.mdlTrain = { ...t.progress, done: true };
    const link = $<HTMLAnchorElement>('train-download');
    if (link.href) URL.revokeObjectURL(link.href);
    link.href = URL.createObjectURL(new Blob([weightsFile(t) as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
    link.download = `${m.name}.safetensors`;
    link.hidden = false;
    $<HTMLInputElement>('train-use').disabled = false;
    $<HTMLInputElement>('train-use').checked = true;
    onTrained(t);
    $('train-status').textContent += `${t.progress.step < s.steps ? ' · stopped' : ' · done'} (${t.backend})`;
  } finally {
    $<HTMLButtonElement>('train-run').disabled = false;
    $<HTMLButtonElement>('train-stop').disabled = true;
  }
}

/**
 * Wires the panel; `currentModel` is the spec's model when it checks, `onTrained` hears of each finished run, and
 * `device` gives the page's WebGPU device for training on it.
 */
export function wireTrain(currentModel: () => CheckedModel | undefined, onTrained: (t: Trained) => void, onUseChanged: () => void, device: () => Promise<GpuContext>, tokenizer: (m: CheckedModel) => Promise<Tokenizer>): void {
  const data = $<HTMLTextAreaElement>('train-data');
  data.addEventListener('dragover', (ev) => ev.preventDefault());
  data.addEventListener('drop', async (ev) => {
    ev.preventDefault();
    const file = ev.dataTransfer?.files[0];
    if (file) data.value = await file.text();
  });
  $<HTMLInputElement>('train-file').addEventListener('change', async (ev) => {
    const file = (ev.target as HTMLInputElement).files?.[0];
    if (file) data.value = await file.text();
  });
  $('train-run').addEventListener('click', () => void trainNow(currentModel(), onTrained, device, tokenizer).catch((e) => showError($('train-error'), 'training failed', e)));
  $('train-stop').addEventListener('click', () => (trainStopping = true));
  $('train-use').addEventListener('change', onUseChanged);
}
