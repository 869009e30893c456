// Whole-model prefill before and after tuning, in one run: the shipped translator and a GPT-2-small-shaped decoder
// compiled twice — with the kernels every untuned adapter runs (the attention generator's default tiles, the wg32
// matmul, a workgroup a row for the norms) and with what `mdl tune` chooses here (the same `tuneProgram`, run first in
// this process) — then timed alternately (old, tuned, old, tuned, …; medians), so that load on a shared machine falls
// on both alike. One run of each is then timed step by step (each step its own submission; a short one repeated
// within it) to show where prefill time goes.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkSource } from '../src/check/check.ts';
import type { CheckedModel } from '../src/check/model.ts';
import { lower, type Lowered } from '../src/lower/passes.ts';
import type { ScheduleOptions } from '../src/lower/schedule.ts';
import type { GpuContext } from '../src/runtime/device.ts';
import { stepInputs } from '../src/runtime/generate.ts';
import { timedSubmit } from '../src/runtime/gpu-buffers.ts';
import { seededWeights } from '../src/runtime/init-weights.ts';
import { encodeProgram, type EncodedProgram } from '../src/runtime/program.ts';
import { median } from '../src/tune/measure.ts';
import { normProblemLabel } from '../src/tune/norm-tuner.ts';
import { reportScheduleOptions, tuneProgram } from '../src/tune/tune-model.ts';
import { tileLabel } from '../src/tune/variants.ts';
import { profileSteps, renderShares, sharesOf, stepKind, type StepShare } from './step-profile.ts';

const root = join(import.meta.dirname, '..');

/**
 * GPT-2 small's layer, unchanged (width 768, 12 heads of 64, FFN 3072, pre-LayerNorm with biases, tanh GELU, learned
 * positions, bottom-right causal mask), with 2 layers instead of 12 and a vocabulary of 4096 instead of 50257: twelve
 * layers and the full vocabulary take minutes per pass on a software adapter. Every layer is the same, so the layers'
 * share of the time, and the ratio, do not depend on the count; the smaller vocabulary shrinks the output projection.
 */
export function gpt2ShapedSpec(): string {
  const text = readFileSync(join(root, 'specs', 'gpt2-small.mdl'), 'utf8');
  const out = text.replace('model gpt2_small', 'model gpt2_shaped').replace('vocab = 50257', 'vocab = 4096').replace('layers = 12', 'layers = 2').replace('pad 50256', 'pad 4095');
  for (const want of ['vocab = 4096', 'layers = 2', 'pad 4095']) if (!out.includes(want)) throw new Error(`specs/gpt2-small.mdl changed: cannot derive the benchmark spec (${want})`);
  return out;
}

interface PrefillCase {
  name: string;
  spec: () => string;
  /** Target (prompt) positions, and source tokens for an encoder-decoder. */
  length: number;
  source: number;
}

export const PREFILL_CASES: PrefillCase[] = [
  { name: 'translator', spec: () => readFileSync(join(root, 'specs', 'translator.mdl'), 'utf8'), length: 64, source: 64 },
  { name: 'GPT-2-small-shaped, 2 layers', spec: gpt2ShapedSpec, length: 128, source: 0 },
];

export interface PrefillRow {
  model: string;
  length: number;
  source: number;
  steps: number;
  /** The tuner's choices: one per attention signature, and the matmul tiling. */
  picks: { site: string; nodes: number; tiles: string; ms: number; defaultTiles: string; defaultMs: number; all: Record<string, number> }[];
  matmul?: { tiling: string; ms: number; defaultMs: number; problems: string; all: Record<string, number> };
  norm?: { form: string; ms: number; defaultMs: number; problems: string; all: Record<string, number> };
  /** Whole-prefill medians over the alternating rounds, and every sample. */
  oldMs: number;
  tunedMs: number;
  oldSamples: number[];
  tunedSamples: number[];
  /** Where one run's time went, step by step, summed by kind (matmul, attention, norm, …). */
  oldProfile: StepShare[];
  tunedProfile: StepShare[];
  /** Largest difference between the two programs' logits, relative to the largest logit. */
  relDiff: number;
}

export interface PrefillResult {
  /** Rounds at least (a fast model gets up to 5× as many; each row's samples say how many it got). */
  rounds: number;
  rows: PrefillRow[];
  load: [number, number];
}

function inputsOf(m: CheckedModel, c: PrefillCase) {
  const tokens = Array.from({ length: c.length }, (_, i) => 3 + ((i * 7919) % 400));
  const source = Array.from({ length: c.source }, (_, i) => 3 + ((i * 104729) % 400));
  // With a decoder input, the target holds one token fewer than the positions run.
  const { run } = stepInputs(m, tokens.slice(0, c.source ? c.length - 1 : c.length), source);
  return run;
}

