// `mdl compile FILE [-o DIR]`: the spec's kernels as WGSL files plus a manifest (buffers with sizes as formulas of
// the dims, bindings, uniforms, dispatch sizes, launch order, tile classification), deterministic byte for byte.

import type { Command } from 'commander';
import { join } from 'node:path';
import { lower } from '../lower/passes.ts';
import type { ScheduleOptions } from '../lower/schedule.ts';
import { acquireGpu } from '../runtime/device.ts';
import { tunedScheduleOptions } from '../tune/tuned-tiles.ts';
import { compiledTrainingPrograms } from '../lower/training-programs.ts';
import { writeCompiled } from '../lower/write-output.ts';
import { requireModel } from './load.ts';

export function registerCompileCommand(program: Command): void {
  program
    .command('compile')
    .description('compile a spec to WGSL kernels and a manifest')
    .argument('<file>', '.mdl spec file')
    .option('-o, --out <dir>', 'output directory (default: generated/<model name>)')
    .option('--tuned', "use the attention tiles `mdl tune` chose for this machine's adapter (default: the portable defaults)")
    .action(async (file: string, opts: { out?: string; tuned?: boolean }) => {
      const { model } = requireModel(file);
      let schedule: ScheduleOptions = {};
      let tuning: ReturnType<typeof tunedScheduleOptions> | undefined;
      let adapter = '';
      if (opts.tuned) {
        // Only the adapter's identity is needed: the cache is keyed by it.
        const gpu = await acquireGpu();
        tuning = tunedScheduleOptions(gpu.adapter, { subgroups: gpu.subgroups });
        adapter = gpu.describe();
        gpu.release();
        schedule = tuning.options;
      }
      const t0 = performance.now();
      const lowered = lower(model, schedule);
      if (tuning) {
        // The report counts the attention signatures lowering asked about, so it follows the one lowering.
        const { tuned, total } = tuning.report();
        process.stderr.write(`mdl: ${tuned} of ${total} attention kernel signature(s) tuned for ${adapter}${tuned < total ? '; the others use the defaults (run mdl tune)' : ''}\n`);
      }
      const dir = opts.out ?? join('generated', model.name);
      const files = writeCompiled(dir, lowered, compiledTrainingPrograms(model, lowered, schedule.matmulTiling ? { matmulTiling: schedule.matmulTiling } : {}));
      const ms = (performance.now() - t0).toFixed(0);
      process.stdout.write(`${file}: ${lowered.program.steps.length} launches, ${lowered.rendered.kernels.length} kernels → ${dir}/ (${files.length} files, ${ms} ms)\n`);
    });
}
