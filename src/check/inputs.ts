// Inputs and the decoder input.
//
// Each input declares what it holds and along which dim its positions run. That axis is what lets the checker catch
// the classic cross-attention mistake: padding of the *target* applied to keys that come from the *source*.

import type { DecoderInputDecl, Expr, InputDecl, Model } from '../lang/ast.ts';
import type { DiagnosticBag } from '../lang/diagnostics.ts';
import type { DimInfo, InputInfo } from './model.ts';
import { dimExpr, suggest, type Declaration } from './scope.ts';
import { sym, type Poly } from './sym.ts';

const KINDS = ['tokens', 'lengths', 'segments', 'features'] as const;
const ATTRS: Record<InputInfo['kind'], string[]> = {
  tokens: ['pad', 'bos', 'eos'],
  lengths: ['of'],
  segments: [],
  features: [],
};

export function checkInputs(model: Model, names: Map<string, Declaration>, dims: Map<string, DimInfo>, bag: DiagnosticBag): Map<string, InputInfo> {
  const inputs = new Map<string, InputInfo>();
  const lookup = (n: string) => dims.get(n);
  for (const item of model.items) {
    if (item.kind !== 'input' || names.get(item.name.text)?.name !== item.name) continue;
    const info = checkInput(item, names, lookup, bag);
    if (info) inputs.set(info.name, info);
  }
  // Lengths name their axis with `of`: a dim, or a tokens/segments input whose axis they count.
  for (const item of model.items) {
    if (item.kind !== 'input') continue;
    const info = inputs.get(item.name.text);
    if (!info || info.kind !== 'lengths') continue;
    const of = item.attrs.find((a) => a.key.text === 'of');
    if (!of) {
      bag.error('E308', item.span, `lengths '${info.name}' do not say which axis they count`, `add \`of T\` (a dim) or \`of src\` (an input)`);
      continue;
    }
    if (of.value.kind !== 'ref') {
      bag.error('E308', of.value.span, "`of` takes a dim or an input name");
      continue;
    }
    const target = names.get(of.value.name);
    if (target?.kind === 'dim') info.axis = of.value.name;
    else if (target && (target.kind === 'input' || target.kind === 'decoder input')) info.axis = inputs.get(of.value.name)?.axis;
    else bag.error('E202', of.value.span, `unknown dim or input '${of.value.name}'`, suggest(of.value.name, names));
  }
  for (const item of model.items) {
    if (item.kind !== 'decoder_input' || names.get(item.name.text)?.name !== item.name) continue;
    const info = checkDecoderInput(item, names, inputs, bag);
    if (info) inputs.set(info.name, info);
  }
  checkBatchDims(inputs, bag);
  return inputs;
}

function checkInput(item: InputDecl, names: Map<string, Declaration>, lookup: (n: string) => DimInfo | undefined, bag: DiagnosticBag): InputInfo | undefined {
  const kind = item.type.text as InputInfo['kind'];
  if (!KINDS.includes(kind)) {
    bag.error('E311', item.type.span, `unknown input type '${item.type.text}'`, `inputs are ${KINDS.join(', ')}`);
    return undefined;
  }
  const shape = item.shape.map((e) => dimExpr(e, lookup, names, bag));
  if (shape.some((s) => !s)) return undefined;
  const want = { tokens: 2, lengths: 1, segments: 2, features: 3 }[kind];
  if (shape.length !== want) {
    const example = { tokens: 'tokens[B, T]', lengths: 'lengths[B] of T', segments: 'segments[B, T]', features: 'features[B, F, d_in]' }[kind];
    bag.error('E308', item.span, `a ${kind} input has ${want} dim${want > 1 ? 's' : ''}, but '${item.name.text}' has ${shape.length}`, `write \`${example}\``);
    return undefined;
  }
  const info: InputInfo = { name: item.name.text, kind, shape: shape as Poly[], span: item.name.span };
  if (kind !== 'lengths') {
    const axisExpr = item.shape[1];
    const axis = axisName(axisExpr);
    if (!axis) {
      bag.error('E308', axisExpr.span, 'the position axis of an input must be a single dim name', 'declare `dim L2 = …` and use it here');
      return undefined;
    }
    info.axis = axis;
  }
  if (kind === 'features') info.width = shape[2] as Poly;
  for (const attr of item.attrs) {
    const key = attr.key.text;
    if (!ATTRS[kind].includes(key)) {
      const allowed = ATTRS[kind].length ? `a ${kind} input takes ${ATTRS[kind].join(', ')}` : `a ${kind} input takes no attributes`;
      bag.error('E312', attr.key.span, `unknown attribute '${key}' on ${kind} input '${info.name}'`, allowed);
      continue;
    }
    if (key === 'of') continue;
    const id = tokenId(attr.value, bag);
    if (id !== undefined) info[key as 'pad' | 'bos' | 'eos'] = id;
  }
  return info;
}

