// `npm run bench [-- --full] [-- --out FILE] [-- --lengths 256,512] [-- --no-ort] [-- --no-tfjs] [-- --report-only]
// [-- --only training,backward,batch,matmul,attention-shapes,decode,chromium,prefill,window] [-- --rounds N]` (N: rounds of the chromium section): every benchmark in one process on one adapter, progress on stderr, results
// written to BENCHMARKS.md and the measurements behind it to BENCHMARKS.json (`--report-only` renders the report from
// them again). `--only` measures just the named sections, in one run of their own, and renders the report with the
// other sections' saved measurements.
//
// The default sizes keep a run under ten minutes on SwiftShader with two cores; `--full` adds L=2048, measures every
// mask on every comparator at every length, and sizes the matmul for a real GPU.

import { measureMatmulTilings } from './matmul-tilings.ts';
import { measureAttentionShapes } from './attention-shapes.ts';
import { measurePrefill } from './prefill.ts';
import { measureWindowSkip } from './window-skip.ts';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { acquireGpu, type GpuContext } from '../src/runtime/device.ts';
import { BACKWARD_ROUNDS, runAttentionBackwardBench } from './attention-backward.ts';
import { runTrainingBench } from './training.ts';
import { explainTargets } from './analysis.ts';
import { COMPARATORS, runAttentionSuite, type Comparator } from './attention-suite.ts';
import { measureStartup } from './cli-startup.ts';
import { DEEP_LAYERS, measureCompile, measureDeepCompile } from './compile-time.ts';
import { BATCH_CASES, runBatchDecode } from './batch-decode.ts';
import { runDecode } from './decode.ts';
import { runModelDecode, tuneDecodeAttention } from './model-decode.ts';
import { benchMasks } from './masks.ts';
import { OrtBrowser } from './ort/ort-browser.ts';
import { runChromiumAttention } from './chromium-attention.ts';
import { Progress } from './progress.ts';
import { renderReport } from './report.ts';
import type { BatchDecodeSection, BenchResults, RunEnvironment, Section } from './results.ts';
import { arithmeticPeak, matmulPeak } from './roofline.ts';
import { startTfjs, type TfjsSession } from './tfjs-attention.ts';

interface Args {
  full: boolean;
  out: string;
  ort: boolean;
  tfjs: boolean;
  /** Overrides the attention lengths (quick checks of the harness itself). */
  lengths?: number[];
  /** Render the report again from the saved measurements, measuring nothing. */
  reportOnly: boolean;
  /** Measure only these sections and merge them into the saved results. */
  only?: Set<OnlySection>;
  /** Rounds of the one-Chromium section (default CHROMIUM_ROUNDS). */
  rounds?: number;
}

const ONLY_SECTIONS = ['training', 'backward', 'batch', 'matmul', 'attention-shapes', 'decode', 'chromium', 'prefill', 'window'] as const;
type OnlySection = (typeof ONLY_SECTIONS)[number];
/** The sections a whole run measures after the attention suite, decode and compile times. */
const FULL_RUN_SECTIONS: OnlySection[] = ['training', 'backward', 'matmul', 'attention-shapes', 'chromium', 'prefill', 'window'];

function parseArgs(argv: string[]): Args {
  const args: Args = { full: false, out: join(import.meta.dirname, '..', 'BENCHMARKS.md'), ort: true, tfjs: true, reportOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--full') args.full = true;
    else if (a === '--no-ort') args.ort = false;
    else if (a === '--no-tfjs') args.tfjs = false;
    else if (a === '--report-only') args.reportOnly = true;
    else if (a === '--out') args.out = argv[++i];
    else if (a === '--lengths') args.lengths = argv[++i].split(',').map(Number);
    else if (a === '--rounds') {
      args.rounds = Number(argv[++i]);
      if (!Number.isInteger(args.rounds) || args.rounds < 1) throw new Error(`--rounds: expected a whole number ≥ 1, got '${argv[i]}'`);
    }
    else if (a === '--only') {
      const names = (argv[++i] ?? '').split(',');
      const bad = names.find((n) => !(ONLY_SECTIONS as readonly string[]).includes(n));
      if (bad !== undefined) throw new Error(`--only: unknown section '${bad}' (sections: ${ONLY_SECTIONS.join(', ')})`);
      args.only = new Set(names as OnlySection[]);
    } else throw new Error(`unknown option '${a}' (options: --full, --out FILE, --lengths L1,L2,…, --rounds N, --no-ort, --no-tfjs, --report-only, --only ${ONLY_SECTIONS.join(',')})`);
  }
  return args;
}

