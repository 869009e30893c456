// `npm run test:unit`: the fast tier for the edit loop, every test that runs without a WebGPU device. `npm test`
// (vitest.config.ts) still runs everything.
//
// A test file is left to the full tier when it imports the device (test/runtime/gpu-harness.ts,
// src/runtime/device.ts) or Playwright, or is listed in SPAWNS_A_DEVICE because an mdl process it starts uses one.
// Nothing else is trusted: this tier runs with test/unit-tier/no-device.mjs loaded into every worker and every
// process a test spawns, so loading Dawn or Playwright fails the test that tried.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { defineConfig } from 'vitest/config';
import base from './vitest.config.ts';

/** Test files whose spawned `mdl` processes use a WebGPU device (they import no device module themselves). */
export const SPAWNS_A_DEVICE: string[] = [
  'test/cli/demo-translate-gpu.test.ts',
  'test/cli/grad-gpu.test.ts',
  'test/cli/output-safety.test.ts',
  'test/cli/run-batch.test.ts',
  'test/cli/run-checks.test.ts',
  'test/cli/run-defaults.test.ts',
  'test/cli/run-generation.test.ts',
  'test/cli/run-lengths.test.ts',
  'test/cli/shipped-specs.test.ts',
  'test/cli/train-gpu.test.ts',
  'test/import/import-command.test.ts',
  'test/runtime/attention-backward-bench.test.ts',
  'test/tune/tune-matmul-cli.test.ts',
];

/** How a test file that uses the device in its own process is recognised. */
export const NEEDS_DEVICE = /from '[^']*(?:gpu-harness|src\/runtime\/device)\.ts'|from 'playwright-core'/;

function testFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return testFiles(p);
    return f.endsWith('.test.ts') ? [p] : [];
  });
}

const root = import.meta.dirname;

/** The test files of the unit tier, relative to the repository root. */
export function unitTestFiles(): string[] {
  return testFiles(join(root, 'test'))
    .map((p) => relative(root, p))
    .filter((f) => !SPAWNS_A_DEVICE.includes(f) && !NEEDS_DEVICE.test(readFileSync(join(root, f), 'utf8')))
    .sort();
}

// Inherited by the test workers and by every process they spawn.
process.env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} --import=${join(root, 'test', 'unit-tier', 'no-device.mjs')}`.trim();

export default defineConfig({ ...base, test: { ...base.test, include: unitTestFiles() } });
