// `mdl tune FILE`: measures the attention kernel variants of each of the spec's attention sites on this machine's
// WebGPU adapter and records the fastest in the tuning cache, keyed by adapter and kernel signature, where
// compilation and runs look them up (`tunedTilesFor`). It also times the matmul tilings on the spec's own matmul
// shapes (M = batch × length rows) and records the fastest for the adapter (`tunedMatmulFor`); `--no-matmul` skips it.

import type { Command } from 'commander';
import { lower } from '../lower/passes.ts';
import { acquireGpu } from '../runtime/device.ts';
import { checkCacheReplaceable, defaultCachePath, recordEntries, type MatmulEntry, type TuneEntry } from '../tune/cache.ts';
import { formula } from '../lower/formula.ts';
import type { Program } from '../lower/program.ts';
import { tuneMatmul, type MatmulProblem, type MatmulTuneOutcome } from '../tune/matmul-tuner.ts';
import { signatureKey, adapterKey } from '../tune/signature.ts';
import { tuneSitesOf } from '../tune/sites.ts';
import { isDefaultChoice, tuneSite, type TuneOutcome } from '../tune/tuner.ts';
import { attentionVariants, tileLabel } from '../tune/variants.ts';
import { requireModel } from './load.ts';
import { UserError } from './user-error.ts';

interface TuneOptions {
  length: string;
  batch: string;
  repeats: string;
  variants: string;
  dryRun?: boolean;
  json?: boolean;
  matmul: boolean;
}

/** The distinct (N, K) of a program's matmuls (constant ones only), at M = `rows`, at most `max` of them. */
export function matmulProblemsOf(program: Program, rows: number, max = 4): MatmulProblem[] {
  const seen = new Map<string, MatmulProblem>();
  for (const step of program.steps) {
    if (step.kernel.kind !== 'matmul') continue;
    const [N, K] = [step.uniforms.N, step.uniforms.K].map((w) => ('f32' in w || 'scalar' in w ? undefined : formula.asConstant(w)));
    if (N !== undefined && K !== undefined) seen.set(`${N}x${K}`, { M: rows, N, K });
  }
  return [...seen.values()].slice(0, max);
}

function positive(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UserError(`${flag} takes a positive whole number, not '${text}'`);
  return n;
}

export function registerTuneCommand(program: Command): void {
  program
    .command('tune')
    .description("measure attention kernel variants on this adapter and cache the fastest per kernel signature")
    .argument('<file>', '.mdl spec file')
    .option('--length <n>', 'query and key length of the tuning problem', '256')
    .option('--batch <n>', 'batch rows of the tuning problem', '1')
    .option('--repeats <n>', 'timed runs per variant (the median counts)', '3')
    .option('--variants <n>', 'at most this many variants per site, the default included', '8')
    .option('--dry-run', 'measure and report, but leave the cache alone')
    .option('--json', 'print the measurements as JSON')
    .option('--no-matmul', 'leave the matmul tiling alone (attention only)')
    .action(async (file: string, opts: TuneOptions) => {
      const length = positive(opts.length, '--length');
      const batch = positive(opts.batch, '--batch');
      const repeats = positive(opts.repeats, '--repeats');
      const maxVariants = positive(opts.variants, '--variants');
      const { model } = requireModel(file);
      const program = lower(model).program;
      const groups = tuneSitesOf(program);
      if (groups.length === 0) {
        process.stderr.write(`mdl: ${model.name} has no attention sites; nothing to tune\n`);
        return;
      }
      const cachePath = defaultCachePath();
      // Before measuring for minutes: the results must have somewhere to go.
      if (!opts.dryRun) checkCacheReplaceable(cachePath);
      const gpu = await acquireGpu({ skipWorkgroupZeroInit: true });
      const say = (line: string) => process.stderr.write(`${line}\n`);
      say(`mdl: tuning ${groups.length} attention signature(s) of ${model.name} on ${gpu.describe()} (B=${batch}, L=${length})`);
      const report: { site: string; nodes: string[]; signature: string; outcome: TuneOutcome }[] = [];
      let matmul: MatmulTuneOutcome | undefined;
      try {
        for (const { site, nodes } of groups) {
          const variants = attentionVariants(site.headDim, gpu.limits, maxVariants, gpu.subgroups);
          say(`  ${site.label} [${signatureKey(site.signature)}], ${nodes.length} site(s), ${variants.length} variants`);
          const outcome = await tuneSite(gpu, site, { batch, lq: length, lk: length }, {
            variants,
            repeats,
            onVariant: (r, i, n) => {
              const what = r.rejected ? `rejected: ${r.rejected}` : `${r.timing!.median.toFixed(2)} ms`;
              say(`    [${i + 1}/${n}] ${tileLabel(r.tiles).padEnd(10)} ${what}`);
            },
          });
          const gain = outcome.fallback.timing.median / outcome.best.timing.median;
          say(`    best ${tileLabel(outcome.best.tiles)}: ${outcome.best.timing.median.toFixed(2)} ms, ${gain.toFixed(2)}× the default ${tileLabel(outcome.fallback.tiles)}${isDefaultChoice(outcome) ? ' (the default itself)' : ''}`);
          report.push({ site: site.label, nodes, signature: signatureKey(site.signature), outcome });
        }
        const problems = opts.matmul ? matmulProblemsOf(program, batch * length) : [];
        if (problems.length) {
          say(`  matmul tilings on ${problems.map((p) => `${p.M}×${p.N}×${p.K}`).join(', ')}`);
          matmul = await tuneMatmul(gpu, problems, { rounds: repeats });
          for (const r of matmul.results) say(`    ${r.tiling.padEnd(9)} ${r.rejected ? `rejected: ${r.rejected}` : `${r.totalMs!.toFixed(2)} ms`}`);
          say(`    best ${matmul.best.tiling}: ${(matmul.fallback.totalMs! / matmul.best.totalMs!).toFixed(2)}× the default ${matmul.fallback.tiling}`);
        }
      } finally {
        gpu.release();
      }
      if (!opts.dryRun) {
        const now = new Date().toISOString();
        const entries = groups.map(({ site }, i) => {
          const o = report[i].outcome;
          const entry: TuneEntry = {
            tiles: o.best.tiles,
            ms: round(o.best.timing.median),
            defaultMs: round(o.fallback.timing.median),
            problem: `B=${batch} L=${length}`,
            measuredAt: now,
          };
          return { signature: site.signature, entry };
        });
        const matmulEntry: MatmulEntry | undefined = matmul && {
          tiling: matmul.best.tiling,
          ms: round(matmul.best.totalMs!),
          defaultMs: round(matmul.fallback.totalMs!),
          problem: matmulProblemsOf(program, batch * length).map((p) => `${p.M}x${p.N}x${p.K}`).join(' '),
          measuredAt: now,
        };
        recordEntries(gpu.adapter, entries, cachePath, matmulEntry);
        say(`mdl: recorded ${entries.length} choice(s)${matmulEntry ? ` and the matmul tiling ${matmulEntry.tiling}` : ''} for adapter '${adapterKey(gpu.adapter)}' in ${cachePath}`);
      }
      if (opts.json) {
        const out = { adapter: adapterKey(gpu.adapter), cache: opts.dryRun ? null : cachePath, sites: report, ...(matmul ? { matmul } : {}) };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      }
    });
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
