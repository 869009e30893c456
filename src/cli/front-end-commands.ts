// `mdl check` and `mdl dump`: the front end's commands.

import type { Command } from 'commander';
import { MdlLexer } from '../../grammar/tokens.ts';
import { buildIr } from '../ir/build.ts';
import { printIr } from '../ir/print.ts';
import { printAst } from '../lang/print-ast.ts';
import { loweringDumpStages } from '../lower/dump-stages.ts';
import { printMasks } from '../check/print-masks.ts';
import { loadSpec, readSpec, requireModel } from './load.ts';
import { UserError } from './user-error.ts';

/** Stages `mdl dump` can show, in pipeline order: the front end's, then lowering's. */
const dumpStages: Record<string, (path: string) => string> = {
  tokens: (path) => {
    const text = readSpec(path);
    const { tokens } = MdlLexer.tokenize(text);
    return tokens.map((t) => `${t.startLine}:${t.startColumn}\t${t.tokenType.name}\t${JSON.stringify(t.image)}`).join('\n') + '\n';
  },
  ast: (path) => {
    const r = loadSpec(path);
    if (!r.file.model) throw new UserError(`${path}: no model could be parsed`);
    return printAst(r.file.model);
  },
  masks: (path) => printMasks(requireModel(path).model),
  ir: (path) => printIr(buildIr(requireModel(path).model)),
  ...Object.fromEntries(Object.entries(loweringDumpStages).map(([name, print]) => [name, (path: string) => print(requireModel(path).model)])),
};

export function registerFrontEndCommands(program: Command): void {
  program
    .command('check')
    .description('parse and check specs; print every problem with its place and a hint')
    .argument('<files...>', '.mdl spec files')
    .action((files: string[]) => {
      let failed = 0;
      for (const f of files) {
        const r = loadSpec(f);
        if (r.model) process.stdout.write(`${f}: ok (model ${r.model.name})\n`);
        else failed++;
      }
      if (failed) throw new UserError(`${failed} of ${files.length} spec${files.length === 1 ? '' : 's'} failed to check`);
    });

  program
    .command('dump')
    .description('print one stage of the pipeline as text')
    .argument('<file>', '.mdl spec file')
    .option('--stage <stage>', `stage to print (${Object.keys(dumpStages).join(', ')})`, 'ir')
    .action((file: string, opts: { stage: string }) => {
      const stage = dumpStages[opts.stage];
      if (!stage) throw new UserError(`unknown stage '${opts.stage}'; stages: ${Object.keys(dumpStages).join(', ')}`);
      process.stdout.write(stage(file));
    });
}
