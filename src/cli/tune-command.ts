// `mdl tune FILE`: measures the attention kernel variants of each of the spec's attention sites on this machine's
// WebGPU adapter and records the fastest in the tuning cache, keyed by adapter and kernel signature, where
// compilation and runs look them up (`tunedTilesFor`).

import type { Command } from 'commander';
import { lower } from '../lower/passes.ts';
import { acquireGpu } from '../runtime/device.ts';
import { checkCacheReplaceable, defaultCachePath, recordEntries, type TuneEntry } from '../tune/cache.ts';
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
    .action(async (file: string, opts: TuneOptions) => {
      const length = positive(opts.length, '--length');
      const batch = positive(opts.batch, '--batch');
      const repeats = positive(opts.repeats, '--repeats');
      const maxVariants = positive(opts.variants, '--variants');
      const { model } = requireModel(file);
      const groups = tuneSitesOf(lower(model).program);
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
      try {
        for (const { site, nodes } of groups) {
          const variants = attentionVariants(site.headDim, gpu.limits, maxVariants);
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
        recordEntries(gpu.adapter, entries, cachePath);
        say(`mdl: recorded ${entries.length} choice(s) for adapter '${adapterKey(gpu.adapter)}' in ${cachePath}`);
      }
      if (opts.json) {
        const out = { adapter: adapterKey(gpu.adapter), cache: opts.dryRun ? null : cachePath, sites: report };
        process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
      }
    });
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
