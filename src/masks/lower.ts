// AST mask expression → policy. Names are resolved through a scope the checker provides; every problem becomes a
// diagnostic (E4xx) at the offending node, and lowering goes on so one run reports them all.
//
// Expressions are typed on the way: a mask (boolean) or an integer. `causal + 1` and `q + k` used as a mask are
// caught here, with the span of the part that has the wrong type.

import type { DiagnosticBag } from '../lang/diagnostics.ts';
import type { Expr, Span } from '../lang/ast.ts';
import { builtinPolicy, BUILTIN_NAMES } from './builtins.ts';
import type { MaskContext, MaskScope } from './scope.ts';
import { fitsI32, I32_MAX } from './fold.ts';
import { isWholeLiteral } from './params.ts';
import { ALL, policySize, simplify, type DataRead, type Policy } from './policy.ts';
import { bin, cmp, not, and, or, C, P, V, type BoolExpr, type IntExpr, type LoadAt } from './predicate.ts';

/** How deep named masks may be defined through one another (the same limit as for dims). */
export const MAX_MASK_REFERENCE_DEPTH = 100;
/** Bounds on a mask once the masks it refers to are written out: its parts, and how deep they nest. */
export const MAX_POLICY_NODES = 100_000;
export const MAX_POLICY_DEPTH = 200;
/** Expression levels lowered at once, counting through referenced masks (each level is a few stack frames). */
export const MAX_LOWERING_DEPTH = 1300;

/** A read inside integer arithmetic; a per-sequence read (`lens[b]`) learns its axis from the comparison it ends in. */
type PendingRead = Omit<DataRead, 'along'> & { along?: 'q' | 'k' };

type Lowered = { type: 'mask'; policy: Policy } | { type: 'int'; expr: IntExpr; reads: PendingRead[] };

export class MaskLowering implements MaskContext {
  private readonly active: string[] = [];
  private readonly cache = new Map<string, Policy | undefined>();

  constructor(
    readonly scope: MaskScope,
    readonly bag: DiagnosticBag,
  ) {}

  /** Lowers a named mask (cached, with reference cycles reported). */
  named(name: string, at: Span): Policy | undefined {
    if (this.cache.has(name)) return this.cache.get(name);
    if (this.active.includes(name)) {
      const cycle = [...this.active.slice(this.active.indexOf(name)), name].join(' → ');
      this.bag.error('E407', at, `mask '${name}' refers to itself: ${cycle}`, 'a mask cannot be defined in terms of itself');
      return undefined;
    }
    const expr = this.scope.mask(name);
    if (!expr) return undefined;
    // Named masks are lowered recursively through their references; a longer chain is an error, not a crash.
    if (this.active.length >= MAX_MASK_REFERENCE_DEPTH) {
      this.bag.error('E411', at, `mask '${name}' is reached through a chain of more than ${MAX_MASK_REFERENCE_DEPTH} masks defined by each other (limit ${MAX_MASK_REFERENCE_DEPTH})`, 'define masks from built-ins or from fewer other masks');
      this.cache.set(name, undefined);
      return undefined;
    }
    this.active.push(name);
    let policy = this.policy(expr);
    this.active.pop();
    // References inline the masks they name, so a few lines can describe an enormous mask (each one using the
    // previous twice doubles it). Past these bounds it is an error, before anything walks the whole of it.
    const size = policy && policySize(policy);
    if (size && (size.nodes > MAX_POLICY_NODES || size.depth > MAX_POLICY_DEPTH)) {
      const what = size.nodes > MAX_POLICY_NODES ? `${size.nodes} parts (limit ${MAX_POLICY_NODES})` : `${size.depth} levels deep (limit ${MAX_POLICY_DEPTH})`;
      this.bag.error('E412', this.scope.maskSpan?.(name) ?? at, `mask '${name}' is ${what} once the masks it refers to are written out`, 'build it from fewer masks, or from built-ins directly');
      policy = undefined;
    }
    this.cache.set(name, policy);
    return policy;
  }

