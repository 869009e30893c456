// erf in f64 for the reference interpreter's exact GELU (`gelu_erf`). JavaScript has no Math.erf.
//
// Below |x| = 2.5 the Maclaurin series (terms alternate, the largest is about 30, so ~1e-15 absolute is kept);
// above it the continued fraction of erfc, which converges quickly there. Both are textbook forms (Abramowitz and
// Stegun 7.1.5 and 7.1.14); the tests check them against direct quadrature of 2/√π · e^(−t²).

const TWO_OVER_SQRT_PI = 1.1283791670955126;

export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const a = Math.abs(x);
  const v = a < 2.5 ? series(a) : 1 - erfcFraction(a);
  return x < 0 ? -v : v;
}

function series(x: number): number {
  const x2 = x * x;
  let term = x; // x^(2n+1) (−1)^n / n!
  let sum = x;
  for (let n = 1; n < 80; n++) {
    term *= -x2 / n;
    const add = term / (2 * n + 1);
    sum += add;
    if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
  }
  return TWO_OVER_SQRT_PI * sum;
}

/** erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))), evaluated from the tail. */
function erfcFraction(x: number): number {
  let f = x;
  for (let k = 60; k >= 1; k--) f = x + k / 2 / f;
  return Math.exp(-x * x) / Math.sqrt(Math.PI) / f;
}

/** GELU in its exact form: x · Φ(x) = x/2 · (1 + erf(x/√2)). */
export function geluErf(x: number): number {
  return 0.5 * x * (1 + erf(x / Math.SQRT2));
}

/** d/dx of x · Φ(x): Φ(x) + x · φ(x). */
export function geluErfGrad(x: number): number {
  return 0.5 * (1 + erf(x / Math.SQRT2)) + (x * Math.exp(-0.5 * x * x)) / Math.sqrt(2 * Math.PI);
}