function checkDecoderInput(item: DecoderInputDecl, names: Map<string, Declaration>, inputs: Map<string, InputInfo>, bag: DiagnosticBag): InputInfo | undefined {
  const call = item.build;
  if (call.callee.text !== 'shift_right') {
    bag.error('E511', call.span, 'a decoder input is built with shift_right(TARGET, bos = ID)', 'for example `decoder_input dec_in = shift_right(tgt, bos = 1)`');
    return undefined;
  }
  const positional = call.args.filter((a) => !a.name);
  const target = positional[0]?.value;
  if (!target || target.kind !== 'ref' || positional.length !== 1) {
    bag.error('E511', call.span, 'shift_right takes one target input and named ids', 'for example `shift_right(tgt, bos = 1)`');
    return undefined;
  }
  const from = inputs.get(target.name);
  if (!from) {
    if (!names.has(target.name)) bag.error('E202', target.span, `unknown input '${target.name}'`, suggest(target.name, names, 'input'));
    else if (names.get(target.name)?.kind !== 'input') bag.error('E203', target.span, `'${target.name}' is a ${names.get(target.name)?.kind}, not a tokens input`);
    return undefined;
  }
  if (from.kind !== 'tokens') {
    bag.error('E203', target.span, `'${target.name}' is a ${from.kind} input; shift_right needs tokens`);
    return undefined;
  }
  const info: InputInfo = { ...from, name: item.name.text, shiftedFrom: from.name, span: item.name.span, bos: undefined, eos: undefined };
  for (const arg of call.args.filter((a) => a.name)) {
    const key = arg.name!.text;
    if (key !== 'bos' && key !== 'eos' && key !== 'pad') {
      bag.error('E312', arg.name!.span, `shift_right has no argument '${key}'`, 'it takes bos = ID, and optionally eos = ID (dropped from the input) and pad = ID');
      continue;
    }
    const id = tokenId(arg.value, bag);
    if (id !== undefined) info[key] = id;
  }
  if (info.bos === undefined) {
    bag.error('E507', call.span, 'shift_right needs the id of the start token', `add \`bos = ID\`: shift_right(${from.name}, bos = 1)`);
  }
  return info;
}

function tokenId(e: Expr, bag: DiagnosticBag): number | undefined {
  if (e.kind === 'number' && Number.isInteger(e.value)) return e.value;
  bag.error('E305', e.span, 'a token id must be a whole number', 'for example `pad 0`');
  return undefined;
}

function axisName(e: Expr): string | undefined {
  return e.kind === 'ref' ? e.name : undefined;
}

/** Every input is batched the same way: the first dim must agree. */
function checkBatchDims(inputs: Map<string, InputInfo>, bag: DiagnosticBag): void {
  let first: InputInfo | undefined;
  for (const info of inputs.values()) {
    if (info.shiftedFrom) continue;
    if (!first) {
      first = info;
      continue;
    }
    if (!sym.equal(first.shape[0], info.shape[0])) {
      bag.error('E313', info.span, `input '${info.name}' has batch dim ${sym.print(info.shape[0])}, but '${first.name}' has ${sym.print(first.shape[0])}`, 'all inputs share one batch dim');
    }
  }
}
