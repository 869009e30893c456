// `mdl eval SPEC --weights W --data FILE… [--backend cpu]`: teacher-forced evaluation, on WebGPU or the CPU reference, of the declared loss — the mean
// over counted tokens, its perplexity and the share of counted tokens whose label is the most likely token — per
// data file, and over all of them when there are several.

import type { Command } from 'commander';
import { freshState } from '../runtime/adamw.ts';
import { loadWeightsFile } from '../runtime/safetensors-file.ts';
import { batchByLength, type EvalResult } from '../runtime/training-loop.ts';
import { requireModel } from './load.ts';
import { backendName, BACKEND_HELP, openBackend } from './train-backend.ts';
import { gradGraph, packLimit, readExamples } from './training-inputs.ts';
import { TOKENIZER_FLAG, tokenizerFor, VOCAB_FLAG } from './tokenizer-flags.ts';
import { UserError } from './user-error.ts';

interface EvalOptions {
  weights: string;
  data: string[];
  batchTokens: string;
  skipBadLines?: boolean;
  pack?: boolean;
  json?: boolean;
  vocab?: string;
  tokenizer?: string;
  backend?: string;
}

export function registerEvalCommand(program: Command): void {
  program
    .command('eval')
    .description('teacher-forced loss, perplexity and token accuracy of weights on data')
    .argument('<file>', '.mdl spec file (with a loss declaration)')
    .requiredOption('--weights <file>', 'weights (.safetensors)')
    .requiredOption('--data <files...>', 'data files, in the format mdl train reads')
    .option('--batch-tokens <n>', 'padded tokens per batch', '512')
    .option('--skip-bad-lines', 'report bad data lines (file:line) and skip them instead of stopping')
    .option('--pack', 'pack decoder-only examples into full rows, one document each (needs a segments input)')
    .option('--json', 'print the results as JSON on stdout')
    .option(...VOCAB_FLAG)
    .option(...TOKENIZER_FLAG)
    .option('--backend <backend>', BACKEND_HELP, 'gpu')
    .action(async (file: string, opts: EvalOptions) => {
      const backendKind = backendName(opts.backend);
      const { model } = requireModel(file);
      const graph = gradGraph(model, file);
      const weights = loadWeightsFile(opts.weights, graph);
      const codec = tokenizerFor(model, opts);
      const batchTokens = Number(opts.batchTokens);
      if (!Number.isInteger(batchTokens) || batchTokens < 1) throw new UserError(`--batch-tokens: expected a whole number ≥ 1, found '${opts.batchTokens}'`);
      const files = opts.data.map((path) => ({ path, batches: batchByLength(readExamples(path, model, codec, !!opts.skipBadLines, opts.pack ? packLimit(model, batchTokens) : undefined), batchTokens, model, path) }));
      // Nothing is trained: the optimizer state is empty and every parameter counts as frozen.
      const backend = await openBackend(backendKind, graph, model, weights, freshState(new Map()), new Set(weights.keys()));
      const results: ({ path: string } & ReturnType<typeof summary>)[] = [];
      try {
        for (const f of files) results.push({ path: f.path, ...summary(await backend.evaluate(f.batches, weights)) });
      } finally {
        backend.release();
      }
      const all = results.reduce((a, r) => ({ loss: a.loss + r.loss * r.tokens, counted: a.counted + r.tokens, correct: a.correct + r.accuracy * r.tokens }), { loss: 0, counted: 0, correct: 0 });
      const total = summary({ loss: all.counted ? all.loss / all.counted : NaN, counted: all.counted, correct: Math.round(all.correct) });
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ model: model.name, backend: backendKind, loss_name: model.loss!.name, files: results, total })}\n`);
        return;
      }
      const line = (name: string, r: ReturnType<typeof summary>) =>
        `${name}: loss ${r.loss.toFixed(6)}, perplexity ${r.perplexity.toFixed(4)}, accuracy ${(100 * r.accuracy).toFixed(2)}% over ${r.tokens} tokens\n`;
      for (const r of results) process.stdout.write(line(r.path, r));
      if (results.length > 1) process.stdout.write(line('all', total));
    });
}

function summary(e: EvalResult) {
  return { loss: e.loss, perplexity: Math.exp(e.loss), accuracy: e.counted ? e.correct / e.counted : NaN, tokens: e.counted };
}
