// Names and dims: the first two steps of checking.
//
// Every top-level name (dim, input, decoder input, mask, score, stack, output, loss) lives in one namespace, so a mask
// cannot silently shadow a dim. Dims are then evaluated in dependency order, with cycles reported once, at the dim
// that closes them.

import type { DimDef, Expr, Model, Name, Span } from '../lang/ast.ts';
import type { DiagnosticBag } from '../lang/diagnostics.ts';
import type { DimInfo } from './model.ts';
import { sym, type Poly } from './sym.ts';

export type Declared = 'dim' | 'input' | 'decoder input' | 'mask' | 'score' | 'stack' | 'output' | 'loss';

export interface Declaration {
  kind: Declared;
  name: Name;
}

/** Index variables of mask predicates: not available as other names, so `q` always means the query position. */
const INDEX_NAMES = new Set(['b', 'h', 'q', 'k']);

/** Collects every top-level name, reporting duplicates (E201) and reserved index names (E206). */
export function collectNames(model: Model, bag: DiagnosticBag): Map<string, Declaration> {
  const table = new Map<string, Declaration>();
  const declare = (kind: Declared, name: Name) => {
    const prev = table.get(name.text);
    if (prev) {
      bag.error('E201', name.span, `'${name.text}' is already declared as a ${prev.kind} at line ${prev.name.span.line}`, 'give each dim, input, mask, score and stack its own name');
      return;
    }
    if (INDEX_NAMES.has(name.text)) {
      bag.error('E206', name.span, `'${name.text}' is reserved for the ${indexRole(name.text)} index of mask predicates`, 'choose another name');
      return;
    }
    table.set(name.text, { kind, name });
  };
  for (const item of model.items) {
    switch (item.kind) {
      case 'dim':
        for (const d of item.dims) declare('dim', d.name);
        break;
      case 'input':
        declare('input', item.name);
        break;
      case 'decoder_input':
        declare('decoder input', item.name);
        break;
      case 'mask':
        declare('mask', item.name);
        break;
      case 'score':
        declare('score', item.name);
        break;
      case 'stack':
        declare('stack', item.name);
        break;
      case 'output':
        declare('output', item.name);
        break;
      case 'loss':
        declare('loss', item.name);
        break;
      case 'embed':
        break;
    }
  }
  return table;
}

function indexRole(n: string): string {
  return ({ b: 'batch', h: 'head', q: 'query', k: 'key' } as Record<string, string>)[n] ?? n;
}

/** How deep dims (and masks, in src/masks/lower.ts) may be defined through one another. */
export const MAX_REFERENCE_DEPTH = 100;

/** Expression levels evaluated at once along a chain of dims (each level is a stack frame or two). */
const MAX_DIM_LEVELS = 2000;

/** How many levels an expression nests (bounded by the parser's limits, so this recursion is safe). */
function exprLevels(e: Expr | undefined): number {
  if (!e) return 0;
  switch (e.kind) {
    case 'paren':
      return 1 + exprLevels(e.inner);
    case 'unary':
      return 1 + exprLevels(e.operand);
    case 'binary':
      return 1 + Math.max(exprLevels(e.left), exprLevels(e.right));
    case 'call':
      return 1 + Math.max(0, ...e.args.map((a) => exprLevels(a.value)));
    case 'index':
      return 1 + Math.max(0, ...e.indices.map(exprLevels));
    default:
      return 1;
  }
}

/** Evaluates every `dim` in dependency order. */
export function resolveDims(model: Model, names: Map<string, Declaration>, bag: DiagnosticBag): Map<string, DimInfo> {
  const defs = new Map<string, DimDef>();
  for (const item of model.items) if (item.kind === 'dim') for (const d of item.dims) if (!defs.has(d.name.text)) defs.set(d.name.text, d);

  const done = new Map<string, DimInfo>();
  const state = new Map<string, 'visiting' | 'failed'>();

  let depth = 0;
  let nesting = 0;
  const visit = (name: string): DimInfo | undefined => {
    const ready = done.get(name);
    if (ready) return ready;
    if (state.get(name) === 'failed') return undefined;
    const def = defs.get(name);
    if (!def) return undefined;
    if (state.get(name) === 'visiting') {
      bag.error('E204', def.name.span, `dim '${name}' is defined in terms of itself`, 'break the cycle: give one of these dims a number');
      state.set(name, 'failed');
      return undefined;
    }
    // Dims are evaluated recursively through their references; a chain longer than this is an error, not a crash.
    if (depth >= MAX_REFERENCE_DEPTH) {
      bag.error('E205', def.name.span, `dim '${name}' is reached through a chain of more than ${MAX_REFERENCE_DEPTH} dims defined by each other (limit ${MAX_REFERENCE_DEPTH})`, 'define dims from numbers or from fewer other dims');
      state.set(name, 'failed');
      return undefined;
    }
    // Evaluation also recurses through each expression, so the levels of the dims on the way are added up as well.
    const levels = exprLevels(def.value ?? def.bound);
    if (nesting + levels > MAX_DIM_LEVELS) {
      bag.error('E205', def.name.span, `dim '${name}' is reached through dims whose expressions nest more than ${MAX_DIM_LEVELS} levels deep in all (limit ${MAX_DIM_LEVELS})`, 'define dims from numbers or from fewer other dims');
      state.set(name, 'failed');
      return undefined;
    }
    state.set(name, 'visiting');
    depth++;
    nesting += levels;
    const info = evaluateDef(def, (ref) => visit(ref), names, bag);
    nesting -= levels;
    depth--;
    if (info) {
      done.set(name, info);
      state.delete(name);
    } else {
      state.set(name, 'failed');
    }
    return info;
  };
  for (const name of defs.keys()) visit(name);
  return done;
}

