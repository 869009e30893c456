// The built-in mask policies and what each one means as a predicate. The user guide (specs/README.md) states the
// same definitions in prose and pictures; the golden mask tests pin them against independent formulas.

import type { Arg, Expr, Span } from '../lang/ast.ts';
import { foldBool } from './fold.ts';
import type { MaskLowering } from './lower.ts';
import { lowerParam, type ParamValue } from './params.ts';
import type { SizeParam } from './sizes.ts';
import { ALL, type DataRead, type Policy } from './policy.ts';
import { and, bin, cmp, or, C, P, V, type BoolExpr } from './predicate.ts';
import { printInt } from './print-predicate.ts';

export const BUILTIN_NAMES = new Set([
  'none', 'full', 'causal', 'diagonal', 'steps', 'window', 'band', 'dilated', 'prefix', 'chunked', 'sink',
  'key_padding', 'query_padding', 'document', 'random', 'monotonic',
]);

const q = V('q');
const k = V('k');

/** Positional and named parameters of each built-in, in order; `?` marks optional ones. */
const SIGNATURES: Record<string, string[]> = {
  none: [], full: [], diagonal: [],
  causal: ['align?', 'offset?'],
  steps: ['n'], window: ['size'], band: ['left', 'right'], dilated: ['size', 'step'],
  prefix: ['length'], chunked: ['size'], sink: ['count'],
  key_padding: ['input'], query_padding: ['input'], document: ['segments'],
  random: ['rate', 'seed'], monotonic: ['ratio', 'left', 'right'],
};

