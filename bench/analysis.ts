// Why a target was missed, in words, from the run's own numbers. Kept apart from the tables so that the reasoning
// can be read (and corrected) without wading through formatting code.

import { judgeTargets, type BenchResults } from './results.ts';

export function explainTargets(r: BenchResults): string[] {
  const missed = judgeTargets(r).filter((t) => t.met === false);
  if (missed.length === 0) return ['Every target was met in this run.'];
  return [`Missed in this run: ${missed.map((t) => t.what).join('; ')}.`];
}