function evaluateDef(def: DimDef, lookup: (name: string) => DimInfo | undefined, names: Map<string, Declaration>, bag: DiagnosticBag): DimInfo | undefined {
  const name = def.name.text;
  if (def.value) {
    const value = dimExpr(def.value, lookup, names, bag);
    if (!value) return undefined;
    const concrete = sym.asConstant(value);
    if (concrete !== undefined && concrete <= 0) {
      bag.error('E309', def.value.span, `dim '${name}' must be a positive integer, got ${concrete}`, 'dims count things: use a value of at least 1');
      return undefined;
    }
    if (def.value.kind === 'binary' && def.value.op === '/' && concrete !== undefined) {
      const l = dimExpr(def.value.left, lookup, names, bag);
      const r = dimExpr(def.value.right, lookup, names, bag);
      const lc = l && sym.asConstant(l);
      const rc = r && sym.asConstant(r);
      if (lc !== undefined && rc !== undefined && rc !== 0 && lc % rc !== 0) {
        bag.error('E307', def.value.span, `dim '${name}' = ${lc} / ${rc} is not a whole number`, `choose values where ${rc} divides ${lc}`);
        return undefined;
      }
    }
    const kind = def.value.kind === 'number' ? 'concrete' : 'derived';
    return { name, kind, value, concrete, span: def.name.span };
  }
  let bound: number | undefined;
  if (def.bound) {
    const b = dimExpr(def.bound, lookup, names, bag);
    const bc = b && sym.asConstant(b);
    if (b && bc === undefined) {
      bag.error('E306', def.bound.span, `the bound of '${name}' must be known at compile time, but it is ${sym.print(b)}`, 'bound a symbolic dim by a number or a concrete dim');
    } else if (bc !== undefined && bc <= 0) {
      bag.error('E309', def.bound.span, `the bound of '${name}' must be positive, got ${bc}`);
    } else {
      bound = bc;
    }
  }
  return { name, kind: 'symbolic', value: sym.atom(name), bound, span: def.name.span };
}

/**
 * Evaluates a dim expression: integers, dim names and `+ - * / %`, `min`/`max` of concrete values. Reports unknown
 * names (E202), names of other kinds (E203) and non-integers (E309). Returns undefined after reporting.
 */
export function dimExpr(e: Expr, lookup: (name: string) => DimInfo | undefined, names: Map<string, Declaration>, bag: DiagnosticBag): Poly | undefined {
  switch (e.kind) {
    case 'number':
      if (!Number.isInteger(e.value)) {
        bag.error('E309', e.span, `expected a whole number, found ${e.text}`, 'dims and sizes are integers');
        return undefined;
      }
      return sym.constant(e.value);
    case 'paren':
      return dimExpr(e.inner, lookup, names, bag);
    case 'ref': {
      const decl = names.get(e.name);
      if (!decl) {
        bag.error('E202', e.span, `unknown dim '${e.name}'`, suggest(e.name, names, 'dim'));
        return undefined;
      }
      if (decl.kind !== 'dim') {
        bag.error('E203', e.span, `'${e.name}' is a ${decl.kind}, not a dim`, 'sizes are built from dims only');
        return undefined;
      }
      return lookup(e.name)?.value;
    }
    case 'unary': {
      if (e.op === '!') break;
      const v = dimExpr(e.operand, lookup, names, bag);
      return v && sym.mul(sym.constant(-1), v);
    }
    case 'binary': {
      if (!['+', '-', '*', '/', '%'].includes(e.op)) break;
      const l = dimExpr(e.left, lookup, names, bag);
      const r = dimExpr(e.right, lookup, names, bag);
      if (!l || !r) return undefined;
      if ((e.op === '/' || e.op === '%') && sym.asConstant(r) === 0) {
        bag.error('E309', e.right.span, 'division by zero in a dim expression');
        return undefined;
      }
      if (e.op === '+') return sym.add(l, r);
      if (e.op === '-') return sym.add(l, r, -1);
      if (e.op === '*') return sym.mul(l, r);
      if (e.op === '/') return sym.div(l, r);
      return sym.mod(l, r);
    }
    case 'call': {
      if (e.callee.text !== 'min' && e.callee.text !== 'max') break;
      const vals = e.args.map((a) => dimExpr(a.value, lookup, names, bag));
      if (vals.some((v) => !v)) return undefined;
      const consts = vals.map((v) => sym.asConstant(v as Poly));
      if (consts.length === 0 || consts.some((c) => c === undefined)) {
        bag.error('E306', e.span, `${e.callee.text}() of symbolic dims cannot be resolved at compile time`, 'use concrete values here');
        return undefined;
      }
      return sym.constant((e.callee.text === 'min' ? Math.min : Math.max)(...(consts as number[])));
    }
    default:
      break;
  }
  bag.error('E309', e.span, 'expected a size: a whole number, a dim, or arithmetic on them', 'for example `d_model / heads`');
  return undefined;
}

/** "did you mean …?" for a misspelt name, from the names of the wanted kind. */
export function suggest(name: string, names: Map<string, Declaration>, kind?: Declared): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const [n, d] of names) {
    if (kind && d.kind !== kind) continue;
    const dist = editDistance(name, n);
    if (dist < bestD) {
      bestD = dist;
      best = n;
    }
  }
  if (best && bestD <= Math.max(1, Math.floor(name.length / 3))) return `did you mean '${best}'?`;
  const kinds = kind ? `${kind}s` : 'names';
  const known = [...names.entries()].filter(([, d]) => !kind || d.kind === kind).map(([n]) => n);
  return known.length > 0 ? `known ${kinds}: ${known.slice(0, 8).join(', ')}` : `declare it first`;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0];
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j];
      dp[j] = Math.min(dp[j] + 1, dp[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length];
}

export type { Span };