/** Prefill's shares: every matmul by its tiling, attention by its tiles, norms by their form, the rest by step kind. */
const profile = async (gpu: GpuContext, lowered: Lowered, encoded: EncodedProgram): Promise<StepShare[]> =>
  sharesOf(await profileSteps(gpu, lowered.program, encoded, (s) => (s.kind === 'matmul' || s.kind === 'attention' || s.kind === 'norm' ? stepKind(s) : s.kind)));

export async function measurePrefill(gpu: GpuContext, rounds: number, load: () => number, log: (line: string) => void = () => {}, cases = PREFILL_CASES): Promise<PrefillResult> {
  const loadBefore = load();
  const rows: PrefillRow[] = [];
  for (const c of cases) {
    const checked = checkSource(c.spec(), `${c.name}.mdl`);
    if (!checked.model) throw new Error(`prefill benchmark: ${c.name} does not check: ${checked.diagnostics.map((d) => d.message).join('; ')}`);
    const m = checked.model;
    const old = lower(m);
    log(`prefill ${c.name}: tuning at L=${c.length} as mdl tune does`);
    const report = await tuneProgram(gpu, old.program, { batch: 1, length: c.length, repeats: 3, maxVariants: 8, say: log });
    const options: ScheduleOptions = reportScheduleOptions(report);
    const tuned = lower(m, options);
    const weights = seededWeights(old.ir, 1);
    const run = { ...inputsOf(m, c), weights };
    const programs: EncodedProgram[] = [];
    try {
      for (const l of [old, tuned]) programs.push(await encodeProgram(gpu, l, m, run));
      const submit = (e: EncodedProgram) => {
        const encoder = gpu.device.createCommandEncoder();
        e.encode(encoder);
        return timedSubmit(gpu, encoder, 1);
      };
      // Warm-up (pipelines, first touch), then the logits of both compared.
      for (const e of programs) await submit(e);
      const id = old.program.outputs[0];
      const [a, b] = [await programs[0].read(id), await programs[1].read(id)];
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < a.length; i++) {
        worst = Math.max(worst, Math.abs(a[i] - b[i]));
        scale = Math.max(scale, Math.abs(a[i]));
      }
      const relDiff = Number.isNaN(worst) ? Infinity : worst / Math.max(scale, 1e-30);
      if (!(relDiff < 1e-3)) throw new Error(`prefill ${c.name}: the tuned program's logits differ from the old one's by ${relDiff} (relative)`);
      const samples: [number[], number[]] = [[], []];
      // A small model's pass takes a fraction of a second, within a busy machine's noise: it gets more rounds (up to
      // 5× as many) until each program has 3 s of samples.
      const enough = () => samples.every((x) => x.reduce((a, b) => a + b, 0) >= 3000);
      for (let r = 0; r < rounds * 5 && (r < rounds || !enough()); r++) {
        for (const [i, e] of programs.entries()) samples[i].push(await submit(e));
        log(`prefill ${c.name}: round ${r + 1}: old ${samples[0].at(-1)!.toFixed(0)} ms, tuned ${samples[1].at(-1)!.toFixed(0)} ms`);
      }
      const oldProfile = await profile(gpu, old, programs[0]);
      const tunedProfile = await profile(gpu, tuned, programs[1]);
      rows.push({
        model: c.name,
        length: c.length,
        source: c.source,
        steps: old.program.steps.length,
        picks: report.sites.map((s) => ({
          site: s.site,
          nodes: s.nodes.length,
          tiles: tileLabel(s.outcome.best.tiles),
          ms: s.outcome.best.timing.median,
          defaultTiles: tileLabel(s.outcome.fallback.tiles),
          defaultMs: s.outcome.fallback.timing.median,
          all: Object.fromEntries(s.outcome.results.filter((r) => r.timing && !r.rejected).map((r) => [tileLabel(r.tiles), r.timing!.median])),
        })),
        ...(report.matmul
          ? {
              matmul: {
                tiling: report.matmul.best.tiling,
                ms: report.matmul.best.totalMs!,
                defaultMs: report.matmul.fallback.totalMs!,
                problems: report.matmulProblems.map((p) => `${p.M}×${p.N}×${p.K}${(p.count ?? 1) > 1 ? ` (×${p.count})` : ''}`).join(', '),
                all: Object.fromEntries(report.matmul.results.filter((r) => r.totalMs !== undefined).map((r) => [r.tiling, r.totalMs!])),
              },
            }
          : {}),
        ...(report.norm
          ? {
              norm: {
                form: report.norm.best.form,
                ms: report.norm.best.totalMs!,
                defaultMs: report.norm.fallback.totalMs!,
                problems: report.normProblems.map(normProblemLabel).join(', '),
                all: Object.fromEntries(report.norm.results.filter((r) => r.totalMs !== undefined).map((r) => [r.form, r.totalMs!])),
              },
            }
          : {}),
        oldMs: median(samples[0]),
        tunedMs: median(samples[1]),
        oldSamples: samples[0],
        tunedSamples: samples[1],
        oldProfile,
        tunedProfile,
        relDiff,
      });
    } finally {
      programs.forEach((p) => p.release());
    }
  }
  return { rounds, rows, load: [loadBefore, load()] };
}

