// Training throughput: one optimizer step (forward, loss, backward, Adam) of a small encoder-decoder and a small
// decoder-only model, mdl on WebGPU against the same model in TensorFlow.js (its autodiff, tf.train.adam) on the same
// Dawn device, with mdl's CPU reference beside them. Same weights (mdl's seeded ones), same batch, same labels,
// same optimizer: AdamW with weight decay 0 is Adam, and clipping is off. Before any timing, both take one step from
// the same weights and their losses must agree (1e-3 relative): a comparison with a different model would be void.
// Also reports the device memory of mdl's step (src/runtime/gpu-training.ts) against its parts.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { checkSource } from '../src/check/check.ts';
import { buildTrainingIr } from '../src/ir/training.ts';
import { buildGradGraph } from '../src/lower/grad.ts';
import { freshState } from '../src/runtime/adamw.ts';
import type { GpuContext } from '../src/runtime/device.ts';
import { DeviceTrainer, type TrainingMemory } from '../src/runtime/gpu-training.ts';
import { seededWeights } from '../src/runtime/init-weights.ts';
import { withLabels } from '../src/runtime/program.ts';
import { trainStep, type StepConfig } from '../src/runtime/training-loop.ts';
import type { Timing } from '../src/tune/measure.ts';
import { DEFAULT_MATMUL_TILING, MATMUL_TILINGS, type MatmulTiling } from '../src/wgsl/matmul-tilings.ts';
import type { TfjsSession } from './tfjs-attention.ts';
import { tfjsTrainer } from './tfjs-training.ts';
import { profileSteps, renderShares, sharesOf, stepKind, type StepShare } from './step-profile.ts';

const LR = 1e-3;
/** Rounds of the tiling trials (one step on each tiling a round). */
const TILING_ROUNDS = 2;

/**
 * tfjs-core's Node build registers no gradient functions (the full tfjs package imports them from tfjs-core's ES
 * module files, which Node cannot load as they are). esbuild bundles that one module; the registry it fills is
 * tfjs's global one, so autodiff on the running engine finds them.
 */
async function registerTfjsGradients(): Promise<void> {
  const esbuild = await import('esbuild');
  const require = createRequire(import.meta.url);
  const entry = join(dirname(require.resolve('@tensorflow/tfjs-core/package.json')), 'dist', 'register_all_gradients.js');
  const built = await esbuild.build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'node', write: false, logLevel: 'silent' });
  const dir = mkdtempSync(join(tmpdir(), 'mdl-bench-'));
  const file = join(dir, 'register-gradients.mjs');
  writeFileSync(file, built.outputFiles[0].text);
  try {
    await import(pathToFileURL(file).href);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const TRAINING_MODELS: { id: string; about: string; dims: Record<string, number>; spec: string }[] = [
  {
    id: 'encoder-decoder',
    about: 'translator-shaped: 2+2 layers, d_model 64, 4 heads, d_ff 256, vocab 259, sinusoidal positions, tied output; B=4, S=T=24',
    dims: { B: 4, S: 24, T: 24 },
    spec: `model bench_translator {
  dim vocab = 259, d_model = 64, heads = 4, d_ff = 256
  dim B, S <= 64, T <= 64
  input src: tokens[B, S] pad 0
  input tgt: tokens[B, T] pad 0 bos 1 eos 2
  decoder_input dec_in = shift_right(tgt, bos = 1, eos = 2)
  mask src_keys = key_padding(src)
  mask look_back = causal & key_padding(dec_in)
  mask memory = key_padding(src)
  embed tokens: learned(vocab, d_model), positions: sinusoidal
  stack encoder x 2 on src (norm = pre layer) {
    attention self heads = heads mask = src_keys
    ffn d_ff gelu
  }
  stack decoder x 2 on dec_in (norm = pre layer) {
    attention self heads = heads mask = look_back
    attention cross memory = encoder heads = heads mask = memory
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab, tied = tokens)
  loss xent = cross_entropy(logits, labels = tgt)
}
`,
  },
  {
    id: 'decoder-only',
    about: 'gpt2-shaped: 2 layers, d_model 64, 4 heads, d_ff 256, vocab 259, learned positions, causal, tied output; B=4, T=48',
    dims: { B: 4, T: 48 },
    spec: `model bench_lm {
  dim vocab = 259, d_model = 64, heads = 4, d_ff = 256
  dim B, T <= 64
  input ids: tokens[B, T] pad 0 bos 1 eos 2
  embed tokens: learned(vocab, d_model), positions: learned(64)
  stack decoder x 2 on ids (norm = pre layer) {
    attention self heads = heads mask = causal
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab, tied = tokens)
  loss next_token = cross_entropy(logits, labels = next(ids))
}
`,
  },
];

export interface TrainingRow {
  model: string;
  about: string;
  params: number;
  /** Positions counted by the loss in one step's batch. */
  tokens: number;
  mdl: Timing;
  cpu: Timing;
  tfjs?: Timing;
  /** Why tfjs has no timing (not started, or a loss that disagrees with mdl's). */
  tfjsMissing?: string;
  /** The first step's loss on each: the check that they train the same model. */
  firstLoss: { mdl: number; tfjs?: number };
  memory: TrainingMemory;
  /** The matmul tiling mdl's timed steps ran (forward and backward products): the fastest of one step on each. */
  tiling?: MatmulTiling;
  /** The fastest of a few steps on each tiling tried, in ms, that choice's evidence. */
  tilingTrials?: Partial<Record<MatmulTiling, number>>;
  /** Where one mdl step's time goes: its programs' steps, each timed on its own, summed by kernel. */
  profile?: StepShare[];
}

function timing(samples: number[]): Timing {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)], min: sorted[0], max: sorted[sorted.length - 1], samples };
}

