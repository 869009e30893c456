// The mask policy algebra: named built-ins and their compositions, as the user thinks of them.
//
// A policy keeps the user's vocabulary (`causal & window(64)`) so it can be printed back in a normal form, simplified
// safely, and drawn; each leaf also carries its meaning as a predicate (predicate.ts), and `toPredicate` assembles the
// whole policy into the one predicate every backend consumes.

import { foldBool } from './fold.ts';
import { printBool } from './print-predicate.ts';
import { and, not, or, FALSE, TRUE, type BoolExpr, type IntExpr, type LoadAt } from './predicate.ts';
import type { Span } from '../lang/ast.ts';

/** A parameter of a built-in that the checker could not range-check because it depends on run-time dims. */
export interface SizeParam {
  /** The built-in as written in the normal form, `chunked(S / 4)`. */
  policy: string;
  /** The parameter's name: `size`, `count`, `left`… */
  key: string;
  /** Its value, with symbolic dims and `Lq`/`Lk` as params. */
  expr: IntExpr;
  /** How it prints, `S / 4`. */
  text: string;
  min: number;
}

/** A read of input data, with the attention axis it applies to (for the checker's axis rule). */
export interface DataRead {
  input: string;
  at: LoadAt;
  /** The axis whose positions the read is compared with: `q` (query axis) or `k` (key axis). */
  along: 'q' | 'k';
  /** The dim the input's positions run along (or, for lengths, the dim they count), as the spec declares it. */
  axisDim?: string;
  span: Span;
}

export type Policy =
  /** Every pair visible: `none` / `full` (no mask). */
  | { kind: 'all' }
  /** No pair visible (only arises from `!none`). */
  | { kind: 'nothing' }
  /**
   * A built-in such as `window(64)`: its printed form, its predicate, what data it reads, and the parameters whose
   * range can only be checked at run time (sizes.ts).
   */
  | { kind: 'builtin'; name: string; text: string; pred: BoolExpr; reads: DataRead[]; sizes?: SizeParam[] }
  /** A raw predicate over b, h, q, k written by the user. */
  | { kind: 'raw'; pred: BoolExpr; reads: DataRead[] }
  | { kind: 'and'; parts: Policy[] }
  | { kind: 'or'; parts: Policy[] }
  | { kind: 'not'; part: Policy };

export const ALL: Policy = { kind: 'all' };
export const NOTHING: Policy = { kind: 'nothing' };

/**
 * Safe simplification: flattening, identities (`none & m` → `m`, `none | m` → `none`), idempotence
 * (`causal & causal` → `causal`), double negation, constant negation, and constant folding inside raw predicates
 * (`k <= q + 2 * 3` → `k <= q + 6`, `1 < 2` → `none`). It never changes which pairs are visible
 * (a property test checks this against dense evaluation).
 */
export function simplify(p: Policy): Policy {
  // A named mask's policy is simplified once and then reused inside every mask that refers to it: walking it again
  // would make a chain of masks defined by each other quadratic.
  if (simplified.has(p)) return p;
  const out = simplifyOnce(p);
  if (out.kind === 'and' || out.kind === 'or' || out.kind === 'not') simplified.add(out);
  return out;
}

const simplified = new WeakSet<Policy>();

