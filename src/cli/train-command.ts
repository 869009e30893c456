// `mdl train SPEC --data FILE`: trains the parameters of a spec with a loss declaration on WebGPU (or on the CPU
// reference with `--backend cpu`: f64 arithmetic, f32 state), writing checkpoints that `mdl run --weights` loads and
// `--resume` continues. The loop itself lives in train-run.ts; this module turns the options into a run.

import type { Command } from 'commander';
import { DEFAULT_ADAMW, freshState, type Schedule } from '../runtime/adamw.ts';
import { DEFAULT_SEED, paramsOf, seededWeights } from '../runtime/init-weights.ts';
import { loadWeightsFile } from '../runtime/safetensors-file.ts';
import { batchByLength, dataFingerprint } from '../runtime/training-loop.ts';
import { checkCheckpointTargets, readOptimizerState } from './checkpoint.ts';
import { requireModel } from './load.ts';
import { backendName, BACKEND_HELP, openBackend } from './train-backend.ts';
import { checkSvgTarget, runTraining, svgPath, type RunSettings } from './train-run.ts';
import { gradGraph, packLimit, readExamples } from './training-inputs.ts';
import { TOKENIZER_FLAG, tokenizerFor, VOCAB_FLAG } from './tokenizer-flags.ts';
import { UserError } from './user-error.ts';

interface TrainOptions {
  data: string;
  eval?: string;
  init?: string;
  output?: string;
  steps?: string;
  epochs?: string;
  batchTokens: string;
  accumulate: string;
  lr: string;
  warmup: string;
  schedule: string;
  weightDecay: string;
  beta1: string;
  beta2: string;
  eps: string;
  clip: string;
  seed: string;
  freeze?: string[];
  resume?: string;
  saveEvery: string;
  evalEvery: string;
  logEvery: string;
  skipBadLines?: boolean;
  pack?: boolean;
  json?: boolean;
  vocab?: string;
  tokenizer?: string;
  backend?: string;
}