/** Byte tokens (3…258) from a fixed sequence, no padding. */
function tokens(n: number, seed: number): Int32Array {
  let s = seed;
  return Int32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return 3 + (s % 256);
  });
}

export async function runTrainingBench(gpu: GpuContext, tfjs: TfjsSession | string, repeats: number, log: (line: string) => void): Promise<TrainingRow[]> {
  const rows: TrainingRow[] = [];
  if (typeof tfjs !== 'string') await registerTfjsGradients();
  for (const spec of TRAINING_MODELS) {
    const r = checkSource(spec.spec, `${spec.id}.mdl`);
    if (!r.model) throw new Error(`${spec.id}: ${r.diagnostics.map((d) => d.message).join('; ')}`);
    const model = r.model;
    const forwardGraph = buildTrainingIr(model);
    const graph = buildGradGraph(forwardGraph);
    const inputs: Record<string, Int32Array> = {};
    for (const inp of model.inputs.values()) {
      if (inp.kind !== 'tokens' || inp.shiftedFrom) continue;
      const axis = inp.axis!;
      inputs[inp.name] = tokens(spec.dims.B * spec.dims[axis], inp.name.length * 7 + 1);
    }
    const batch = { dims: spec.dims, inputs, examples: spec.dims.B };
    const labelled = withLabels(graph, model, { dims: spec.dims, inputs, weights: new Map() });
    const start = seededWeights(graph, 1);
    const params = [...start.values()].reduce((n, w) => n + w.length, 0);
    const config: StepConfig = {
      graph,
      model,
      batches: [batch],
      seed: 1,
      accumulate: 1,
      clip: 0,
      adamw: { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 },
      schedule: { lr: LR, warmup: 0, total: 1000, schedule: 'constant' },
      frozen: new Set(),
    };
    const copy = () => new Map([...start].map(([n, w]) => [n, w.slice()]));

    // mdl takes the matmul tiling that runs its step fastest on this adapter, as `mdl tune` would choose: after a
    // warm-up step on each register tiling and the default (the staged 64-wide one is never faster here), rounds of
    // one step on each in turn, the fastest of each tiling's steps kept (a single step on a busy machine misleads).
    const tilingTrials: Partial<Record<MatmulTiling, number>> = {};
    const trials = MATMUL_TILINGS.filter((t) => t !== 'wg64').map((tiling) => {
      const w = copy();
      const st = freshState(w);
      return { tiling, st, trainer: new DeviceTrainer(gpu, graph, model, w, st, config.frozen, { matmulTiling: tiling }) };
    });
    try {
      for (const t of trials) await t.trainer.step(config, t.st);
      for (let round = 0; round < TILING_ROUNDS; round++) {
        for (const t of trials) {
          const t0 = performance.now();
          await t.trainer.step(config, t.st);
          tilingTrials[t.tiling] = Math.min(tilingTrials[t.tiling] ?? Infinity, performance.now() - t0);
        }
      }
    } finally {
      for (const t of trials) t.trainer.release();
    }
    const tiling = (Object.entries(tilingTrials) as [MatmulTiling, number][]).reduce((best, e) => (e[1] < best[1] ? e : best), [DEFAULT_MATMUL_TILING, tilingTrials[DEFAULT_MATMUL_TILING]!])[0];
    log(`${spec.id}: mdl tilings ${Object.entries(tilingTrials).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ')}; timing ${tiling}`);

    // mdl on the device: the first step compiles the pipelines and is the loss check; the rest are timed.
    const weights = copy();
    const state = freshState(weights);
    const trainer = new DeviceTrainer(gpu, graph, model, weights, state, config.frozen, { matmulTiling: tiling });
    let mdl: Timing;
    let firstLoss: number;
    let profile: StepShare[] = [];
    try {
      firstLoss = (await trainer.step(config, state)).loss;
      const samples: number[] = [];
      for (let i = 0; i < repeats; i++) {
        const t0 = performance.now();
        await trainer.step(config, state);
        samples.push(performance.now() - t0);
      }
      mdl = timing(samples);
      // Where the step's time goes: every step of its three programs timed on its own, summed by kernel.
      const parts = await trainer.encodeStep(config, batch);
      try {
        const byKind = new Map<string, StepShare>();
        for (const p of parts) await profileSteps(gpu, p.program, p.encoded, stepKind, byKind);
        profile = sharesOf(byKind);
      } finally {
        for (const p of parts) p.encoded.release();
      }
    } finally {
      trainer.release();
    }
    log(`${spec.id}: mdl WebGPU ${mdl.median.toFixed(0)} ms a step (${params} parameters, ${labelled.counted} tokens)`);

    let tfjsTiming: Timing | undefined;
    let tfjsMissing: string | undefined;
    let tfjsFirst: number | undefined;
    if (typeof tfjs === 'string') tfjsMissing = tfjs;
    else {
      const t = tfjsTrainer(tfjs, forwardGraph, model, copy(), { dims: spec.dims, inputs, labels: labelled.labels, counted: labelled.counted }, LR);
      try {
        tfjsFirst = await t.step();
        if (!(Math.abs(tfjsFirst - firstLoss) <= 1e-3 * firstLoss)) tfjsMissing = `its first loss ${tfjsFirst} is not mdl's ${firstLoss}: not the same model, so not timed`;
        else {
          const samples: number[] = [];
          for (let i = 0; i < repeats; i++) {
            const t0 = performance.now();
            await t.step();
            samples.push(performance.now() - t0);
          }
          tfjsTiming = timing(samples);
          log(`${spec.id}: tfjs-webgpu ${tfjsTiming.median.toFixed(0)} ms a step`);
        }
      } finally {
        t.dispose();
      }
    }

    const cpuWeights = copy();
    const cpuState = freshState(cpuWeights);
    trainStep(config, cpuWeights, cpuState);
    const cpuSamples: number[] = [];
    for (let i = 0; i < repeats; i++) {
      const t0 = performance.now();
      trainStep(config, cpuWeights, cpuState);
      cpuSamples.push(performance.now() - t0);
    }
    const cpu = timing(cpuSamples);
    log(`${spec.id}: mdl CPU reference ${cpu.median.toFixed(0)} ms a step`);
    rows.push({ model: spec.id, about: spec.about, params, tokens: labelled.counted, mdl, cpu, tfjs: tfjsTiming, tfjsMissing, firstLoss: { mdl: firstLoss, tfjs: tfjsFirst }, memory: trainer.memory, tiling, tilingTrials, profile });
  }
  return rows;
}

