// `mdl import DIR -o NAME`: a Hugging Face model directory becomes NAME.mdl (a spec generated from config.json, each
// choice commented with the key it came from), NAME.safetensors (the weights in mdl's names and layout) and, when the
// directory has them, NAME.tokenizer.json and NAME.tokenizer_config.json (copied as they are, for `--tokenizer`).

import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { writeSafetensors } from '../runtime/safetensors.ts';
import { readHfDirectory } from './hf-directory.ts';
import { importCheckpoint, modelNameOf } from './hf-import.ts';
import type { ImportDType } from './hf-tensors.ts';
import { checkOutputFile, writeOutputFile } from './output-file.ts';
import { UserError } from './user-error.ts';

/** One safetensors file is built in memory, and a JavaScript byte array holds at most 4 GiB. */
const MAX_FILE_BYTES = 2 ** 32 - 2 ** 20;

interface ImportOptions {
  output: string;
  dtype: string;
  force?: boolean;
}

export function registerImportCommand(program: Command): void {
  program
    .command('import')
    .description('convert a Hugging Face model directory (config.json, safetensors, tokenizer.json) to NAME.mdl and NAME.safetensors')
    .argument('<dir>', 'the model directory')
    .requiredOption('-o, --output <name>', 'NAME of the files to write: NAME.mdl, NAME.safetensors, NAME.tokenizer.json')
    .option('--dtype <type>', 'stored precision: keep (as in the checkpoint), f32, f16 or bf16', 'keep')
    .option('--force', 'replace output files that exist')
    .action((dir: string, opts: ImportOptions) => {
      const dtype = parseImportDtype(opts.dtype);
      const base = opts.output.replace(/\.(mdl|safetensors)$/, '');
      const source = readHfDirectory(dir);
      const files: [string, string | Uint8Array][] = [];
      const name = modelNameOf(base);
      const imported = importCheckpoint(source, name, dtype);
      checkWeightsSize(imported.tensors.values(), dir, dtype);
      files.push([`${base}.mdl`, imported.spec]);
      files.push([`${base}.safetensors`, writeSafetensors(imported.tensors, { format: 'pt', model: name, mdl_import: imported.family })]);
      if (source.tokenizer) files.push([`${base}.tokenizer.json`, readFileSync(source.tokenizer)]);
      if (source.tokenizerConfig) files.push([`${base}.tokenizer_config.json`, readFileSync(source.tokenizerConfig)]);
      // Every output is checked before the first is written, so a refusal leaves nothing half done.
      for (const [path] of files) checkOutputFile(path, opts.force);
      for (const [path, bytes] of files) writeOutputFile(path, bytes, opts.force);
      const params = [...imported.tensors.values()].reduce((n, t) => n + t.data.length, 0);
      const dtypes = [...new Set([...imported.tensors.values()].map((t) => t.dtype ?? 'F32'))].sort().join('/');
      process.stdout.write(`${imported.family}: ${imported.tensors.size} tensors, ${params.toLocaleString('en-US')} parameters (${dtypes})\n`);
      for (const [path] of files) process.stdout.write(`wrote ${path}\n`);
    });
}

export function parseImportDtype(text: string): ImportDType {
  const t = text.toLowerCase();
  if (t === 'keep') return 'keep';
  if (t === 'f32' || t === 'f16' || t === 'bf16') return t.toUpperCase() as ImportDType;
  throw new UserError(`--dtype: expected keep, f32, f16 or bf16, got '${text}'`);
}

/** Refuses, before anything is written, weights that would not fit in one file. */
export function checkWeightsSize(tensors: Iterable<{ data: { length: number }; dtype?: string }>, dir: string, dtype: ImportDType): void {
  let bytes = 0;
  for (const t of tensors) bytes += t.data.length * (t.dtype === undefined || t.dtype === 'F32' ? 4 : 2);
  if (bytes <= MAX_FILE_BYTES) return;
  const halves = dtype === 'F16' || dtype === 'BF16' ? '' : ' (--dtype bf16 or f16 halves it)';
  throw new UserError(`${dir}: the weights come to ${(bytes / 2 ** 30).toFixed(1)} GiB, and mdl writes a weights file of at most 4 GiB${halves}`);
}
