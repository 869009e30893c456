// The counter-based hash behind `random(rate, seed)`.
//
// A random mask must be the same bits on the CPU, on every GPU and in every tile order, so it cannot come from a
// stateful generator. Each pair's bit is a pure function of (seed, b, h, q, k): every index is folded in with a
// 32-bit finaliser (xor-shift and multiply by odd constants, as in well-known integer hash "mixers"). Only u32 wrapping
// arithmetic is used, which JavaScript reproduces with Math.imul and `>>> 0`, and WGSL with plain u32 ops.

const HASH_M1 = 0x7feb352d;
const HASH_M2 = 0x846ca68b;
/** Added before each fold so that zeros in different positions do not cancel. */
const HASH_STEP = 0x9e3779b9;

function mix(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, HASH_M1) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, HASH_M2) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/** The 32-bit hash of a pair. Indices are taken as u32 (they are never negative in a mask). */
export function pairHash(seed: number, b: number, h: number, q: number, k: number): number {
  let x = mix((seed >>> 0) + HASH_STEP);
  for (const v of [b, h, q, k]) x = mix(((x ^ (v >>> 0)) + HASH_STEP) >>> 0);
  return x;
}

/**
 * The smallest hash value that keeps a pair visible: a pair is hidden when its hash is below `rate * 2^32`.
 * Returns 0 for rate ≤ 0 (keep all) and 2^32 for rate ≥ 1 (keep none); callers special-case those.
 */
export function keepThreshold(rate: number): number {
  if (rate <= 0) return 0;
  if (rate >= 1) return 2 ** 32;
  return Math.floor(rate * 2 ** 32);
}

/** WGSL source of the same hash, for kernels that embed a random mask. */
export function hashWgsl(fnName: string): string {
  const mixName = `${fnName}_mix`;
  return [
    `fn ${mixName}(v: u32) -> u32 {`,
    '  var x = v;',
    '  x = x ^ (x >> 16u);',
    `  x = x * ${HASH_M1}u;`,
    '  x = x ^ (x >> 15u);',
    `  x = x * ${HASH_M2}u;`,
    '  return x ^ (x >> 16u);',
    '}',
    `fn ${fnName}(seed: u32, b: i32, h: i32, q: i32, k: i32) -> u32 {`,
    `  var x = ${mixName}(seed + ${HASH_STEP}u);`,
    `  x = ${mixName}((x ^ u32(b)) + ${HASH_STEP}u);`,
    `  x = ${mixName}((x ^ u32(h)) + ${HASH_STEP}u);`,
    `  x = ${mixName}((x ^ u32(q)) + ${HASH_STEP}u);`,
    `  x = ${mixName}((x ^ u32(k)) + ${HASH_STEP}u);`,
    '  return x;',
    '}',
  ].join('\n');
}