const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x.toFixed(1));

/** The section, from a run's measurements; `section` says when and under what load. */
export function renderPrefill(s: { rows: PrefillResult; date: string; loadBefore: number[]; loadAfter: number[] } | undefined): string[] {
  if (!s) return ['Not measured in this run (`npm run bench -- --only prefill` measures it alone).'];
  const r = s.rows;
  const picks = r.rows.flatMap((row) => [
    ...row.picks.map((p) => `| ${row.model} | ${p.site} (${p.nodes} site${p.nodes === 1 ? '' : 's'}) | ${p.tiles} | ${ms(p.ms)} ms | ${p.defaultTiles}: ${ms(p.defaultMs)} ms | ${Object.entries(p.all).map(([k, v]) => `${k} ${ms(v)}`).join(', ')} |`),
    ...(row.matmul ? [`| ${row.model} | matmuls: ${row.matmul.problems} | ${row.matmul.tiling} | ${ms(row.matmul.ms)} ms | wg32: ${ms(row.matmul.defaultMs)} ms | ${Object.entries(row.matmul.all).map(([k, v]) => `${k} ${ms(v)}`).join(', ')} |`] : []),
    ...(row.norm ? [`| ${row.model} | norms: ${row.norm.problems} | ${row.norm.form} | ${ms(row.norm.ms)} ms | workgroup: ${ms(row.norm.defaultMs)} ms | ${Object.entries(row.norm.all).map(([k, v]) => `${k} ${ms(v)}`).join(', ')} |`] : []),
  ]);
  const prefill = r.rows.map((row) => `| ${row.model} | ${row.source ? `S=${row.source}, T=${row.length}` : `T=${row.length}`} | ${row.steps} | ${ms(row.oldMs)} ms | ${ms(row.tunedMs)} ms | **${(row.oldMs / row.tunedMs).toFixed(2)}×** | ${row.relDiff.toExponential(1)} |`);
  const where = r.rows.flatMap((row) => [`- **${row.model}**, old: ${renderShares(row.oldProfile)}.`, `  Tuned: ${renderShares(row.tunedProfile)}.`]);
  return [
    `Measured ${s.date}, load average ${s.loadBefore[0].toFixed(1)} before, ${s.loadAfter[0].toFixed(1)} after (\`bench/prefill.ts\`).`,
    '',
    '### Tuner picks on this adapter',
    '',
    'What `mdl tune` chooses (the same `tuneProgram`, run in the benchmark at the prefill\'s own length, B=1): per attention kernel signature the fastest variant, one matmul tiling over the program\'s matmul shapes weighted by how often each occurs, and one norm form (a workgroup a row, the default, or an invocation a row) over its norm shapes, weighted likewise; a choice must beat the default by 5%. Medians of at least 3 rounds (up to 15 while a variant\'s samples add up to less than 200 ms), every variant once per round in turn; the attention times are one kernel at that signature\'s shape, the matmul and norm times the weighted sums over the shapes listed.',
    '',
    '| model | site | picked | time | default | every variant (ms) |',
    '| --- | --- | --- | ---: | --- | --- |',
    ...picks,
    '',
    '### Whole-model prefill: old kernels vs tuned',
    '',
    `The full forward pass over the prompt (every position's logits; the prefill program runs the same kernels and writes the KV caches besides), seeded weights, B=1. Old: the kernels every untuned adapter runs (the attention generator's default tiles, the wg32 matmul, a workgroup a row for the norms); tuned: the picks above. Timed alternately, old then tuned, ${r.rows.map((row) => `${row.oldSamples.length} rounds for the ${row.model.split(',')[0]}`).join(', ')}, medians; the two programs' logits compared first (largest difference relative to the largest logit). Target: tuned ≥ 1.5× old.`,
    '',
    '| model | lengths | steps | old | tuned | old / tuned | logits rel. diff |',
    '| --- | --- | ---: | ---: | ---: | ---: | ---: |',
    ...prefill,
    '',
    'Where one run\'s time goes (each step timed in a submission of its own, short ones repeated, summed by kind; kinds under 2% left out):',
    '',
    ...where,
    ...(r.rows.some((row) => row.norm?.form === 'rows')
      ? [
          '',
          'Where the tuner picked the norm form of an invocation a row: the default form gives each row a workgroup of 64 lanes that sum their share and meet at a tree of barriers (16 a layer norm, 8 an RMS norm), which on a CPU-backed adapter cost more than the row\'s arithmetic, most of all for narrow rows (the translator\'s are 64 wide: one value a lane); an invocation a row sums the row in index order with no barriers at all.',
        ]
      : []),
  ];
}
