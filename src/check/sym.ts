// Symbolic dimension algebra.
//
// Dims such as the batch `B` or the target length `T` are unknown until run time, yet shapes built from them must be
// compared at compile time (is the memory's width the decoder's width? is this buffer `B*T*d_model`?). A dim value
// is kept as a polynomial with integer coefficients over symbolic atoms; two shapes are equal when their normal forms
// print the same. Floor division by something that does not divide exactly becomes an opaque atom, so comparisons
// stay sound (never "equal" by accident) if not complete.

/** A monomial key is its atoms sorted and joined by '*'; the empty key is the constant term. */
export type Poly = Map<string, number>;

export const sym = {
  constant(n: number): Poly {
    return n === 0 ? new Map() : new Map([['', n]]);
  },

  atom(name: string): Poly {
    return new Map([[name, 1]]);
  },

  add(a: Poly, b: Poly, sign = 1): Poly {
    const out = new Map(a);
    for (const [k, v] of b) {
      const sum = (out.get(k) ?? 0) + sign * v;
      if (sum === 0) out.delete(k);
      else out.set(k, sum);
    }
    return out;
  },

  mul(a: Poly, b: Poly): Poly {
    const out: Poly = new Map();
    for (const [ka, va] of a) {
      for (const [kb, vb] of b) {
        // A constant factor keeps the other monomial's key as it is (the common case: shapes times widths).
        const key = ka === '' ? kb : kb === '' ? ka : [...ka.split('*'), ...kb.split('*')].sort().join('*');
        const sum = (out.get(key) ?? 0) + va * vb;
        if (sum === 0) out.delete(key);
        else out.set(key, sum);
      }
    }
    return out;
  },

  /** Floor division. Exact when the divisor is a constant dividing every coefficient, or both sides are constants. */
  div(a: Poly, b: Poly): Poly {
    const bc = sym.asConstant(b);
    const ac = sym.asConstant(a);
    if (ac !== undefined && bc !== undefined) return sym.constant(bc === 0 ? 0 : Math.floor(ac / bc));
    if (bc !== undefined && bc !== 0 && [...a.values()].every((v) => v % bc === 0)) {
      return new Map([...a].map(([k, v]) => [k, v / bc]));
    }
    const wrap = (p: Poly) => (p.size > 1 ? `(${sym.print(p)})` : sym.print(p));
    return sym.atom(`floor(${wrap(a)} / ${wrap(b)})`);
  },

  mod(a: Poly, b: Poly): Poly {
    const bc = sym.asConstant(b);
    const ac = sym.asConstant(a);
    if (ac !== undefined && bc !== undefined) return sym.constant(bc === 0 ? 0 : ac - bc * Math.floor(ac / bc));
    return sym.atom(`((${sym.print(a)}) % (${sym.print(b)}))`);
  },

  asConstant(p: Poly): number | undefined {
    if (p.size === 0) return 0;
    if (p.size === 1 && p.has('')) return p.get('');
    return undefined;
  },

  equal(a: Poly, b: Poly): boolean {
    return a === b || sym.print(a) === sym.print(b);
  },

  /** Canonical text: terms by degree then name, constant last, e.g. `B*T + 2*S + 1`. */
  print(p: Poly): string {
    if (p.size === 0) return '0';
    const terms = [...p].sort(([ka], [kb]) => {
      if (ka === '') return 1;
      if (kb === '') return -1;
      return kb.split('*').length - ka.split('*').length || ka.localeCompare(kb);
    });
    let out = '';
    for (const [k, v] of terms) {
      const mag = Math.abs(v);
      const body = k === '' ? String(mag) : mag === 1 ? k : `${mag}*${k}`;
      out += out === '' ? (v < 0 ? `-${body}` : body) : v < 0 ? ` - ${body}` : ` + ${body}`;
    }
    return out;
  },

  /** Evaluates with concrete values for atoms; undefined when an atom has none (opaque atoms never do). */
  evaluate(p: Poly, env: Record<string, number>): number | undefined {
    let total = 0;
    for (const [k, v] of p) {
      let term = v;
      for (const a of k.split('*').filter((s) => s !== '')) {
        const x = env[a];
        if (x === undefined) return undefined;
        term *= x;
      }
      total += term;
    }
    return total;
  },

  atoms(p: Poly): string[] {
    return [...new Set([...p.keys()].flatMap((k) => k.split('*')).filter((s) => s !== ''))].sort();
  },
};
