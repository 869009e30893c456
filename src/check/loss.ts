// The loss a model is trained on: `loss NAME = cross_entropy(OUTPUT, labels = LABELS [, count = PREDICATE])`.
//
// Labels are a tokens input read at the output's positions: the target before `shift_right` for an
// encoder-decoder (it ends with eos, which the decoder must learn to emit), or `next(ids)` for a decoder-only model
// (position q is trained on ids[q + 1]; `next(ids, within = docs)` stops at document boundaries). A position whose
// label is the labels' pad id never counts — that is the `* mask` of a hand-written training loop — and `count`
// narrows the counted positions further with a predicate over `b` and `q` in the mask language
// (`count = q >= prompt[b]` trains only on answers after a prompt). The reduction is the mean over counted positions.

import type { Arg, Expr, LossDecl, Model } from '../lang/ast.ts';
import { MaskLowering } from '../masks/lower.ts';
import { dataReads, toPredicate, type Policy } from '../masks/policy.ts';
import type { BoolExpr, IntExpr } from '../masks/predicate.ts';
import type { DiagnosticBag } from '../lang/diagnostics.ts';
import { maskScope } from './masks.ts';
import type { CheckedModel, InputInfo, LossInfo } from './model.ts';
import { suggest, type Declaration } from './scope.ts';

const FORM = 'cross_entropy(logits, labels = tgt) or cross_entropy(logits, labels = next(ids))';

export function checkLoss(ast: Model, m: CheckedModel, names: Map<string, Declaration>, bag: DiagnosticBag): void {
  const decls = ast.items.filter((i): i is LossDecl => i.kind === 'loss' && names.get(i.name.text)?.name === i.name);
  for (const [i, decl] of decls.entries()) {
    if (i > 0) {
      bag.error('E608', decl.name.span, `a model trains on one loss, and '${decls[0].name.text}' is declared at line ${decls[0].name.span.line}`, 'remove one of them');
      continue;
    }
    const info = checkOne(decl, m, names, bag);
    if (info) m.loss = info;
  }
}

function checkOne(decl: LossDecl, m: CheckedModel, names: Map<string, Declaration>, bag: DiagnosticBag): LossInfo | undefined {
  const call = decl.value;
  if (call.callee.text !== 'cross_entropy') {
    bag.error('E601', call.callee.text ? call.callee.span : call.span, call.callee.text ? `unknown loss '${call.callee.text}'` : 'a loss is a call', `write ${FORM}`);
    return undefined;
  }
  for (const a of call.args) {
    if (a.name && !['labels', 'count'].includes(a.name.text)) bag.error('E607', a.name.span, `cross_entropy has no argument '${a.name.text}'`, 'its arguments: the output, labels = …, count = …');
  }
  const [outArg] = call.args.filter((a) => !a.name);
  const outName = outArg?.value.kind === 'ref' ? outArg.value.name : undefined;
  if (!outArg || !outName || names.get(outName)?.kind !== 'output') {
    const at = outArg?.value.span ?? call.span;
    const what = outName ? `'${outName}' is not an output` : 'cross_entropy needs the output it scores';
    bag.error('E602', at, what, outName && !names.has(outName) ? suggest(outName, names, 'output') : `the first argument names the model's output, as in ${FORM}`);
    return undefined;
  }
  const out = m.output;
  if (!out || out.name !== outName) return undefined; // the output's own errors are reported with it
  const stack = m.stacks.find((s) => s.name === out.from);
  const labelsArg = call.args.find((a) => a.name?.text === 'labels');
  if (!labelsArg) {
    bag.error('E603', call.span, 'cross_entropy needs labels', `say what each position is trained to predict: ${FORM}`);
    return undefined;
  }
  const labels = readLabels(labelsArg, m, names, bag);
  if (!labels || !stack) return undefined;
  const { input, next, within } = labels;
  if (input.axis !== stack.axis) {
    bag.error('E604', labelsArg.value.span, `'${input.name}' runs along ${input.axis}, but the output '${out.name}' runs along ${stack.axis}`, `label the positions of '${stack.source}': use a tokens input along ${stack.axis}`);
    return undefined;
  }
  if (within && within.axis !== stack.axis) {
    bag.error('E604', labelsArg.value.span, `'${within.name}' runs along ${within.axis}, but the output '${out.name}' runs along ${stack.axis}`);
    return undefined;
  }
  for (const [what, id] of [['pad', input.pad], ['bos', input.bos], ['eos', input.eos]] as const) {
    if (id !== undefined && (id < 0 || id >= out.vocab)) {
      bag.error('E605', labelsArg.value.span, `the labels' ${what} id ${id} is outside the output vocabulary (0..${out.vocab - 1})`, `labels are classes of the output: keep every id below ${out.vocab}`);
      return undefined;
    }
  }
  const countArg = call.args.find((a) => a.name?.text === 'count');
  const count = countArg ? checkCount(countArg.value, m, names, stack.axis, bag) : undefined;
  if (countArg && !count) return undefined;
  return { name: decl.name.text, output: out.name, labels: input.name, next, within: within?.name, pad: input.pad, count, span: decl.name.span };
}

