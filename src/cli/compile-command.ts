// `mdl compile FILE [-o DIR]`: the spec's kernels as WGSL files plus a manifest (buffers with sizes as formulas of
// the dims, bindings, uniforms, dispatch sizes, launch order, tile classification), deterministic byte for byte.

import type { Command } from 'commander';
import { join } from 'node:path';
import { lower } from '../lower/passes.ts';
import { writeCompiled } from '../lower/write-output.ts';
import { requireModel } from './load.ts';
// Adds the fuse, schedule, wgsl and manifest stages to `mdl dump`.
import '../lower/dump-stages.ts';

export function registerCompileCommand(program: Command): void {
  program
    .command('compile')
    .description('compile a spec to WGSL kernels and a manifest')
    .argument('<file>', '.mdl spec file')
    .option('-o, --out <dir>', 'output directory (default: generated/<model name>)')
    .action((file: string, opts: { out?: string }) => {
      const { model } = requireModel(file);
      const t0 = performance.now();
      const lowered = lower(model);
      const dir = opts.out ?? join('generated', model.name);
      const files = writeCompiled(dir, lowered.rendered);
      const ms = (performance.now() - t0).toFixed(0);
      process.stdout.write(`${file}: ${lowered.program.steps.length} launches, ${lowered.rendered.kernels.length} kernels → ${dir}/ (${files.length} files, ${ms} ms)\n`);
    });
}