function simplifyOnce(p: Policy): Policy {
  switch (p.kind) {
    case 'not': {
      const inner = simplify(p.part);
      if (inner.kind === 'not') return inner.part;
      if (inner.kind === 'all') return NOTHING;
      if (inner.kind === 'nothing') return ALL;
      return { kind: 'not', part: inner };
    }
    case 'and':
    case 'or': {
      const unit = p.kind === 'and' ? 'all' : 'nothing';
      const zero = p.kind === 'and' ? 'nothing' : 'all';
      const parts: Policy[] = [];
      const seen = new Set<string>();
      for (const raw of p.parts) {
        const s = simplify(raw);
        const flat = s.kind === p.kind ? s.parts : [s];
        for (const f of flat) {
          if (f.kind === zero) return f;
          if (f.kind === unit) continue;
          const key = printPolicy(f);
          if (seen.has(key)) continue;
          seen.add(key);
          parts.push(f);
        }
      }
      if (parts.length === 0) return p.kind === 'and' ? ALL : NOTHING;
      if (parts.length === 1) return parts[0];
      return { kind: p.kind, parts };
    }
    case 'raw': {
      const pred = foldBool(p.pred);
      if (pred.kind === 'true') return ALL;
      if (pred.kind === 'false') return NOTHING;
      return { ...p, pred };
    }
    case 'builtin':
      // A built-in whose meaning folds to a constant (`random(0, 5)`) is that constant.
      return p.pred.kind === 'true' ? ALL : p.pred.kind === 'false' ? NOTHING : p;
    default:
      return p;
  }
}

/** The predicate of a whole policy. */
export function toPredicate(p: Policy): BoolExpr {
  switch (p.kind) {
    case 'all':
      return TRUE;
    case 'nothing':
      return FALSE;
    case 'builtin':
    case 'raw':
      return p.pred;
    case 'and':
      return and(...p.parts.map(toPredicate));
    case 'or':
      return or(...p.parts.map(toPredicate));
    case 'not':
      return not(toPredicate(p.part));
  }
}

/** Every data read of a policy. */
export function dataReads(p: Policy): DataRead[] {
  switch (p.kind) {
    case 'builtin':
    case 'raw':
      return p.reads;
    case 'and':
    case 'or':
      return p.parts.flatMap(dataReads);
    case 'not':
      return dataReads(p.part);
    default:
      return [];
  }
}

/**
 * The normal form as text: built-ins by name, raw predicates in infix, `&` binding tighter than `|`. It parses back
 * to the same policy (a test checks the round trip).
 */
export function printPolicy(p: Policy): string {
  if (p.kind !== 'and' && p.kind !== 'or' && p.kind !== 'not') return printOnce(p);
  let text = printed.get(p);
  if (text === undefined) {
    text = printOnce(p);
    printed.set(p, text);
  }
  return text;
}

/** Policies are never changed once built, so a composition's text is kept (simplify asks for it at every level). */
const printed = new WeakMap<Policy, string>();

/** Nodes and nesting depth of a policy, counting shared parts once per use (what printing and lowering walk). */
export function policySize(p: Policy): { nodes: number; depth: number } {
  if (p.kind !== 'and' && p.kind !== 'or' && p.kind !== 'not') return LEAF;
  let s = sizes.get(p);
  if (!s) {
    const parts = p.kind === 'and' || p.kind === 'or' ? p.parts : p.kind === 'not' ? [p.part] : [];
    s = { nodes: 1, depth: 1 };
    for (const part of parts) {
      const x = policySize(part);
      s.nodes += x.nodes;
      s.depth = Math.max(s.depth, x.depth + 1);
    }
    sizes.set(p, s);
  }
  return s;
}

const sizes = new WeakMap<Policy, { nodes: number; depth: number }>();
const LEAF = { nodes: 1, depth: 1 };

function printOnce(p: Policy): string {
  switch (p.kind) {
    case 'all':
      return 'none';
    case 'nothing':
      return '!none';
    case 'builtin':
      return p.text;
    case 'raw':
      return printBool(p.pred);
    case 'not':
      return `!${atom(p.part)}`;
    // Comparisons bind tighter than `!`, `&` and `|` in the language, so raw predicates need no parentheses here.
    case 'and':
      return p.parts.map((x) => (x.kind === 'or' ? `(${printPolicy(x)})` : printPolicy(x))).join(' & ');
    case 'or':
      return p.parts.map(printPolicy).join(' | ');
  }
}

function atom(p: Policy): string {
  const s = printPolicy(p);
  return p.kind === 'builtin' || p.kind === 'all' ? s : `(${s})`;
}