  /** Lowers an expression that must be a mask. */
  policy(e: Expr): Policy | undefined {
    const r = this.lower(e);
    if (!r) return undefined;
    if (r.type !== 'mask') {
      this.bag.error('E404', e.span, 'expected a mask but this is a number', 'compare it, e.g. `k <= q + 2`, to make a mask');
      return undefined;
    }
    return simplify(r.policy);
  }

  /**
   * How deep lowering is, counting through the masks being referred to: each mask's own nesting is bounded by the
   * parser, but a chain of references adds them up, and lowering recurses through all of it.
   */
  private depth = 0;
  private depthReported = false;

  private lower(e: Expr): Lowered | undefined {
    if (this.depth === 0) this.depthReported = false;
    if (this.depth >= MAX_LOWERING_DEPTH) {
      if (!this.depthReported) {
        const via = this.active.length > 1 ? ` through masks ${this.active.map((n) => `'${n}'`).join(' → ')}` : '';
        this.bag.error('E412', e.span, `this mask nests more than ${MAX_LOWERING_DEPTH} levels deep${via} (limit ${MAX_LOWERING_DEPTH})`, 'build it from fewer masks, or with less nesting');
        this.depthReported = true;
      }
      return undefined;
    }
    this.depth++;
    try {
      return this.lowerNode(e);
    } finally {
      this.depth--;
    }
  }

  private lowerNode(e: Expr): Lowered | undefined {
    switch (e.kind) {
      case 'paren':
        return this.lower(e.inner);
      case 'number':
        if (!isWholeLiteral(e)) {
          this.bag.error('E409', e.span, `mask arithmetic is on whole numbers, found ${e.text}`);
          return undefined;
        }
        if (!fitsI32(e.value)) {
          this.bag.error('E409', e.span, `${e.text} does not fit mask arithmetic (32-bit integers, up to ${I32_MAX})`);
          return undefined;
        }
        return { type: 'int', expr: C(e.value), reads: [] };
      case 'ref':
        return this.ref(e.name, e.span);
      case 'index':
        return this.index(e);
      case 'call':
        if (['min', 'max', 'abs'].includes(e.callee.text) && !BUILTIN_NAMES.has(e.callee.text)) return this.arith(e);
        return this.builtin(e.callee.text, e, e.span);
      case 'unary': {
        const x = this.lower(e.operand);
        if (!x) return undefined;
        if (e.op === '!') {
          if (x.type !== 'mask') return this.typeError(e.operand.span, 'mask', '!');
          return { type: 'mask', policy: { kind: 'not', part: x.policy } };
        }
        if (x.type !== 'int') return this.typeError(e.operand.span, 'int', '-');
        return { type: 'int', expr: bin('-', C(0), x.expr), reads: x.reads };
      }
      case 'binary':
        return this.binary(e);
    }
  }

  private ref(name: string, span: Span): Lowered | undefined {
    if (name === 'b' || name === 'h' || name === 'q' || name === 'k') return { type: 'int', expr: V(name), reads: [] };
    if (name === 'Lq' || name === 'Lk') return { type: 'int', expr: P(name), reads: [] };
    if (this.scope.mask(name)) {
      const policy = this.named(name, span);
      return policy ? { type: 'mask', policy } : undefined;
    }
    const dim = this.scope.dim(name);
    if (dim) return { type: 'int', expr: dim.concrete !== undefined ? C(dim.concrete) : P(name), reads: [] };
    if (BUILTIN_NAMES.has(name)) return this.builtin(name, undefined, span);
    const kind = this.scope.kindOf(name);
    if (kind === 'input') {
      this.bag.error('E405', span, `input '${name}' must be read at a position: ${name}[q], ${name}[k] or ${name}[b]`, `or use a policy such as key_padding(${name})`);
    } else if (kind) {
      this.bag.error('E203', span, `'${name}' is a ${kind}, not a mask or a number`);
    } else {
      this.bag.error('E401', span, `unknown mask or name '${name}'`, `built-in masks: ${[...BUILTIN_NAMES].join(', ')}`);
    }
    return undefined;
  }