export function builtinPolicy(name: string, args: Arg[], span: Span, lw: MaskLowering): Policy | undefined {
  const params = bindArgs(name, args, span, lw);
  if (!params) return undefined;
  // Parameters read from symbolic dims are range-checked when the dims are known (sizes.ts); `policy` is filled in
  // with the built-in's printed form once it is known.
  const sizes: SizeParam[] = [];
  // Predicates are folded as they are built, so `monotonic(1, 0, 2)` reads `q - 0` as `q`.
  const builtin = (text: string, pred: BoolExpr, reads: DataRead[] = []): Policy => {
    const p: Policy = { kind: 'builtin', name, text, pred: foldBool(pred), reads };
    if (sizes.length) p.sizes = sizes.map((s) => ({ ...s, policy: text }));
    return p;
  };
  const later = (key: string, min: number, v: ParamValue | undefined) => {
    if (v && v.value === undefined && min > -Infinity) sizes.push({ policy: name, key, expr: v.expr, text: v.text, min });
    return v;
  };
  const int = (key: string, min: number) => later(key, min, intParam(name, key, params[key], min, lw));
  switch (name) {
    case 'none':
    case 'full':
      return ALL;
    case 'diagonal':
      return builtin('diagonal', cmp('==', q, k));
    case 'causal': {
      const align = params.align;
      if (params.offset && align) {
        lw.bag.error('E402', span, 'causal takes align or offset, not both');
        return undefined;
      }
      if (params.offset) {
        const off = int('offset', -Infinity);
        return off && builtin(`causal(offset = ${off.text})`, cmp('<=', k, bin('+', q, off.expr)));
      }
      if (align) {
        const word = align.value.kind === 'ref' ? align.value.name : '';
        if (word === 'top_left') return builtin('causal', cmp('<=', k, q));
        if (word !== 'bottom_right') {
          lw.bag.error('E403', align.value.span, 'align is top_left or bottom_right');
          return undefined;
        }
        return builtin('causal(align = bottom_right)', cmp('<=', k, bin('+', q, bin('-', P('Lk'), P('Lq')))));
      }
      return builtin('causal', cmp('<=', k, q));
    }
    case 'steps': {
      const n = int('n', 1);
      return n && builtin(`steps(${n.text})`, cmp('<=', bin('/', k, n.expr), bin('/', q, n.expr)));
    }
    case 'window': {
      const w = int('size', 1);
      return w && builtin(`window(${w.text})`, and(cmp('<=', k, q), cmp('<', bin('-', q, w.expr), k)));
    }
    case 'band': {
      const l = int('left', 0);
      const r = int('right', 0);
      return l && r && builtin(`band(${l.text}, ${r.text})`, and(cmp('<=', bin('-', q, l.expr), k), cmp('<=', k, bin('+', q, r.expr))));
    }
    case 'dilated': {
      const w = int('size', 1);
      const d = int('step', 1);
      if (!w || !d) return undefined;
      const inWindow = and(cmp('<=', k, q), cmp('<', bin('-', q, w.expr), k));
      return builtin(`dilated(${w.text}, ${d.text})`, and(inWindow, cmp('==', bin('%', bin('-', q, k), d.expr), C(0))));
    }
    case 'chunked': {
      const c = int('size', 1);
      return c && builtin(`chunked(${c.text})`, cmp('==', bin('/', q, c.expr), bin('/', k, c.expr)));
    }
    case 'sink': {
      const n = int('count', 1);
      return n && builtin(`sink(${n.text})`, cmp('<', k, n.expr));
    }
    case 'prefix': {
      const a = params.length;
      const input = a.value.kind === 'ref' ? lw.scope.input(a.value.name) : undefined;
      if (input) {
        if (input.kind !== 'lengths') return wrongKind(lw, a, 'prefix', 'a lengths input (per-sequence prefix lengths) or a number');
        const name = (a.value as { name: string }).name;
        const read: DataRead = { input: name, at: 'b', along: 'k', axisDim: input.axis, span: a.value.span };
        return builtin(`prefix(${name})`, or(cmp('<', k, { kind: 'load', input: name, at: 'b' }), cmp('<=', k, q)), [read]);
      }
      const n = int('length', 1);
      return n && builtin(`prefix(${n.text})`, or(cmp('<', k, n.expr), cmp('<=', k, q)));
    }
    case 'key_padding':
    case 'query_padding': {
      const along = name === 'key_padding' ? 'k' : 'q';
      return padding(name, along, params.input, lw, builtin);
    }
    case 'document': {
      const a = params.segments;
      const input = a.value.kind === 'ref' ? lw.scope.input(a.value.name) : undefined;
      if (!input || input.kind !== 'segments') return wrongKind(lw, a, 'document', 'a segments input');
      const seg = (a.value as { name: string }).name;
      const reads: DataRead[] = [
        { input: seg, at: 'q', along: 'q', axisDim: input.axis, span: a.value.span },
        { input: seg, at: 'k', along: 'k', axisDim: input.axis, span: a.value.span },
      ];
      return builtin(`document(${seg})`, cmp('==', { kind: 'load', input: seg, at: 'q' }, { kind: 'load', input: seg, at: 'k' }), reads);
    }
    case 'random': {
      const rate = params.rate.value;
      if (rate.kind !== 'number' || !(rate.value >= 0 && rate.value <= 1)) {
        lw.bag.error('E408', rate.span, 'random takes the share of pairs to hide, a number from 0 to 1', 'for example random(0.25, 7)');
        return undefined;
      }
      const seed = int('seed', 0);
      if (!seed || seed.value === undefined) return undefined;
      return builtin(`random(${rate.text}, ${seed.text})`, { kind: 'random', rate: rate.value, seed: seed.value });
    }
    case 'monotonic': {
      // Step q is aligned with frame q · ratio. A ratio written as a fraction `a / b` (`S / T`, `Lk / Lq`) is taken
      // exactly: the centre is q · a / b, multiplied before the floor division, so no precision is lost to a
      // truncated ratio.
      const l = int('left', 0);
      const r = int('right', 0);
      const ratio = ratioParam(params.ratio.value, lw);
      if (ratio) (later('ratio', 1, ratio.num), ratio.den && later('ratio divisor', 1, ratio.den));
      if (!l || !r || !ratio) return undefined;
      const centre = ratio.den ? bin('/', bin('*', q, ratio.num.expr), ratio.den.expr) : bin('*', q, ratio.num.expr);
      return builtin(`monotonic(${ratio.text}, ${l.text}, ${r.text})`, and(cmp('<=', bin('-', centre, l.expr), k), cmp('<=', k, bin('+', centre, r.expr))));
    }
  }
  return undefined;
}