/** The measurements behind a report, kept so that the report can be rendered again without measuring. */
function resultsPathFor(out: string): string {
  return out.replace(/\.md$/, '') + '.json';
}

/**
 * Stops before measuring if `--out` (or the JSON beside it) holds something that is not a report of this harness:
 * the run replaces both, and must never destroy a file it did not write.
 */
class ReportPathError extends Error {}

function checkReportPaths(out: string, reportOnly: boolean): void {
  const ours: [string, (text: string) => boolean][] = [[out, (text) => text.startsWith('# Benchmarks\n\nProduced by `npm run bench')]];
  if (!reportOnly) ours.push([resultsPathFor(out), (text) => /^\{\s*"env":\s*\{\s*"date"/.test(text)]);
  for (const [path, isReport] of ours) {
    if (!existsSync(path)) continue;
    if (!isReport(readFileSync(path, 'utf8'))) throw new ReportPathError(`${path} exists and is not a report of npm run bench; refusing to replace it (choose another --out)`);
  }
}

function writeAtomically(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  checkReportPaths(args.out, args.reportOnly);
  if (args.reportOnly) {
    // Re-renders BENCHMARKS.md from the measurements of the last run (after a change to the report's wording).
    const results = JSON.parse(readFileSync(resultsPathFor(args.out), 'utf8')) as BenchResults;
    writeAtomically(args.out, renderReport(results, explainTargets(results)));
    process.stderr.write(`mdl bench: rendered ${args.out} from ${resultsPathFor(args.out)}\n`);
    return;
  }
  if (args.only) {
    await measureSections(args, args.only);
    return;
  }
  const started = performance.now();
  const loadBefore = loadavg();
  const lengths = args.lengths ?? (args.full ? [256, 512, 1024, 2048] : [256, 512, 1024]);
  const allMasksUpTo = args.full ? Infinity : 256;
  const masks = benchMasks();
  const decodePositions = DECODE_POSITIONS;

  const gpu = await acquireGpu({ skipWorkgroupZeroInit: true });
  process.stderr.write(`mdl bench: ${gpu.describe()}\n`);
  const unavailable: Partial<Record<Comparator, string>> = {};

  let tfjs: TfjsSession | undefined;
  if (args.tfjs) {
    try {
      tfjs = await startTfjs(gpu);
    } catch (error) {
      unavailable.tfjs = `tfjs could not start on the Dawn device: ${(error as Error).message}`;
    }
  } else unavailable.tfjs = 'skipped with --no-tfjs';

  let ort: OrtBrowser | undefined;
  if (args.ort) {
    try {
      ort = await OrtBrowser.start({ mdl: true });
    } catch (error) {
      // Without mdl's page bundle the ORT column can still be measured; the one-Chromium section then says why not.
      try {
        ort = await OrtBrowser.start();
        process.stderr.write(`mdl bench: mdl's page bundle did not load in Chromium (${(error as Error).message.split('\n')[0]}); ORT Web runs alone\n`);
      } catch (again) {
        unavailable.ort = `headless Chromium with WebGPU could not be started: ${(again as Error).message.split('\n')[0]}`;
      }
    }
  } else unavailable.ort = 'skipped with --no-ort';

  const comparatorSteps = (len: number) => (len <= allMasksUpTo ? masks.length : 1) * COMPARATORS.length;
  // Roofline (2), the attention suite, decode, batch, the three compile and startup steps, then one step per section
  // (the one-Chromium section counts its own).
  const total = 2 + lengths.reduce((s, len) => s + masks.length + comparatorSteps(len), 0) + DECODE_STEPS + BATCH_ROUNDS_STEPS + 3 + (FULL_RUN_SECTIONS.length - 1) + CHROMIUM_STEPS;
  const progress = new Progress(total);

  try {
    progress.step('roofline: vec4 FMA arithmetic peak');
    const peak = await arithmeticPeak(gpu, args.full ? 200 : 400, 5);
    progress.note(`arithmetic peak ${peak.gflops.toFixed(2)} GFLOP/s`);
    progress.step('roofline: dense matmul');
    const matmul = await matmulPeak(gpu, args.full ? 2048 : 512, 3, tfjs);
    progress.note(`best matmul ${matmul.gflops.toFixed(2)} GFLOP/s (${matmul.best})`);

    const attention = await runAttentionSuite(gpu, {
      lengths,
      masks,
      allMasksUpTo,
      repeatsFor: (len) => (len <= 256 ? 5 : len <= 512 ? 3 : 2),
      tfjs: tfjs ?? unavailable.tfjs,
      ort: ort ?? unavailable.ort,
      progress,
    });
    const { decode, modelDecode, decodeRun } = await measureDecode(gpu, decodePositions, 'npm run bench', progress);
    const batchDecode = await measureBatch(gpu, progress);
    progress.step('compile time: 24-layer spec');
    const compile = measureCompile(9);
    progress.step('CLI startup: mdl --version, mdl check');
    const startup = measureStartup(7);
    progress.step(`compile time: ${DEEP_LAYERS.join(' and ')} layers`);
    const deepCompile = measureDeepCompile(2);
    const sections = await measureOnly(gpu, tfjs ?? unavailable.tfjs ?? 'not started', ort ?? unavailable.ort ?? 'not started', new Set<OnlySection>(FULL_RUN_SECTIONS), 'npm run bench', progress, undefined, args.rounds);

    const env: RunEnvironment = {
      date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      command: `npm run bench${args.full || args.rounds ? ' --' : ''}${args.full ? ' --full' : ''}${args.rounds ? ` --rounds ${args.rounds}` : ''}`,
      full: args.full,
      allMasksUpTo,
      adapter: gpu.describe(),
      software: gpu.adapter.software,
      browserAdapter: ort && [ort.adapter.vendor, ort.adapter.architecture, ort.adapter.description].filter(Boolean).join(' ') + (ort.adapter.workaround ? `; ${ort.adapter.workaround}` : ''),
      ortVersion: ort?.adapter.ort,
      tfjsVersion: tfjs?.version,
      unavailable,
      node: process.versions.node,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model?.trim() ?? 'unknown CPU',
      loadBefore,
      loadAfter: loadavg(),
      seconds: (performance.now() - started) / 1000,
    };
    const results: BenchResults = { env, peak, matmul, attention, decode, modelDecode, decodeRun, batchDecode, compile, startup, deepCompile, ...sections };
    writeAtomically(resultsPathFor(args.out), `${JSON.stringify(results, null, 1)}\n`);
    writeAtomically(args.out, renderReport(results, explainTargets(results)));
    progress.finish(`mdl bench: wrote ${args.out}`);
  } finally {
    await ort?.close();
    gpu.release();
  }
}

/** The sections `--only` can name, measured side by side in one run on `gpu`. */
type OnlyResults = Pick<BenchResults, 'backward' | 'training' | 'matmulTilings' | 'attentionShapes' | 'chromium' | 'prefill' | 'windowSkip'>;

async function measureOnly(gpu: GpuContext, tfjs: TfjsSession | string, browser: OrtBrowser | string, only: Set<OnlySection>, command: string, progress: Progress, lengths?: number[], rounds = CHROMIUM_ROUNDS): Promise<OnlyResults> {
  const out: OnlyResults = {};
  const section = async <T>(measure: () => Promise<T>): Promise<Section<T>> => {
    const started = performance.now();
    const loadBefore = loadavg();
    const rows = await measure();
    return { rows, date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), command, adapter: gpu.describe(), loadBefore, loadAfter: loadavg(), seconds: (performance.now() - started) / 1000 };
  };
  const log = (line: string) => progress.note(line);
  if (only.has('backward')) {
    progress.step('attention backward: B=1 H=8 D=64, L=256 and 1024, none and causal');
    out.backward = await section(() => runAttentionBackwardBench(gpu, [256, 1024], BACKWARD_ROUNDS, log));
  }
  if (only.has('training')) {
    progress.step('training step: mdl WebGPU, tfjs-webgpu, mdl CPU reference');
    out.training = await section(() => runTrainingBench(gpu, tfjs, 3, log));
  }
  if (only.has('matmul')) {
    progress.step('matmul tilings vs tfjs matMul: N=512 and the translator training shapes');
    out.matmulTilings = await measureMatmulTilings(gpu, typeof tfjs === 'string' ? undefined : tfjs, 5, () => loadavg()[0], log);
  }
  if (only.has('attention-shapes')) {
    progress.step('attention kernel shapes side by side: L=256, none, causal, window');
    out.attentionShapes = await measureAttentionShapes(gpu, [256], 5, () => loadavg()[0]);
  }
  if (only.has('prefill')) {
    progress.step('whole-model prefill, old kernels vs tuned: translator and a GPT-2-small-shaped decoder');
    out.prefill = await section(() => measurePrefill(gpu, 3, () => loadavg()[0], log));
  }
  if (only.has('window')) {
    progress.step('sliding window vs none at L=1024, per kernel shape, against the tile bound');
    out.windowSkip = await measureWindowSkip(gpu, 1024, 3, () => loadavg()[0], log);
  }
  if (only.has('chromium')) {
    if (typeof browser === 'string' || !browser.mdl) progress.note(`mdl and ORT Web in one Chromium: not measured (${typeof browser === 'string' ? browser : "mdl's page bundle did not load"})`);
    else {
      const s = await section(() =>
        runChromiumAttention(gpu, browser, { lengths: lengths ?? CHROMIUM_LENGTHS, maskIds: ['none', 'causal', 'window'], rounds, unfusedMasksUpTo: 256, log, step: (what) => progress.step(what) }),
      );
      const a = browser.adapter;
      out.chromium = { ...s, rounds, warmup: 1, nodeAdapter: gpu.describe(), browserAdapter: browser.mdl?.adapter.description ?? '', ortWorkaround: a.workaround, ortVersion: a.ort };
    }
  }
  return out;
}

/** `--only`: the named sections in a run of their own, merged into the saved results, and the report rendered again. */
async function measureSections(args: Args, only: Set<OnlySection>): Promise<void> {
  const path = resultsPathFor(args.out);
  if (!existsSync(path)) throw new ReportPathError(`${path} does not exist; --only adds sections to the results of a whole run (run npm run bench first)`);
  const results = JSON.parse(readFileSync(path, 'utf8')) as BenchResults;
  const gpu = await acquireGpu({ skipWorkgroupZeroInit: true });
  process.stderr.write(`mdl bench: ${gpu.describe()}\n`);
  let browser: OrtBrowser | string = 'skipped with --no-ort';
  try {
    if (args.ort && only.has('chromium')) {
      try {
        browser = await OrtBrowser.start({ mdl: true });
      } catch (error) {
        browser = `headless Chromium with WebGPU could not be started: ${(error as Error).message.split('\n')[0]}`;
      }
    }
    let tfjs: TfjsSession | string = 'skipped with --no-tfjs';
    if (args.tfjs && (only.has('training') || only.has('matmul'))) {
      try {
        tfjs = await startTfjs(gpu);
      } catch (error) {
        tfjs = `tfjs could not start on the Dawn device: ${(error as Error).message}`;
      }
    }
    const progress = new Progress(only.size + (only.has('batch') ? BATCH_ROUNDS_STEPS - 1 : 0) + (only.has('decode') ? DECODE_STEPS - 1 : 0) + (only.has('chromium') ? CHROMIUM_STEPS - 1 : 0));
    const command = `npm run bench -- --only ${[...only].join(',')}${args.lengths ? ` --lengths ${args.lengths.join(',')}` : ''}${args.rounds ? ` --rounds ${args.rounds}` : ''}`;
    if (only.has('batch')) results.batchDecode = await measureBatch(gpu, progress);
    if (only.has('decode')) Object.assign(results, await measureDecode(gpu, DECODE_POSITIONS, command, progress));
    Object.assign(results, await measureOnly(gpu, tfjs, browser, only, command, progress, args.lengths, args.rounds));
    writeAtomically(path, `${JSON.stringify(results, null, 1)}\n`);
    writeAtomically(args.out, renderReport(results, explainTargets(results)));
    progress.finish(`mdl bench: wrote ${[...only].join(' and ')} into ${args.out}`);
  } finally {
    if (typeof browser !== 'string') await browser.close();
    gpu.release();
  }
}

const DECODE_POSITIONS = [64, 256, 1024];
/** Progress steps of the decode sections: tuning, then per position 4 kernel timings and 2 whole-model steps. */
const DECODE_STEPS = 1 + DECODE_POSITIONS.length * 6;

/**
 * Both decode sections in one run: the decode step's attention tuned first (its split-key shape runs beside the
 * default decode tiles), then the attention kernel alone and a whole model's decode step at each prompt length.
 */
async function measureDecode(gpu: GpuContext, positions: number[], command: string, progress: Progress): Promise<Pick<BenchResults, 'decode' | 'modelDecode' | 'decodeRun'>> {
  const started = performance.now();
  const loadBefore = loadavg();
  progress.step('decode step attention: tuning the one-row tiles against the split-key kernel');
  const tuning = await tuneDecodeAttention(gpu, 1024, 3);
  progress.note(`decode tuning: ${tuning.variants.map((v) => `${v.tiles} ${v.ms?.toFixed(2) ?? v.rejected}`).join(', ')}; picked ${tuning.picked}`);
  const decode = await runDecode(gpu, positions, 5, progress, tuning.split);
  const modelDecode = await runModelDecode(gpu, positions, 8, progress, tuning.split);
  const decodeRun = { rows: tuning, date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), command, adapter: gpu.describe(), loadBefore, loadAfter: loadavg(), seconds: (performance.now() - started) / 1000 };
  return { decode, modelDecode, decodeRun };
}

/** mdl and ORT Web in one Chromium: B=1, H=8, D=64 at these lengths, masks none, causal and window(128). */
const CHROMIUM_LENGTHS = [256, 1024];
const CHROMIUM_ROUNDS = 5;
const CHROMIUM_STEPS = CHROMIUM_LENGTHS.length * 3;

const BATCH_ROUNDS = 3;
const BATCH_ROUNDS_STEPS = (BATCH_ROUNDS + 1) * BATCH_CASES.length;

async function measureBatch(gpu: Awaited<ReturnType<typeof acquireGpu>>, progress: Progress): Promise<BatchDecodeSection> {
  const loadBefore = loadavg();
  const rows = await runBatchDecode(gpu, { prompt: 32, newTokens: 16, rounds: BATCH_ROUNDS }, progress);
  return { rows, date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'), adapter: gpu.describe(), loadBefore, loadAfter: loadavg() };
}

main().then(
  () => process.exit(0),
  (error) => {
    if (error instanceof ReportPathError) process.stderr.write(`mdl bench: ${error.message}\n`);
    else process.stderr.write(`\nmdl bench: ${(error as Error).stack ?? error}\n`);
    process.exit(1);
  },
);
