// Tuning a whole program: every attention kernel signature it launches, the matmul tiling over its own matmul
// shapes, and the norm kernel's form over its own norm shapes. `mdl tune` runs this and records the result; the
// prefill benchmark runs the same and compiles with it, so that what the benchmark reports is what `mdl tune` would
// choose on the same adapter.

import { formula } from '../lower/formula.ts';
import type { Program } from '../lower/program.ts';
import type { ScheduleOptions } from '../lower/schedule.ts';
import type { GpuContext } from '../runtime/device.ts';
import { DEFAULT_KERNEL_LIMITS } from '../wgsl/attention.ts';
import { tuneMatmul, type MatmulProblem, type MatmulTuneOutcome } from './matmul-tuner.ts';
import { normProblemLabel, normProblemsOf, tuneNorm, type NormProblem, type NormTuneOutcome } from './norm-tuner.ts';
import { attentionSignature, signatureKey } from './signature.ts';
import { tuneSitesOf, type SiteGroup } from './sites.ts';
import { isDefaultChoice, tuneSite, type TuneOutcome } from './tuner.ts';
import { attentionVariants, compileLimits, decodeVariants, defaultTiles, fitsLimits, tileLabel } from './variants.ts';

/**
 * The distinct (N, K) of a program's matmuls (constant ones only), at M = `rows`, at most `max` of them in program
 * order, each with the number of matmuls of that shape (the layers of a stack repeat them).
 */
export function matmulProblemsOf(program: Program, rows: number, max = 4): MatmulProblem[] {
  const seen = new Map<string, MatmulProblem & { count: number }>();
  for (const step of program.steps) {
    if (step.kernel.kind !== 'matmul') continue;
    const [N, K] = [step.uniforms.N, step.uniforms.K].map((w) => ('f32' in w || 'scalar' in w ? undefined : formula.asConstant(w)));
    if (N === undefined || K === undefined) continue;
    const key = `${N}x${K}`;
    const hit = seen.get(key);
    if (hit) hit.count++;
    else seen.set(key, { M: rows, N, K, count: 1 });
  }
  return [...seen.values()].slice(0, max);
}

export interface ModelTuneOptions {
  batch: number;
  length: number;
  /** Timing rounds for attention and matmul alike. */
  repeats: number;
  /** Attention variants per site, the default included. */
  maxVariants: number;
  /** Time the matmul tilings too (default true). */
  matmul?: boolean;
  /** Time the norm kernel's two forms too (default true). */
  norm?: boolean;
  /** Progress lines, as `mdl tune` prints them. */
  say?: (line: string) => void;
}

export interface SiteReport {
  site: string;
  nodes: string[];
  signature: string;
  outcome: TuneOutcome;
}

export interface ModelTuneReport {
  sites: SiteReport[];
  matmul?: MatmulTuneOutcome;
  matmulProblems: MatmulProblem[];
  norm?: NormTuneOutcome;
  normProblems: NormProblem[];
}

/**
 * The attention sites to tune: the full pass's, then the decode step's under signatures of their own (their kernels
 * see one query row at a time), in the order `tuneProgram` reports them.
 */
export function tuneGroupsOf(program: Program, decodeStep?: Program): (SiteGroup & { decode: boolean })[] {
  const full = tuneSitesOf(program).map((g) => ({ ...g, decode: false }));
  const decode = decodeStep
    ? tuneSitesOf(decodeStep).map((g) => ({ ...g, decode: true, site: { ...g.site, label: `${g.site.label} (decode step)`, signature: { ...g.site.signature, site: 'decode' as const } } }))
    : [];
  return [...full, ...decode];
}

