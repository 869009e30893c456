// CLI startup: the wall time of `mdl --version` and `mdl check specs/translator.mdl`, each run as its own process
// the way a user runs it (`node bin/mdl.js …`, which runs the bundle dist/mdl.js while it is fresh). The first run of
// each is untimed: it builds the bundle if the sources changed and warms the file cache.
//
// `npx tsx bench/cli-startup.ts [repeats]` measures this section alone and prints it as BENCHMARKS.md shows it.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Timing } from '../src/tune/measure.ts';
import { median } from '../src/tune/measure.ts';

const root = join(import.meta.dirname, '..');

export const STARTUP_COMMANDS: { label: string; args: string[] }[] = [
  { label: 'mdl --version', args: ['--version'] },
  { label: 'mdl check specs/translator.mdl', args: ['check', 'specs/translator.mdl'] },
];

/** The goal for each command's best time: the machine's load varies, so the fastest run is what startup costs. */
export const STARTUP_GOAL_MS = 500;

export interface StartupRow {
  command: string;
  timing: Timing;
}

export function measureStartup(repeats: number): StartupRow[] {
  return STARTUP_COMMANDS.map(({ label, args }) => {
    const samples: number[] = [];
    for (let run = 0; run <= repeats; run++) {
      const t0 = performance.now();
      const r = spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8' });
      const elapsed = performance.now() - t0;
      if (r.status !== 0) throw new Error(`${label} failed (status ${r.status}): ${r.stderr.trim()}`);
      if (run > 0) samples.push(elapsed);
    }
    return { command: label, timing: { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), samples } };
  });
}

export function renderStartup(rows: StartupRow[]): string[] {
  const f = (x: number) => `${x.toFixed(0)} ms`;
  return [
    `Wall time of the command as its own process, from spawn to exit (\`node bin/mdl.js …\`), after one untimed run; goal: best run under ${STARTUP_GOAL_MS} ms.`,
    '',
    '| command | best | median | worst | runs | goal |',
    '| --- | ---: | ---: | ---: | ---: | --- |',
    ...rows.map((r) => `| \`${r.command}\` | ${f(r.timing.min)} | ${f(r.timing.median)} | ${f(r.timing.max)} | ${r.timing.samples.length} | ${r.timing.min < STARTUP_GOAL_MS ? 'met' : '**missed**'} |`),
  ];
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const repeats = Number(process.argv[2] ?? 7);
  process.stdout.write(`## CLI startup\n\n${renderStartup(measureStartup(repeats)).join('\n')}\n`);
}
