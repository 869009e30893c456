// Timing discipline shared by the tuner and the benchmarks: warm-up runs first (pipeline compilation, first-touch
// allocation and driver caches all land there), then several timed runs, reported by their median so that one
// descheduled run on a shared machine does not move the result.

export interface Timing {
  /** Median over the timed runs, in milliseconds. */
  median: number;
  min: number;
  max: number;
  /** Every timed sample, in the order taken. */
  samples: number[];
}

export interface MeasureOptions {
  /** Untimed runs before the first sample (default 1). */
  warmup?: number;
  /** Timed runs (default 5). */
  repeats?: number;
  /** Stop taking samples once this much time went into timed runs (at least one sample is always taken). */
  budgetMs?: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function summarize(samples: number[]): Timing {
  return { median: median(samples), min: Math.min(...samples), max: Math.max(...samples), samples };
}

/**
 * Times `run`, which either returns its own measurement in ms (device-side timing, or a per-dispatch average) or
 * nothing, in which case its wall-clock time is used.
 */
export async function measure(run: () => Promise<number | void>, options: MeasureOptions = {}): Promise<Timing> {
  const warmup = options.warmup ?? 1;
  const repeats = Math.max(1, options.repeats ?? 5);
  for (let i = 0; i < warmup; i++) await run();
  const samples: number[] = [];
  let spent = 0;
  while (samples.length < repeats) {
    const t0 = performance.now();
    const own = await run();
    const wall = performance.now() - t0;
    samples.push(typeof own === 'number' ? own : wall);
    spent += wall;
    if (options.budgetMs !== undefined && spent >= options.budgetMs) break;
  }
  return summarize(samples);
}

/**
 * The choice among measured variants: the fastest, unless it beats the fallback (the generator's default, always
 * valid) by less than `minGain`. Rejected and unmeasured variants never win.
 */
export function pickFastest<T>(fallback: T, candidates: readonly T[], ms: (c: T) => number | undefined, minGain = 1.05): T {
  const base = ms(fallback);
  if (base === undefined || !Number.isFinite(base)) throw new Error('the fallback variant has no measurement');
  let fastest = fallback;
  for (const c of candidates) {
    const t = ms(c);
    if (t !== undefined && Number.isFinite(t) && t < ms(fastest)!) fastest = c;
  }
  return ms(fastest)! * minGain <= base ? fastest : fallback;
}

/** A candidate of a variant tuner: its per-problem medians and their weighted total, or why it was rejected. */
export interface TunedCandidate {
  ms?: number[];
  totalMs?: number;
  rejected?: string;
}

/**
 * Round by round, times every live candidate once on one problem (`live` lists them; `samples(i)` is candidate i's
 * list for this problem): `rounds` rounds, then up to 5× as many while some candidate's samples sum to less than
 * `budgetMs` (fast kernels sit within a busy machine's noise, and more samples of them are cheap).
 */
export async function sampleRounds(
  rounds: number,
  budgetMs: number,
  live: () => number[],
  samples: (i: number) => number[],
  time: (i: number) => Promise<number>,
  onRound?: (round: number) => Promise<void> | void,
): Promise<void> {
  for (let round = 0; round < rounds * 5; round++) {
    const timed = live();
    if (round >= rounds && timed.every((i) => samples(i).reduce((a, b) => a + b, 0) >= budgetMs)) break;
    for (const i of timed) samples(i).push(await time(i));
    await onRound?.(round + 1);
  }
}

/**
 * Each candidate's medians per problem and their total weighted by how often each problem occurs, then the pick:
 * the fastest, unless it beats the default (candidate 0, which must have been measured) by less than `minGain`.
 */
export function settleCandidates<R extends TunedCandidate>(results: R[], samples: number[][][], counts: readonly (number | undefined)[], what: string, minGain = 1.05): { best: R; fallback: R; results: R[] } {
  for (const [i, r] of results.entries()) {
    if (r.rejected) continue;
    r.ms = samples[i].map((s) => median(s));
    r.totalMs = r.ms.reduce((sum, ms, pi) => sum + ms * (counts[pi] ?? 1), 0);
  }
  const fallback = results[0];
  if (fallback.rejected || fallback.totalMs === undefined) throw new Error(`the default ${what} could not be measured: ${fallback.rejected ?? 'no result'}`);
  const usable = results.filter((r) => r.totalMs !== undefined && !r.rejected);
  const best = pickFastest(fallback, usable, (r) => r.totalMs, minGain);
  return { best, fallback, results };
}
