// `mdl init FILE --seed N -o weights.safetensors`: a complete, seeded weights file for a spec.
//
// The file is a pure function of the spec and the seed (same bytes on every run and every machine), so it can serve
// as a reproducible starting point or a test fixture; its metadata records the model name and the seed.

import type { Command } from 'commander';
import { buildIr } from '../ir/build.ts';
import { DEFAULT_SEED } from '../runtime/init-weights.ts';
import { paramsOf, seededWeightsFile } from '../runtime/weights.ts';
import { requireModel } from './load.ts';
import { checkOutputFile, writeOutputFile } from './output-file.ts';
import { UserError } from './user-error.ts';

interface InitOptions {
  seed: string;
  output: string;
  dtype: string;
  force?: boolean;
}

export function registerInitCommand(program: Command): void {
  program
    .command('init')
    .description('write seeded weights for a spec as a safetensors file (the same bytes for the same seed)')
    .argument('<file>', '.mdl spec file')
    .requiredOption('-o, --output <path>', 'the .safetensors file to write (an existing file is kept unless --force)')
    .option('--force', 'replace the output file if it exists')
    .option('--seed <n>', 'seed, an integer from 0 to 4294967295 (the default is the one mdl run uses)', String(DEFAULT_SEED))
    .option('--dtype <type>', 'stored precision: f32 or f16', 'f32')
    .action((file: string, opts: InitOptions) => {
      const seed = parseSeed(opts.seed);
      const dtype = parseDtype(opts.dtype);
      const { model } = requireModel(file);
      const ir = buildIr(model);
      checkOutputPath(opts.output, opts.force);
      const bytes = seededWeightsFile(ir, seed, dtype);
      writeOutputFile(opts.output, bytes, opts.force);
      const params = paramsOf(ir);
      const count = params.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
      process.stdout.write(`${opts.output}: ${model.name}, ${params.length} tensors, ${count.toLocaleString('en-US')} parameters (${dtype}, seed ${seed}), ${bytes.length.toLocaleString('en-US')} bytes\n`);
    });
}

export function parseSeed(text: string): number {
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n > 0xffffffff) throw new UserError(`--seed: expected an integer from 0 to 4294967295, got '${text}'`);
  return n;
}

export function parseDtype(text: string): 'F32' | 'F16' {
  const t = text.toLowerCase();
  if (t === 'f32' || t === 'f16') return t === 'f32' ? 'F32' : 'F16';
  throw new UserError(`--dtype: expected f32 or f16, got '${text}'`);
}

/** Fails before any work is done: see checkOutputFile. */
export function checkOutputPath(path: string, force = false): void {
  checkOutputFile(path, force);
}
