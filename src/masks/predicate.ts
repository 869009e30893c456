// The mask predicate: what every mask policy finally means.
//
// A mask is a boolean function of four index variables — batch `b`, head `h`, query position `q`, key position `k` —
// plus integer parameters known only at dispatch time (the lengths of the two axes, symbolic dims of the spec)
// and per-sequence data read from the model's inputs (lengths, segment ids, token ids).
//
// Polarity: `true` means the query MAY attend to the key (the same as PyTorch SDPA's boolean mask; the inverse of
// nn.MultiheadAttention's `attn_mask`, where `true` means "masked out").
//
// Every backend consumes this one form: the CPU evaluator (dense matrices, the test oracle), the tile classifier
// (interval analysis), and the WGSL emitter (a predicate compiled into the attention kernel). Named policies such as
// `causal` or `window(64)` are lowered to it by `src/masks`.

/** The index variables a mask ranges over. */
export type IndexVar = 'b' | 'h' | 'q' | 'k';

/**
 * Integer arithmetic operators. `/` is floor division and `%` the floored modulo (Python semantics); both yield 0 when
 * the divisor is 0. Values are 32-bit: `+ - *` wrap in two's complement as WGSL `i32` does (`fold.ts` holds the one
 * definition every evaluator uses).
 */
export type IntOp = '+' | '-' | '*' | '/' | '%' | 'min' | 'max';

/** Comparison operators. */
export type CmpOp = '<' | '<=' | '==' | '!=' | '>' | '>=';

/**
 * Where a data read takes its element:
 * - `b`: a per-sequence scalar, `data[b]` (sequence lengths, prefix lengths);
 * - `q` / `k`: a per-position value, `data[b, q]` or `data[b, k]` (segment ids, token ids).
 */
export type LoadAt = 'b' | 'q' | 'k';

export type IntExpr =
  | { kind: 'var'; name: IndexVar }
  | { kind: 'const'; value: number }
  /** A value fixed at dispatch time: `Lq`/`Lk` (this attention site's query/key lengths) or a symbolic dim of the spec. */
  | { kind: 'param'; name: string }
  | { kind: 'bin'; op: IntOp; a: IntExpr; b: IntExpr }
  | { kind: 'abs'; a: IntExpr }
  /** Integer data from a model input (by the input's name in the spec). */
  | { kind: 'load'; input: string; at: LoadAt };

export type BoolExpr =
  | { kind: 'true' }
  | { kind: 'false' }
  | { kind: 'cmp'; op: CmpOp; a: IntExpr; b: IntExpr }
  | { kind: 'and'; args: BoolExpr[] }
  | { kind: 'or'; args: BoolExpr[] }
  | { kind: 'not'; a: BoolExpr }
  /**
   * A deterministic pseudo-random keep/drop decision per (b, h, q, k): the pair is visible when a counter-based
   * 32-bit hash of (seed, b, h, q, k) is at or above `rate * 2^32`, so a share `rate` of pairs is hidden. The hash is
   * defined in `src/masks/hash.ts` and reproduced bit for bit in WGSL.
   */
  | { kind: 'random'; seed: number; rate: number };

// ---- builders: keep call sites short and the trees canonical ----

export const V = (name: IndexVar): IntExpr => ({ kind: 'var', name });
export const C = (value: number): IntExpr => ({ kind: 'const', value });
export const P = (name: string): IntExpr => ({ kind: 'param', name });
export const bin = (op: IntOp, a: IntExpr, b: IntExpr): IntExpr => ({ kind: 'bin', op, a, b });
export const cmp = (op: CmpOp, a: IntExpr, b: IntExpr): BoolExpr => ({ kind: 'cmp', op, a, b });
export const and = (...args: BoolExpr[]): BoolExpr => ({ kind: 'and', args });
export const or = (...args: BoolExpr[]): BoolExpr => ({ kind: 'or', args });
export const not = (a: BoolExpr): BoolExpr => ({ kind: 'not', a });
export const TRUE: BoolExpr = { kind: 'true' };
export const FALSE: BoolExpr = { kind: 'false' };

/** Floor division with the project's convention for a zero divisor (result 0). Shared by every evaluator. */
export function floorDiv(a: number, b: number): number {
  return b === 0 ? 0 : Math.floor(a / b);
}

/** Floored modulo (the sign of the divisor), 0 for a zero divisor. */
export function floorMod(a: number, b: number): number {
  return b === 0 ? 0 : a - b * Math.floor(a / b);
}