function padding(
  name: string,
  along: 'q' | 'k',
  a: Arg,
  lw: MaskLowering,
  builtin: (text: string, pred: BoolExpr, reads?: DataRead[]) => Policy,
): Policy | undefined {
  const input = a.value.kind === 'ref' ? lw.scope.input(a.value.name) : undefined;
  const x = (a.value as { name?: string }).name ?? '';
  const pos = V(along);
  if (input?.kind === 'lengths') {
    const read: DataRead = { input: x, at: 'b', along, axisDim: input.axis, span: a.value.span };
    return builtin(`${name}(${x})`, cmp('<', pos, { kind: 'load', input: x, at: 'b' }), [read]);
  }
  if (input?.kind === 'tokens') {
    if (input.pad === undefined) {
      lw.bag.error('E406', a.value.span, `tokens '${x}' declare no pad id, so padding cannot be told apart`, `add \`pad ID\` to the input`);
      return undefined;
    }
    const read: DataRead = { input: x, at: along, along, axisDim: input.axis, span: a.value.span };
    return builtin(`${name}(${x})`, cmp('!=', { kind: 'load', input: x, at: along }, C(input.pad)), [read]);
  }
  return wrongKind(lw, a, name, 'a tokens input with a pad id, or a lengths input');
}

function wrongKind(lw: MaskLowering, a: Arg, policy: string, want: string): undefined {
  const name = a.value.kind === 'ref' ? a.value.name : undefined;
  const input = name ? lw.scope.input(name) : undefined;
  const what = input ? `a ${input.kind} input` : name && lw.scope.kindOf(name) ? `a ${lw.scope.kindOf(name)}` : name ? 'unknown' : 'not a name';
  lw.bag.error(input || (name && lw.scope.kindOf(name)) ? 'E406' : 'E202', a.value.span, `${policy} takes ${want}; '${name ?? '…'}' is ${what}`);
  return undefined;
}

/** Matches call arguments to a built-in's signature: arity, names, duplicates. */
function bindArgs(name: string, args: Arg[], span: Span, lw: MaskLowering): Record<string, Arg> | undefined {
  const sig = SIGNATURES[name];
  const keys = sig.map((s) => s.replace('?', ''));
  const out: Record<string, Arg> = {};
  let pos = 0;
  let ok = true;
  for (const a of args) {
    const key = a.name ? a.name.text : keys[pos++];
    if (!key || !keys.includes(key)) {
      lw.bag.error('E402', (a.name ?? a.value).span, a.name ? `${name} has no parameter '${key}'` : `${name} takes ${sig.length === 0 ? 'no arguments' : `at most ${keys.length}: ${keys.join(', ')}`}`, usage(name));
      ok = false;
    } else if (out[key]) {
      lw.bag.error('E402', a.span, `${name}: '${key}' is given twice`);
      ok = false;
    } else {
      out[key] = a;
    }
  }
  const missing = sig.filter((s) => !s.endsWith('?') && !out[s]);
  if (missing.length) {
    lw.bag.error('E402', span, `${name} needs ${missing.join(' and ')}`, usage(name));
    ok = false;
  }
  return ok ? out : undefined;
}

function usage(name: string): string {
  const sig = SIGNATURES[name];
  return sig.length ? `write ${name}(${sig.map((s) => (s.endsWith('?') ? `${s.slice(0, -1)} = …` : s)).join(', ')})` : `write ${name} with no arguments`;
}

/** An integer parameter (see params.ts): a literal, a dim, or arithmetic on dims. */
function intParam(policy: string, key: string, a: Arg | undefined, min: number, lw: MaskLowering): ParamValue | undefined {
  return a && lowerParam(a.value, policy, key, min, lw.scope, lw.bag);
}

/** monotonic's ratio: a positive whole number, or a positive fraction `num / den` kept exact. */
function ratioParam(e: Expr, lw: MaskLowering): { num: ParamValue; den?: ParamValue; text: string } | undefined {
  let inner = e;
  while (inner.kind === 'paren') inner = inner.inner;
  if (inner.kind === 'binary' && inner.op === '/') {
    const num = lowerParam(inner.left, 'monotonic', 'ratio', 1, lw.scope, lw.bag);
    const den = lowerParam(inner.right, 'monotonic', 'ratio', 1, lw.scope, lw.bag);
    if (!num || !den) return undefined;
    return { num, den, text: printInt(bin('/', num.named, den.named)) };
  }
  const num = lowerParam(e, 'monotonic', 'ratio', 1, lw.scope, lw.bag);
  return num && { num, text: num.text };
}