  private index(e: Extract<Expr, { kind: 'index' }>): Lowered | undefined {
    const name = e.target.text;
    const input = this.scope.input(name);
    if (!input) {
      this.bag.error(this.scope.kindOf(name) ? 'E203' : 'E202', e.target.span, this.scope.kindOf(name) ? `'${name}' is a ${this.scope.kindOf(name)}, not an input` : `unknown input '${name}'`);
      return undefined;
    }
    const idx = e.indices[0];
    const at = e.indices.length === 1 && idx.kind === 'ref' && ['b', 'q', 'k'].includes(idx.name) ? (idx.name as LoadAt) : undefined;
    if (!at) {
      this.bag.error('E405', e.span, `inputs are read as ${name}[q], ${name}[k] or ${name}[b]`, 'index by the bare query, key or batch index');
      return undefined;
    }
    if (input.kind === 'features') {
      this.bag.error('E406', e.target.span, `'${name}' holds real-valued features; masks read integer inputs (tokens, lengths, segments)`);
      return undefined;
    }
    const perSequence = input.kind === 'lengths';
    if (perSequence !== (at === 'b')) {
      this.bag.error('E405', e.span, perSequence ? `'${name}' holds one value per sequence: read it as ${name}[b]` : `'${name}' holds a value per position: read it as ${name}[q] or ${name}[k]`);
      return undefined;
    }
    const reads: PendingRead[] = [{ input: name, at, along: at === 'b' ? undefined : at, axisDim: input.axis, span: e.span }];
    return { type: 'int', expr: { kind: 'load', input: name, at }, reads };
  }

  private arith(e: Extract<Expr, { kind: 'call' }>): Lowered | undefined {
    const name = e.callee.text;
    const want = name === 'abs' ? 1 : 2;
    if (e.args.length !== want || e.args.some((a) => a.name)) {
      this.bag.error('E402', e.span, `${name} takes ${want} unnamed argument${want > 1 ? 's' : ''}`);
      return undefined;
    }
    const args = e.args.map((a) => this.lower(a.value));
    if (args.some((a) => !a)) return undefined;
    for (let i = 0; i < args.length; i++) if (args[i]!.type !== 'int') return this.typeError(e.args[i].value.span, 'int', name);
    const ints = args as Extract<Lowered, { type: 'int' }>[];
    const reads = ints.flatMap((a) => a.reads);
    if (name === 'abs') return { type: 'int', expr: { kind: 'abs', a: ints[0].expr }, reads };
    return { type: 'int', expr: bin(name as 'min' | 'max', ints[0].expr, ints[1].expr), reads };
  }

  private builtin(name: string, call: Extract<Expr, { kind: 'call' }> | undefined, span: Span): Lowered | undefined {
    if (!BUILTIN_NAMES.has(name)) {
      const kind = this.scope.kindOf(name);
      this.bag.error('E401', call?.callee.span ?? span, kind ? `'${name}' is a ${kind}, not a mask policy` : `unknown mask policy '${name}'`, `built-in masks: ${[...BUILTIN_NAMES].join(', ')}`);
      return undefined;
    }
    const policy = builtinPolicy(name, call?.args ?? [], span, this);
    return policy ? { type: 'mask', policy } : undefined;
  }

