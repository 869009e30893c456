// The shape of T5's learned relative-position bias (`relative_bias(buckets, max_distance, bidirectional)`) and the
// rule for a usable one. The checker reports a bad shape; the kernel generator (src/wgsl/relative-bias.ts) splits
// the buckets the same way when it computes them.

export interface RelativeBiasShape {
  buckets: number;
  maxDistance: number;
  bidirectional: boolean;
}

/** Buckets per direction and the largest distance with a bucket of its own. */
export function relativeBiasHalves(s: RelativeBiasShape): { perSide: number; maxExact: number } {
  const perSide = s.bidirectional ? Math.floor(s.buckets / 2) : s.buckets;
  return { perSide, maxExact: Math.floor(perSide / 2) };
}

/** Why a shape cannot be used, or undefined. */
export function relativeBiasProblem(s: RelativeBiasShape): string | undefined {
  const { perSide, maxExact } = relativeBiasHalves(s);
  if (!Number.isInteger(s.buckets) || perSide < 2) return `relative_bias needs at least ${s.bidirectional ? 4 : 2} buckets${s.bidirectional ? ' (half of them per direction)' : ''}`;
  if (!Number.isInteger(s.maxDistance) || s.maxDistance <= maxExact) return `relative_bias needs a whole max_distance above ${maxExact}, where its logarithmic buckets start`;
  return undefined;
}
