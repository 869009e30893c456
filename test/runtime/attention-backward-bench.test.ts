// `bench/attention-backward.ts` run as a user runs it, at a tiny length: it prints the table of backward against
// forward times for the unmasked and causal cases, once per forward shape (the default and the tuner's row-wise
// ones), measured in interleaved rounds, and refuses an unknown option.

import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const bench = (...args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(root, 'bench', 'attention-backward.ts'), ...args], { cwd: root, encoding: 'utf8', timeout: 600_000 });

describe('bench/attention-backward.ts', () => {
  it('prints backward / forward and causal / unmasked for each length', () => {
    const r = bench('--lengths', '24', '--rounds', '2');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toBe("Attention backward, B=1 H=8 D=64 (medians, ms; causal / unmasked: the median of the rounds' ratios)");
    // Both masks of a shape are timed in interleaved rounds, as many as asked for at the longest length.
    expect(r.stderr).toContain('L=24 causal default');
    expect(r.stderr).toContain('(2 rounds)');
    expect(lines[1]).toContain('backward / forward');
    // Wall time and, beside it, the process's CPU time (the work done, which a loaded machine disturbs less).
    expect(lines[1]).toContain('backward / forward (CPU)');
    const none = lines.find((l) => l.startsWith('| 24 | none | default '));
    const causal = lines.find((l) => l.startsWith('| 24 | causal | default '));
    expect(none).toBeDefined();
    // The row-wise forward shapes, each with its own backward on its tiles.
    expect(lines.filter((l) => /^\| 24 \| (none|causal) \| row-wise \d+×\d+ \|/.test(l)).length).toBeGreaterThanOrEqual(2);
    // The causal row carries the causal / unmasked ratio, a positive number.
    expect(Number(causal!.split('|').at(-2)!.trim())).toBeGreaterThan(0);
  }, 600_000);

  it('refuses an unknown option', () => {
    const r = bench('--length', '24');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("unknown option '--length'");
  });
});