  private binary(e: Extract<Expr, { kind: 'binary' }>): Lowered | undefined {
    if ((e.op === '&' || e.op === '|') && e.left.kind === 'binary' && e.left.op === e.op) return this.chain(e, e.op);
    const l = this.lower(e.left);
    const r = this.lower(e.right);
    // Each side is type-checked on its own, so a mistake on the right is reported even when the left had one.
    const want = e.op === '&' || e.op === '|' ? 'mask' : 'int';
    const badLeft = l && l.type !== want;
    const badRight = r && r.type !== want;
    if (badLeft && badRight) this.typeError(e.span, want, e.op, true);
    else if (badLeft) this.typeError(e.left.span, want, e.op);
    else if (badRight) this.typeError(e.right.span, want, e.op);
    if (!l || !r || badLeft || badRight) return undefined;
    if (l.type === 'mask' && r.type === 'mask') return { type: 'mask', policy: { kind: e.op === '&' ? 'and' : 'or', parts: [l.policy, r.policy] } };
    if (l.type !== 'int' || r.type !== 'int') return undefined;
    const reads = [...l.reads, ...r.reads];
    if (['==', '!=', '<', '<=', '>', '>='].includes(e.op)) {
      const pred = cmp(e.op as '<', l.expr, r.expr) as Extract<BoolExpr, { kind: 'cmp' }>;
      return { type: 'mask', policy: { kind: 'raw', pred, reads: settleReads(reads, pred) } };
    }
    return { type: 'int', expr: bin(e.op as '+', l.expr, r.expr), reads };
  }

  /**
   * `a | b | c | …` parses as a left-leaning tree as deep as the chain is long; it is read here as one n-ary
   * composition, walking the left spine in a loop, so a chain of any length lowers without recursing per term.
   * Each operand that is not a mask is reported on its own.
   */
  private chain(e: Extract<Expr, { kind: 'binary' }>, op: '&' | '|'): Lowered | undefined {
    const operands: Expr[] = [];
    let at: Expr = e;
    while (at.kind === 'binary' && at.op === op) {
      operands.push(at.right);
      at = at.left;
    }
    operands.push(at);
    operands.reverse();
    const parts: Policy[] = [];
    let failed = false;
    for (const operand of operands) {
      const x = this.lower(operand);
      if (!x) failed = true;
      else if (x.type !== 'mask') failed = this.typeError(operand.span, 'mask', op) === undefined;
      else parts.push(x.policy);
    }
    return failed ? undefined : { type: 'mask', policy: { kind: op === '&' ? 'and' : 'or', parts } };
  }

  private typeError(span: Span, want: 'mask' | 'int', op: string, both = false): undefined {
    const what = both ? 'both sides are' : 'this is';
    if (want === 'mask') this.bag.error('E404', span, `'${op}' combines masks, but ${what} ${both ? 'numbers' : 'a number'}`, 'turn a number into a mask with a comparison, e.g. `k <= q`');
    else this.bag.error('E404', span, `'${op}' works on numbers, but ${what} ${both ? 'masks' : 'a mask'}`, 'masks combine with & | ! only');
    return undefined;
  }
}

/**
 * `k < lens[b]` compares a per-sequence value with key positions, so `lens` is read along the key axis; when a
 * comparison involves both q and k (or neither) no axis is claimed for its per-sequence reads.
 */
function settleReads(reads: PendingRead[], pred: Extract<BoolExpr, { kind: 'cmp' }>): DataRead[] {
  const vars = new Set<string>();
  const scan = (x: IntExpr): void => {
    if (x.kind === 'var') vars.add(x.name);
    else if (x.kind === 'bin') (scan(x.a), scan(x.b));
    else if (x.kind === 'abs') scan(x.a);
    else if (x.kind === 'load' && x.at !== 'b') vars.add(x.at);
  };
  scan(pred.a);
  scan(pred.b);
  const only = vars.has('q') !== vars.has('k') ? (vars.has('q') ? 'q' : 'k') : undefined;
  const out: DataRead[] = [];
  for (const r of reads) {
    const along = r.along ?? only;
    if (along) out.push({ ...r, along });
  }
  return out;
}

// Re-exported for builtins.ts, which builds predicates with the same helpers.
export { and, or, not, ALL };
