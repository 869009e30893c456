// IEEE 754 binary16 ("half", safetensors F16) ↔ f32, by bit manipulation so every platform gives the same bits.

/** The value of a half-precision bit pattern (exact: every half is an f32). */
export function f16BitsToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/**
 * The half nearest to `x` (after rounding `x` to f32), ties to even as IEEE requires; values beyond the largest half
 * (65504, plus half an ulp) become ±inf, values below half the smallest subnormal become ±0, NaN stays NaN.
 */
export function f32ToF16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half: shift the full 24-bit significand down to units of 2^-24 and round the dropped bits.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const rest = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && m & 1)) m++; // may carry into the smallest normal, which is the right pattern
    return sign | m;
  }
  const rest = mant & 0x1fff;
  let out = sign | (e << 10) | (mant >>> 13);
  // A carry out of the mantissa bumps the exponent, and from the largest finite half reaches inf: both correct.
  if (rest > 0x1000 || (rest === 0x1000 && out & 1)) out++;
  return out;
}

/**
 * The bfloat16 nearest to `x` (after rounding to f32), ties to even: bf16 is the top half of an f32, so rounding the
 * low 16 bits away can only carry into the exponent, and from the largest finite value into inf, both correct. NaN
 * stays a quiet NaN of the same sign. A value read from bf16 comes back to the same bits.
 */
export function f32ToBf16Bits(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  if ((bits & 0x7f800000) === 0x7f800000 && bits & 0x7fffff) return ((bits >>> 16) & 0x8000) | 0x7fc0;
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}
