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
