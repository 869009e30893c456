// Choosing the next token from one row of logits: greedy, or sampled with temperature, top-k and top-p (nucleus),
// after a repetition penalty; the pad id is never chosen. The definitions follow Hugging Face's logits processors,
// applied in its order (repetition penalty, temperature, top-k, top-p), so a run can be compared with theirs.
// Every random choice draws from one seeded generator, so a seed fixes the whole run.

export interface SamplingOptions {
  /** Take the most likely token; temperature, top-k and top-p are then ignored. */
  greedy: boolean;
  temperature?: number;
  /** Keep only the k most likely tokens (0: all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1: all). */
  topP?: number;
  /** Above 1 discourages tokens already in the sequence (prompt included): positive logits divided, negative multiplied. */
  repetitionPenalty?: number;
  /** An id never chosen (the tokens input's pad). */
  pad?: number;
}

/** What every generation entry point takes to choose and stop tokens: one sequence, a batch, or the CLI's runs. */
export interface DecodingControls extends Omit<SamplingOptions, 'pad'> {
  /** Seeds every random choice. */
  seed?: number;
  /** Ids after which generation stops (default: the target's eos, if it declares one). */
  stopIds?: number[];
  /** Generation stops once the generated text (through `decode`) contains one of these. */
  stopStrings?: string[];
  decode?: (ids: number[]) => string;
}

/** A seeded generator of numbers in [0, 1) (mulberry32): the same seed gives the same draws on every machine. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The row after the repetition penalty and with pad removed (-Infinity), in float64. */
export function processLogits(row: ArrayLike<number>, seen: Iterable<number>, opts: Pick<SamplingOptions, 'repetitionPenalty' | 'pad'>): Float64Array {
  const out = Float64Array.from(row);
  const penalty = opts.repetitionPenalty ?? 1;
  if (penalty !== 1) {
    for (const id of new Set(seen)) {
      if (id < 0 || id >= out.length) continue;
      out[id] = out[id] > 0 ? out[id] / penalty : out[id] * penalty;
    }
  }
  // Pad is never emitted, unless it is the only token the vocabulary has.
  if (opts.pad !== undefined && opts.pad < out.length && out.length > 1) out[opts.pad] = -Infinity;
  return out;
}

/** Natural-log softmax of a row (float64); -Infinity entries stay -Infinity. */
export function logSoftmax(row: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < row.length; i++) if (row[i] > max) max = row[i];
  let total = 0;
  for (let i = 0; i < row.length; i++) total += Math.exp(row[i] - max);
  const log = max + Math.log(total);
  return Float64Array.from(row, (x) => x - log);
}

/**
 * The tokens sampling may choose and their probabilities (summing to 1), most likely first: temperature, then top-k,
 * then top-p over what top-k kept. Ties keep the lower id first, so the kept set is deterministic.
 */
export function candidates(processed: Float64Array, opts: Pick<SamplingOptions, 'temperature' | 'topK' | 'topP'>): { ids: number[]; probs: number[] } {
  const temperature = opts.temperature ?? 1;
  const order = Array.from({ length: processed.length }, (_, i) => i)
    .filter((i) => processed[i] !== -Infinity)
    .sort((a, b) => processed[b] - processed[a] || a - b);
  const keep = opts.topK && opts.topK > 0 ? order.slice(0, opts.topK) : order;
  const max = processed[keep[0]];
  const weights = keep.map((i) => Math.exp((processed[i] - max) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let probs = weights.map((w) => w / total);
  let ids = keep;
  const topP = opts.topP ?? 1;
  if (topP < 1) {
    // The smallest prefix whose mass reaches p; the most likely token always stays.
    let mass = 0;
    let n = 0;
    while (n < probs.length && (n === 0 || mass < topP)) mass += probs[n++];
    ids = ids.slice(0, n);
    const kept = probs.slice(0, n);
    const sum = kept.reduce((a, b) => a + b, 0);
    probs = kept.map((p) => p / sum);
  }
  return { ids, probs };
}

/** The next token: the most likely one (lowest id on ties), or one drawn from the candidates. */
export function chooseToken(processed: Float64Array, opts: SamplingOptions, random: () => number): number {
  if (opts.greedy) return argmax(processed);
  const { ids, probs } = candidates(processed, opts);
  let r = random();
  for (let j = 0; j < ids.length; j++) if ((r -= probs[j]) < 0) return ids[j];
  return ids[ids.length - 1];
}

export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
}

/** The first stop string the generated text contains, or undefined (a token may end with text past it). */
export function stopStringIn(text: string, strings: string[]): string | undefined {
  return strings.find((s) => s !== '' && text.includes(s));
}