export async function tuneProgram(gpu: GpuContext, program: Program, o: ModelTuneOptions, decodeStep?: Program): Promise<ModelTuneReport> {
  const say = o.say ?? (() => {});
  const sites: SiteReport[] = [];
  for (const { site, nodes, decode } of tuneGroupsOf(program, decodeStep)) {
    const variants = decode ? decodeVariants(site.headDim, gpu.limits).slice(0, o.maxVariants) : attentionVariants(site.headDim, compileLimits(gpu.limits), o.maxVariants, gpu.subgroups);
    say(`  ${site.label} [${signatureKey(site.signature)}], ${nodes.length} site(s), ${variants.length} variants`);
    const outcome = await tuneSite(gpu, site, decode ? { batch: o.batch, lq: 1, lk: o.length, decode } : { batch: o.batch, lq: o.length, lk: o.length }, {
      variants,
      repeats: o.repeats,
      onVariant: (r, i, n) => {
        const what = r.rejected ? `rejected: ${r.rejected}` : `${r.timing!.median.toFixed(2)} ms`;
        say(`    [${i + 1}/${n}] ${tileLabel(r.tiles).padEnd(10)} ${what}`);
      },
    });
    const gain = outcome.fallback.timing.median / outcome.best.timing.median;
    say(`    best ${tileLabel(outcome.best.tiles)}: ${outcome.best.timing.median.toFixed(2)} ms, ${gain.toFixed(2)}× the default ${tileLabel(outcome.fallback.tiles)}${isDefaultChoice(outcome) ? ' (the default itself)' : ''}`);
    sites.push({ site: site.label, nodes, signature: signatureKey(site.signature), outcome });
  }
  const matmulProblems = o.matmul === false ? [] : matmulProblemsOf(program, o.batch * o.length);
  let matmul: MatmulTuneOutcome | undefined;
  if (matmulProblems.length) {
    say(`  matmul tilings on ${matmulProblems.map((p) => `${p.M}×${p.N}×${p.K}`).join(', ')}`);
    matmul = await tuneMatmul(gpu, matmulProblems, { rounds: o.repeats });
    for (const r of matmul.results) say(`    ${r.tiling.padEnd(9)} ${r.rejected ? `rejected: ${r.rejected}` : `${r.totalMs!.toFixed(2)} ms`}`);
    say(`    best ${matmul.best.tiling}: ${(matmul.fallback.totalMs! / matmul.best.totalMs!).toFixed(2)}× the default ${matmul.fallback.tiling}`);
  }
  const normProblems = o.norm === false ? [] : normProblemsOf(program, o.batch * o.length);
  let norm: NormTuneOutcome | undefined;
  if (normProblems.length) {
    say(`  norm forms on ${normProblems.map(normProblemLabel).join(', ')}`);
    norm = await tuneNorm(gpu, normProblems, { rounds: o.repeats });
    for (const r of norm.results) say(`    ${r.form.padEnd(9)} ${r.rejected ? `rejected: ${r.rejected}` : `${r.totalMs!.toFixed(2)} ms`}`);
    say(`    best ${norm.best.form}: ${(norm.fallback.totalMs! / norm.best.totalMs!).toFixed(2)}× the default ${norm.fallback.form}`);
  }
  return { sites, matmul, matmulProblems, norm, normProblems };
}

/**
 * Schedule options that compile with a tuning report's choices directly (no cache): what `tunedScheduleOptions`
 * gives once `mdl tune` has recorded the same report.
 */
export function reportScheduleOptions(report: ModelTuneReport): ScheduleOptions {
  const tiles = new Map(report.sites.map((s) => [s.signature, s.outcome.best.tiles]));
  return {
    ...(report.matmul ? { matmulTiling: report.matmul.best.tiling } : {}),
    ...(report.norm ? { normForm: report.norm.best.form } : {}),
    attentionTiles: (shape) => {
      // A signature the report did not tune (another program's), or a shape compile cannot use: the default.
      const chosen = tiles.get(signatureKey(attentionSignature(shape)));
      return chosen && fitsLimits(shape.headDim, chosen, DEFAULT_KERNEL_LIMITS) ? chosen : defaultTiles(shape.headDim, DEFAULT_KERNEL_LIMITS);
    },
  };
}
