// The `mdl` command line. Each subcommand lives in its own module and registers itself here.
//
// Errors about the user's input are printed as diagnostics and exit with status 1; anything else that goes wrong is
// reported in one line (no stack trace unless MDL_DEBUG is set) and exits with status 2.

import { Command, CommanderError } from 'commander';
import { registerCompileCommand } from './compile-command.ts';
import { registerDemoCommand } from './demo-command.ts';
import { registerFrontEndCommands } from './front-end-commands.ts';
import { registerInitCommand } from './init-command.ts';
import { registerMaskCommand } from './mask-command.ts';
import { registerRunCommand } from './run-command.ts';
import { registerServeCommand } from './serve-command.ts';
import { registerTuneCommand } from './tune-command.ts';
import { SafetensorsError } from '../runtime/safetensors.ts';
import { TokenizerError } from '../runtime/tokenizer.ts';
import { WeightsError } from '../runtime/weights.ts';
import { UserError } from './user-error.ts';

export function buildProgram(): Command {
  const program = new Command('mdl')
    .description('Compile transformer specs with declared attention masks to fused WebGPU kernels')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  registerFrontEndCommands(program);
  registerMaskCommand(program);
  registerCompileCommand(program);
  registerRunCommand(program);
  registerServeCommand(program);
  registerTuneCommand(program);
  registerDemoCommand(program);
  registerInitCommand(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1;
    // Problems with the user's files (weights, vocabularies) are reported like bad flags: one line, status 1.
    if (e instanceof UserError || e instanceof SafetensorsError || e instanceof WeightsError || e instanceof TokenizerError) {
      process.stderr.write(`mdl: ${e.message}\n`);
      return 1;
    }
    const err = e as Error;
    process.stderr.write(`mdl: internal error: ${err?.message ?? String(e)}\n`);
    if (process.env.MDL_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
    else process.stderr.write('mdl: set MDL_DEBUG=1 for details, and please report this with the spec that caused it\n');
    return 2;
  }
}

// A reader that stops early (`mdl dump … | head`) closes the pipe: stop quietly, as a command piped to head does.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
    process.exit(0);
  });
}
const code = await main(process.argv.slice(2));
// Output larger than a pipe holds is still being written; exiting now would cut it off.
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise<void>((done) => stream.write('', () => done()))));
process.exit(code);