export function registerTrainCommand(program: Command): void {
  program
    .command('train')
    .description('train the parameters of a spec with a loss declaration (on WebGPU, or the CPU reference)')
    .argument('<file>', '.mdl spec file (with a loss declaration)')
    .requiredOption('--data <file>', 'training data: source<TAB>target lines (encoder-decoder), text lines or JSONL (decoder-only)')
    .option('--eval <file>', 'held-out data, evaluated every --eval-every steps and at the end')
    .option('--init <weights>', 'start from these weights (.safetensors) instead of seeded ones')
    .option('-o, --output <path>', 'checkpoint to write (default: MODEL.safetensors; with --resume, the resumed one)')
    .option('--steps <n>', 'optimizer steps in all (default: one epoch)')
    .option('--epochs <n>', 'passes over the data instead of --steps')
    .option('--batch-tokens <n>', 'padded tokens per batch (rows of like length are batched together)', '512')
    .option('--accumulate <n>', 'batches per optimizer step (gradient accumulation)', '1')
    .option('--lr <rate>', 'peak learning rate', '1e-3')
    .option('--warmup <steps>', 'linear warmup steps', '0')
    .option('--schedule <kind>', 'decay after warmup: cosine, linear or constant', 'cosine')
    .option('--weight-decay <λ>', "AdamW's decoupled weight decay (not on norm scales and biases)", String(DEFAULT_ADAMW.weightDecay))
    .option('--beta1 <β>', 'AdamW β1', String(DEFAULT_ADAMW.beta1))
    .option('--beta2 <β>', 'AdamW β2', String(DEFAULT_ADAMW.beta2))
    .option('--eps <ε>', 'AdamW ε', String(DEFAULT_ADAMW.eps))
    .option('--clip <norm>', 'clip gradients to this global L2 norm (0: no clipping)', '1')
    .option('--seed <n>', 'seed of the initial weights and the data order', String(DEFAULT_SEED))
    .option('--freeze <glob...>', 'parameters to keep fixed (* matches any characters)')
    .option('--resume <checkpoint>', 'continue a run from a checkpoint mdl train wrote')
    .option('--save-every <n>', 'write the checkpoint every n steps (0: only at the end and on Ctrl-C)', '0')
    .option('--eval-every <n>', 'evaluate --eval every n steps (0: only at the end)', '0')
    .option('--log-every <n>', 'progress line every n steps', '10')
    .option('--skip-bad-lines', 'report bad data lines (file:line) and skip them instead of stopping')
    .option('--pack', 'pack decoder-only examples into full rows, one document each (needs a segments input)')
    .option('--json', 'print the result as JSON on stdout')
    .option(...VOCAB_FLAG)
    .option(...TOKENIZER_FLAG)
    .option('--backend <backend>', BACKEND_HELP, 'gpu')
    .action(async (file: string, opts: TrainOptions) => {
      const backendKind = backendName(opts.backend);
      const { model } = requireModel(file);
      const graph = gradGraph(model, file);
      const params = paramsOf(graph);
      const output = opts.output ?? opts.resume ?? `${model.name}.safetensors`;
      checkCheckpointTargets(output);
      checkSvgTarget(svgPath(output));
      const codec = tokenizerFor(model, opts);
      const batchTokens = count(opts.batchTokens, '--batch-tokens', 1);
      const train = batchByLength(readExamples(opts.data, model, codec, !!opts.skipBadLines, opts.pack ? packLimit(model, batchTokens) : undefined), batchTokens, model, opts.data);
      const evalBatches = opts.eval ? batchByLength(readExamples(opts.eval, model, codec, !!opts.skipBadLines, opts.pack ? packLimit(model, batchTokens) : undefined), batchTokens, model, opts.eval) : undefined;
      const accumulate = count(opts.accumulate, '--accumulate', 1);
      if (opts.steps !== undefined && opts.epochs !== undefined) throw new UserError('give --steps or --epochs, not both');
      const perEpoch = Math.ceil(train.length / accumulate);
      const steps = opts.steps !== undefined ? count(opts.steps, '--steps', 1) : Math.ceil(perEpoch * number(opts.epochs ?? '1', '--epochs'));
      const schedule = opts.schedule as Schedule;
      if (!['cosine', 'linear', 'constant'].includes(schedule)) throw new UserError(`--schedule: expected cosine, linear or constant, found '${opts.schedule}'`);
      const frozen = frozenNames(opts.freeze ?? [], params.map((p) => p.name));
      const settings: RunSettings = {
        seed: count(opts.seed, '--seed', 0),
        steps,
        accumulate,
        batchTokens,
        clip: number(opts.clip, '--clip'),
        adamw: { beta1: number(opts.beta1, '--beta1'), beta2: number(opts.beta2, '--beta2'), eps: number(opts.eps, '--eps'), weightDecay: number(opts.weightDecay, '--weight-decay') },
        schedule: { lr: number(opts.lr, '--lr'), warmup: count(opts.warmup, '--warmup', 0), total: steps, schedule },
        frozen: [...frozen],
        examples: train.reduce((n, b) => n + b.examples, 0),
        data: dataFingerprint(train),
        history: { train: [], eval: [] },
      };
      let weights: Map<string, Float32Array>;
      let state;
      if (opts.resume) {
        weights = loadWeightsFile(opts.resume, graph);
        const saved = readOptimizerState(opts.resume, model.name, params.map((p) => p.name));
        state = saved.state;
        const run = saved.run as RunSettings;
        const same = run.batchTokens === batchTokens ? train : batchByLength(readExamples(opts.data, model, codec, !!opts.skipBadLines, opts.pack ? packLimit(model, batchTokens) : undefined), run.batchTokens, model, opts.data);
        if (run.data !== dataFingerprint(same)) throw new UserError(`${opts.data}: not the data the run being resumed was trained on (${settings.examples} examples here, ${run.examples} then); resume with the same data`);
        train.splice(0, train.length, ...same);
        // The run continues as it was set up; only the number of steps may be raised.
        Object.assign(settings, run, { steps: opts.steps !== undefined ? steps : run.steps });
        settings.schedule = { ...run.schedule, total: settings.steps };
        if (opts.batchTokens !== '512' || opts.seed !== String(DEFAULT_SEED)) process.stderr.write('mdl: --resume continues with the seed and batching the run started with\n');
      } else {
        weights = opts.init ? loadWeightsFile(opts.init, graph) : seededWeights(graph, settings.seed);
        state = freshState(weights);
      }
      const backend = await openBackend(backendKind, graph, model, weights, state, new Set(settings.frozen));
      try {
        await runTraining({
        backend,
        model,
        graph,
        shapes: new Map(params.map((p) => [p.name, p.shape])),
        batches: train,
        evalBatches,
        weights,
        state,
        settings,
        output,
        saveEvery: count(opts.saveEvery, '--save-every', 0),
        evalEvery: count(opts.evalEvery, '--eval-every', 0),
        logEvery: count(opts.logEvery, '--log-every', 1),
        json: !!opts.json,
      });
      } finally {
        backend.release();
      }
    });
}

function number(text: string, flag: string): number {
  const v = Number(text);
  if (!Number.isFinite(v) || v < 0) throw new UserError(`${flag}: expected a non-negative number, found '${text}'`);
  return v;
}

function count(text: string, flag: string, min: number): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < min) throw new UserError(`${flag}: expected a whole number ≥ ${min}, found '${text}'`);
  return v;
}

/** Parameter names matched by shell-style globs (`*` any characters, `?` one); a glob matching nothing is refused. */
function frozenNames(globs: string[], names: string[]): Set<string> {
  const out = new Set<string>();
  for (const glob of globs) {
    const re = new RegExp(`^${glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`);
    const hit = names.filter((n) => re.test(n));
    if (hit.length === 0) throw new UserError(`--freeze ${glob}: matches no parameter (they are named like ${names.slice(0, 3).join(', ')})`);
    for (const n of hit) out.add(n);
  }
  return out;
}
