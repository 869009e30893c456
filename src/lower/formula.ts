// Sizes as formulas of the spec's dims: a product of factors `ceil(poly / per)`, optionally divided again (rounded
// up). Polynomials alone cannot say "one word per 32×32 tile" — ceil(S / 32)² — and evaluating an opaque
// `floor(...)` atom is impossible, so buffer sizes, uniform words and dispatch counts all use this one small form.

import { sym, type Poly } from '../check/sym.ts';

export interface Factor {
  poly: Poly;
  /** The factor is ceil(poly / per); 1 for the polynomial itself. */
  per: number;
}

export interface Formula {
  factors: Factor[];
  /** The whole product divided by `per`, rounded up (workgroup counts); 1 for none. */
  per: number;
}

export const formula = {
  of(poly: Poly): Formula {
    return { factors: [{ poly, per: 1 }], per: 1 };
  },

  constant(n: number): Formula {
    return formula.of(sym.constant(n));
  },

  /** ceil(f / per). */
  ceilDiv(f: Formula, per: number): Formula {
    if (!Number.isInteger(per) || per < 1) throw new Error(`cannot divide a size by ${per}`);
    if (f.per !== 1) throw new Error('nested rounded divisions are not supported');
    if (per === 1) return f;
    // ceil(poly / per) of a single polynomial stays one factor, so `ceil(S / 32)` prints and evaluates as such.
    if (f.factors.length === 1 && f.factors[0].per === 1) return { factors: [{ poly: f.factors[0].poly, per }], per: 1 };
    return { factors: f.factors, per };
  },

  times(...fs: Formula[]): Formula {
    if (fs.some((f) => f.per !== 1)) throw new Error('cannot multiply a rounded division');
    return { factors: fs.flatMap((f) => f.factors), per: 1 };
  },

  evaluate(f: Formula, dims: Record<string, number>): number | undefined {
    let product = 1;
    for (const x of f.factors) {
      const v = sym.evaluate(x.poly, dims);
      if (v === undefined) return undefined;
      product *= Math.ceil(v / x.per);
    }
    return Math.ceil(product / f.per);
  },

  /** The value when it does not depend on any dim. */
  asConstant(f: Formula): number | undefined {
    return formula.evaluate(f, {});
  },

  /**
   * Canonical text, e.g. `4*B*S`, `ceil(S / 32)`, `ceil(4*B*ceil(T / 32) / 64)`. Exact factors are multiplied out
   * first (times `scale`, for byte counts), so plain polynomial sizes print exactly as `sym.print` does.
   */
  print(f: Formula, scale = 1): string {
    let exact = sym.constant(scale);
    const rounded: string[] = [];
    for (const x of f.factors) {
      if (x.per === 1) exact = sym.mul(exact, x.poly);
      else rounded.push(`ceil(${sym.print(x.poly)} / ${x.per})`);
    }
    const exactText = sym.print(exact);
    const parts = rounded.length === 0 ? [exactText] : exactText === '1' ? rounded : [exact.size > 1 ? `(${exactText})` : exactText, ...rounded];
    const body = parts.join('*');
    return f.per === 1 ? body : `ceil(${body} / ${f.per})`;
  },
};
