// The `mdl` command line. Each subcommand lives in its own module and registers itself here when it is needed.
//
// Errors about the user's input are printed as diagnostics and exit with status 1; anything else that goes wrong is
// reported in one line (no stack trace unless MDL_DEBUG is set) and exits with status 2.

import { Command, CommanderError } from 'commander';
import { SafetensorsError } from '../runtime/safetensors.ts';
import { TokenizerError } from '../runtime/tokenizer.ts';
import { WeightsError } from '../runtime/weights.ts';
import { OutputError } from '../lower/write-output.ts';
import { NoLossError } from '../ir/training.ts';
import { UserError } from './user-error.ts';

type Register = (program: Command) => void;

/**
 * Each subcommand's module, by command name, in the order help lists them. A module is loaded only when its command
 * runs (or for help, which lists them all), so that a command does not pay for loading the others (the parser,
 * Dawn, esbuild, pngjs) before it starts.
 */
const COMMANDS: [string[], (name?: string) => Promise<Register>][] = [
  [
    ['check', 'dump'],
    async (name) => {
      const { registerFrontEndCommands } = await import('./front-end-commands.ts');
      // The later stages `mdl dump` can print (fuse … manifest) register themselves from the lowering code.
      if (name !== 'check') await import('../lower/dump-stages.ts');
      return registerFrontEndCommands;
    },
  ],
  [['mask'], async () => (await import('./mask-command.ts')).registerMaskCommand],
  [['compile'], async () => (await import('./compile-command.ts')).registerCompileCommand],
  [['run'], async () => (await import('./run-command.ts')).registerRunCommand],
  [['serve'], async () => (await import('./serve-command.ts')).registerServeCommand],
  [['tune'], async () => (await import('./tune-command.ts')).registerTuneCommand],
  [['demo'], async () => (await import('./demo-command.ts')).registerDemoCommand],
  [['init'], async () => (await import('./init-command.ts')).registerInitCommand],
  [['import'], async () => (await import('./import-command.ts')).registerImportCommand],
  [['grad'], async () => (await import('./grad-command.ts')).registerGradCommand],
  [['train'], async () => (await import('./train-command.ts')).registerTrainCommand],
  [['eval'], async () => (await import('./eval-command.ts')).registerEvalCommand],
];

/** The program with the commands `argv` needs: the named one, none for --version, all otherwise (help, typos). */
export async function buildProgram(argv: string[] = []): Promise<Command> {
  const program = new Command('mdl')
    .description('Compile transformer specs with declared attention masks to fused WebGPU kernels')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  const [first] = argv;
  const named = COMMANDS.find(([names]) => names.includes(first));
  const needed = named ? [named] : argv.length === 1 && (first === '--version' || first === '-V') ? [] : COMMANDS;
  for (const [, load] of needed) (await load(named ? first : undefined))(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    const program = await buildProgram(argv);
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 1;
    // Problems with the user's files (weights, vocabularies) are reported like bad flags: one line, status 1.
    if (e instanceof UserError || e instanceof OutputError || e instanceof NoLossError || e instanceof SafetensorsError || e instanceof WeightsError || e instanceof TokenizerError) {
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