const mib = (n: number) => (n / 2 ** 20).toFixed(2);
const rate = (tokens: number, t: Timing) => Math.round((tokens * 1000) / t.median);

/** The training section's tables (rows as BENCHMARKS.md writes them). */
export function renderTraining(rows: TrainingRow[]): string[] {
  const lines = [
    '| model | parameters | tokens a step | mdl WebGPU | tfjs-webgpu | mdl / tfjs | mdl CPU reference | first loss mdl / tfjs |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const r of rows) {
    const tf = r.tfjs ? `${rate(r.tokens, r.tfjs)} tokens/s (${r.tfjs.median.toFixed(0)} ms)` : `n/a`;
    const ratio = r.tfjs ? `${(r.tfjs.median / r.mdl.median).toFixed(2)}×` : '—';
    const first = `${r.firstLoss.mdl.toFixed(5)} / ${r.firstLoss.tfjs?.toFixed(5) ?? '—'}`;
    lines.push(`| ${r.model} | ${r.params} | ${r.tokens} | ${rate(r.tokens, r.mdl)} tokens/s (${r.mdl.median.toFixed(0)} ms) | ${tf} | ${ratio} | ${rate(r.tokens, r.cpu)} tokens/s (${r.cpu.median.toFixed(0)} ms) | ${first} |`);
  }
  const trials = (r: TrainingRow) => (r.tilingTrials ? ` mdl's matmul tiling: ${r.tiling}, the fastest on this step (${Object.entries(r.tilingTrials).map(([k, v]) => `${k} ${v.toFixed(0)} ms`).join(', ')}; each the fastest of ${TILING_ROUNDS} steps).` : '');
  lines.push('', ...rows.map((r) => `- ${r.model}: ${r.about}.${trials(r)}${r.tfjsMissing ? ` tfjs: ${r.tfjsMissing}.` : ''}`));
  const profiled = rows.filter((r) => r.profile?.length);
  if (profiled.length) {
    lines.push(
      '',
      "Where one mdl step's time goes (every step of its training, accumulate and optimizer programs timed in a submission of its own, short ones repeated, summed by kernel; kinds under 2% left out; `matmul_grad` and `matmul_strided` are the backward products):",
      '',
      ...profiled.map((r) => `- ${r.model}: ${renderShares(r.profile!)}.`),
    );
  }
  lines.push(
    '',
    'Device memory of one mdl training step (peak of the buffers alive at once, as the runner creates them, against the parts a step must hold):',
    '',
    '| model | peak | parameters | gradients (program outputs + sums) | AdamW m, v | activations (forward values) | sum of parts | peak / sum |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  );
  for (const r of rows) {
    const m = r.memory;
    const parts = m.params + m.gradients + m.optimizer + m.activations;
    lines.push(`| ${r.model} | ${mib(m.peak)} MiB | ${mib(m.params)} MiB | ${mib(m.gradients)} MiB | ${mib(m.optimizer)} MiB | ${mib(m.activations)} MiB | ${mib(parts)} MiB | ${(m.peak / parts).toFixed(2)} |`);
  }
  return lines;
}