function readLabels(a: Arg, m: CheckedModel, names: Map<string, Declaration>, bag: DiagnosticBag): { input: InputInfo; next: boolean; within?: InputInfo } | undefined {
  let e: Expr = a.value;
  while (e.kind === 'paren') e = e.inner;
  let next = false;
  let within: InputInfo | undefined;
  if (e.kind === 'call') {
    if (e.callee.text !== 'next') {
      bag.error('E603', e.callee.span, `labels are a tokens input or next(INPUT), not '${e.callee.text}(…)'`, `write ${FORM}`);
      return undefined;
    }
    next = true;
    const w = e.args.find((x) => x.name?.text === 'within');
    for (const x of e.args) if (x.name && x.name.text !== 'within') bag.error('E607', x.name.span, `next has no argument '${x.name.text}'`, 'next(ids) or next(ids, within = docs)');
    if (w) {
      const seg = w.value.kind === 'ref' ? m.inputs.get(w.value.name) : undefined;
      if (!seg || seg.kind !== 'segments') {
        bag.error('E607', w.value.span, 'within takes a segments input: labels stop at its document boundaries', 'declare `input docs: segments[B, T]` and write next(ids, within = docs)');
        return undefined;
      }
      within = seg;
    }
    const [x] = e.args.filter((y) => !y.name);
    if (!x) {
      bag.error('E603', e.span, 'next needs the tokens input whose next token is the label', 'write next(ids)');
      return undefined;
    }
    e = x.value;
  }
  const name = e.kind === 'ref' ? e.name : undefined;
  const input = name ? m.inputs.get(name) : undefined;
  if (!name || !input) {
    const hint = name && !names.has(name) ? suggest(name, names, 'input') : undefined;
    bag.error('E603', e.span, name ? `'${name}' is not a tokens input` : 'labels name a tokens input', hint ?? `write ${FORM}`);
    return undefined;
  }
  if (input.shiftedFrom) {
    bag.error('E603', e.span, `'${name}' is the decoder input, shifted right; labels are the target as it is before shift_right`, `use labels = ${input.shiftedFrom}: position q is trained to predict ${input.shiftedFrom}[q], ending with its eos`);
    return undefined;
  }
  if (input.kind !== 'tokens') {
    bag.error('E603', e.span, `'${name}' holds ${input.kind}, not token ids`, 'labels name a tokens input');
    return undefined;
  }
  return { input, next, within };
}

/** `count = PREDICATE`: a mask-language predicate over `b` and `q` (the label position); it has no key or head. */
function checkCount(e: Expr, m: CheckedModel, names: Map<string, Declaration>, axis: string, bag: DiagnosticBag): Policy | undefined {
  const errorsBefore = bag.items.length;
  const policy = new MaskLowering(maskScope(m, names), bag).policy(e);
  if (!policy || bag.items.length > errorsBefore) return undefined;
  const bad = readsKeyOrHead(toPredicate(policy));
  if (bad) {
    bag.error('E606', e.span, `count reads ${bad === 'k' ? 'the key index k' : bad === 'h' ? 'the head index h' : 'random(…), which draws per key and head'}, but a label position has only b and q`, 'count positions with q and per-sequence data, e.g. `count = q >= prompt[b]`');
    return undefined;
  }
  for (const r of dataReads(policy)) {
    const input = m.inputs.get(r.input);
    if (input?.axis && input.axis !== axis) {
      bag.error('E604', r.span, `'${r.input}' runs along ${input.axis}, but the labels run along ${axis}`, `count with data along ${axis}`);
      return undefined;
    }
  }
  return policy;
}

function readsKeyOrHead(p: BoolExpr): 'k' | 'h' | 'random' | undefined {
  const int = (x: IntExpr): 'k' | 'h' | undefined => {
    if (x.kind === 'var') return x.name === 'k' || x.name === 'h' ? x.name : undefined;
    if (x.kind === 'load') return x.at === 'k' ? 'k' : undefined;
    if (x.kind === 'bin') return int(x.a) ?? int(x.b);
    if (x.kind === 'abs') return int(x.a);
    return undefined;
  };
  switch (p.kind) {
    case 'random':
      return 'random';
    case 'cmp':
      return int(p.a) ?? int(p.b);
    case 'not':
      return readsKeyOrHead(p.a);
    case 'and':
    case 'or':
      for (const a of p.args) {
        const r = readsKeyOrHead(a);
        if (r) return r;
      }
      return undefined;
    default:
      return undefined;
  }
}
