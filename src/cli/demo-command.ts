// `mdl demo [FILE]`: the quick start's first command. It takes a shipped spec (the translator by default) through
// the pipeline and shows what each stage made of it.

import type { Command } from 'commander';
import { fileURLToPath } from 'node:url';
import { sym } from '../check/sym.ts';
import { buildIr } from '../ir/build.ts';
import { requireModel } from './load.ts';

export const DEFAULT_SPEC = fileURLToPath(new URL('../../specs/translator.mdl', import.meta.url));

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run a shipped spec through the pipeline (default: specs/translator.mdl)')
    .argument('[file]', '.mdl spec', DEFAULT_SPEC)
    .action((file: string) => {
      const t0 = performance.now();
      const { model } = requireModel(file);
      const ir = buildIr(model);
      const ms = (performance.now() - t0).toFixed(1);
      const out: string[] = [];
      out.push(`model ${model.name}: checked and lowered to IR in ${ms} ms`);
      const params = ir.nodes.filter((n) => n.op === 'param');
      const count = params.reduce((s, n) => s + n.shape.reduce((p, d) => p * (sym.asConstant(d) ?? 0), 1), 0);
      out.push(`  ${ir.nodes.length} IR nodes, ${params.length} parameter tensors, ${count.toLocaleString('en-US')} parameters`);
      out.push('  attention sites:');
      for (const s of model.stacks) {
        for (const l of s.layers) {
          if (l.kind !== 'attention') continue;
          const mask = l.mask ? l.mask.name : '(none: every key visible)';
          out.push(`    ${s.name} × ${s.repeat}: ${l.mode}-attention, ${l.heads} heads / ${l.kvHeads} kv, queries along ${l.queryAxis}, keys along ${l.keyAxis}, mask ${mask}`);
        }
      }
      process.stdout.write(out.join('\n') + '\n');
    });
}
