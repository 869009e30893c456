// `mdl tune FILE`: measures the attention kernel variants of each of the spec's attention sites on this machine's
// WebGPU adapter and records the fastest in the tuning cache, keyed by adapter and kernel signature, where
// compilation and runs look them up (`tunedTilesFor`). It also times the matmul tilings on the spec's own matmul
// shapes (M = batch × length rows) and records the fastest for the adapter (`tunedMatmulFor`); `--no-matmul` skips it.
// Likewise the norm kernel's two forms, a workgroup a row and an invocation a row, on the spec's norm widths at the
// same rows (`tunedNormFor`); `--no-norm` skips them.
// A spec that decodes with a KV cache also has its decode step's attention tuned, apart: one query row against
// `--length` cached keys, among the one-row decode tiles and the split-key kernel.

import type { Command } from 'commander';
import { lower } from '../lower/passes.ts';
import type { CheckedModel } from '../check/model.ts';
import { acquireGpu } from '../runtime/device.ts';
import { rolesOf } from '../runtime/generate.ts';
import { checkCacheReplaceable, defaultCachePath, recordEntries, type MatmulEntry, type NormEntry, type TuneEntry } from '../tune/cache.ts';
import { adapterKey } from '../tune/signature.ts';
import { tuneSitesOf } from '../tune/sites.ts';
import { tuneGroupsOf, tuneProgram, type ModelTuneReport } from '../tune/tune-model.ts';
import { requireModel } from './load.ts';
import { UserError } from './user-error.ts';

interface TuneOptions {
  length?: string;
  batch: string;
  repeats: string;
  variants: string;
  dryRun?: boolean;
  json?: boolean;
  matmul: boolean;
  norm: boolean;
}

/**
 * 256 positions, or fewer where the spec bounds the sequences it generates over (the translator's are at most 64):
 * measuring at a length the model never runs would tune for the wrong balance of per-dispatch and per-row costs.
 */
function defaultLength(m: CheckedModel): number {
  let axes: (string | undefined)[] = [];
  try {
    const roles = rolesOf(m);
    axes = [roles.target.axis, roles.source?.axis];
  } catch {
    // No output stack to generate from: nothing bounds the tuning length.
  }
  const bounds = axes.flatMap((a) => {
    const d = a ? m.dims.get(a) : undefined;
    const b = d?.concrete ?? d?.bound;
    return b ? [b] : [];
  });
  return Math.min(256, ...bounds);
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
    .option('--length <n>', "query and key length of the tuning problem (default: 256, or the spec's sequence bound where smaller)")
    .option('--batch <n>', 'batch rows of the tuning problem', '1')
    .option('--repeats <n>', 'timing rounds, each variant once per round (the median counts)', '3')
    .option('--variants <n>', 'at most this many variants per site, the default included', '8')
    .option('--dry-run', 'measure and report, but leave the cache alone')
    .option('--json', 'print the measurements as JSON')
    .option('--no-matmul', 'leave the matmul tiling alone')
    .option('--no-norm', "leave the norm kernel's form alone")
    .action(async (file: string, opts: TuneOptions) => {
      const { model } = requireModel(file);
      const length = opts.length === undefined ? defaultLength(model) : positive(opts.length, '--length');
      const batch = positive(opts.batch, '--batch');
      const repeats = positive(opts.repeats, '--repeats');
      const maxVariants = positive(opts.variants, '--variants');
      const lowered = lower(model);
      const program = lowered.program;
      const decodeStep = lowered.decode?.step.program;
      const groups = tuneGroupsOf(program, decodeStep);
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
      let report: ModelTuneReport;
      try {
        report = await tuneProgram(gpu, program, { batch, length, repeats, maxVariants, matmul: opts.matmul, norm: opts.norm, say }, decodeStep);
      } finally {
        gpu.release();
      }
      const { matmul, norm } = report;
      if (!opts.dryRun) {
        const now = new Date().toISOString();
        const entries = groups.map(({ site }, i) => {
          const o = report.sites[i].outcome;
          const entry: TuneEntry = {
            tiles: o.best.tiles,
            ms: round(o.best.timing.median),
            defaultMs: round(o.fallback.timing.median),
            problem: groups[i].decode ? `B=${batch} Lq=1 Lk=${length}` : `B=${batch} L=${length}`,
            measuredAt: now,
          };
          return { signature: site.signature, entry };
        });
        const matmulEntry: MatmulEntry | undefined = matmul && {
          tiling: matmul.best.tiling,
          ms: round(matmul.best.totalMs!),
          defaultMs: round(matmul.fallback.totalMs!),
          problem: report.matmulProblems.map((p) => `${p.M}x${p.N}x${p.K}`).join(' '),
          measuredAt: now,
        };
        const normEntry: NormEntry | undefined = norm && {
          form: norm.best.form,
          ms: round(norm.best.totalMs!),
          defaultMs: round(norm.fallback.totalMs!),
          problem: report.normProblems.map((p) => `${p.type}${p.bias ? '' : '-nobias'} ${p.rows}x${p.D}`).join(', '),
          measuredAt: now,
        };
        recordEntries(gpu.adapter, entries, cachePath, matmulEntry, normEntry);
        const also = [matmulEntry && `the matmul tiling ${matmulEntry.tiling}`, normEntry && `the norm form ${normEntry.form}`].filter(Boolean);
        say(`mdl: recorded ${entries.length} choice(s)${also.length ? ` and ${also.join(' and ')}` : ''} for adapter '${adapterKey(gpu.adapter)}' in ${cachePath}`);
      }
      if (opts.json) {
        const out = { adapter: adapterKey(gpu.adapter), cache: opts.dryRun ? null : cachePath, sites: report.sites, ...(matmul ? { matmul } : {}), ...(norm ? { norm } : {}) };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      }
    });
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
