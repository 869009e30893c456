// Learned relative-position bias (T5): the score of query q and key k gains `table[bucket(k - q), h]`, a learned
// value per bucket and head. Buckets are exact for small distances and logarithmic up to `maxDistance`, beyond which
// every distance shares the last bucket; bidirectional biases give keys after the query their own half of the buckets.
//
// The bucket of a distance is computed as Hugging Face's T5 computes it (`_relative_position_bucket`, with the log in
// f32), once, on the host: the kernel gets the distances where the logarithmic buckets start as integer constants,
// so the GPU and the CPU oracle agree exactly, with no floating-point logarithm in the kernel.

import { relativeBiasHalves as halves, relativeBiasProblem, type RelativeBiasShape } from '../check/relative-bias-shape.ts';

/** The bucket of a distance d ≥ 0 within one direction. */
function sideBucket(d: number, perSide: number, maxExact: number, maxDistance: number): number {
  if (d < maxExact) return d;
  const f = Math.fround;
  const large = maxExact + Math.trunc(f(f(f(Math.log(f(d / maxExact))) / Math.log(maxDistance / maxExact)) * (perSide - maxExact)));
  return Math.min(large, perSide - 1);
}

/** T5's bucket of `relative = k - q`. */
export function relativeBucket(relative: number, s: RelativeBiasShape): number {
  const { perSide, maxExact } = halves(s);
  if (s.bidirectional) return (relative > 0 ? perSide : 0) + sideBucket(Math.abs(relative), perSide, maxExact, s.maxDistance);
  return sideBucket(Math.max(-relative, 0), perSide, maxExact, s.maxDistance);
}

/** For each logarithmic bucket after the first, the smallest distance that reaches it (ascending). */
export function bucketThresholds(s: RelativeBiasShape): number[] {
  const { perSide, maxExact } = halves(s);
  const out: number[] = [];
  let bucket = maxExact;
  for (let d = maxExact; d <= s.maxDistance && bucket < perSide - 1; d++) {
    const b = sideBucket(d, perSide, maxExact, s.maxDistance);
    for (; bucket < b; bucket++) out.push(d);
  }
  return out;
}

/**
 * WGSL statements declaring `rb_bucket` (i32), the bucket of `k - q`, given `q`, `k` (u32) in scope. The attention
 * backward pass reads the bucket itself to accumulate the table's gradient.
 */
export function relativeBucketWgsl(s: RelativeBiasShape): string[] {
  const problem = relativeBiasProblem(s);
  if (problem) throw new Error(problem);
  const { perSide, maxExact } = halves(s);
  const lines = ['    let rb_rel = i32(k) - i32(q);', '    var rb_bucket = 0;'];
  if (s.bidirectional) lines.push(`    if (rb_rel > 0) { rb_bucket = ${perSide}; }`, '    let rb_d = abs(rb_rel);');
  else lines.push('    let rb_d = max(-rb_rel, 0);');
  lines.push(`    if (rb_d < ${maxExact}) {`, '      rb_bucket = rb_bucket + rb_d;', '    } else {', `      var rb_j = ${maxExact};`);
  for (const t of bucketThresholds(s)) lines.push(`      rb_j = rb_j + select(0, 1, rb_d >= ${t});`);
  lines.push('      rb_bucket = rb_bucket + rb_j;', '    }');
  return lines;
}

/**
 * WGSL statements adding the bias to `s`, given `q`, `k`, `h` (u32) in scope and the table `[buckets, heads]` bound
 * as `table`.
 */
export function relativeBiasWgsl(s: RelativeBiasShape, heads: number, table: string): string[] {
  return ['  {', ...relativeBucketWgsl(s), `    s = s + ${table}[u32(rb_bucket) * ${heads}u + h];`, '  }'];
}
