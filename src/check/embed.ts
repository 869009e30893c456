// The `embed` line: the token table (with its scale) and the position scheme (with its options).
//
//   embed tokens: learned(VOCAB, WIDTH, scale = S), positions: none | learned(MAX, offset = K)
//                 | sinusoidal(layout = interleaved | concatenated)
//                 | rotary(style = pairs | halves, theta = 10000, fraction = 1)
//
// Every option has the default mdl used before it existed, so a spec that does not name it keeps its meaning.

import type { EmbedDecl, Expr, Model, Option } from '../lang/ast.ts';
import type { DiagnosticBag } from '../lang/diagnostics.ts';
import type { CheckedModel, EmbedInfo, RotaryInfo } from './model.ts';
import { namedArgs, numberValue, wordValue, type DimLookup } from './option-values.ts';

export const DEFAULT_ROTARY: RotaryInfo = { style: 'pairs', theta: 10000, fraction: 1 };

type Concrete = (e: Expr, what: string) => number | undefined;

export function checkEmbed(model: Model, m: CheckedModel, bag: DiagnosticBag, concrete: Concrete): void {
  const decls = model.items.filter((i): i is EmbedDecl => i.kind === 'embed');
  for (const extra of decls.slice(1)) bag.error('E201', extra.span, 'the model already has an embedding', 'keep one `embed` line');
  const decl = decls[0];
  if (!decl) return;
  const tokens = opt(decl.fields, 'tokens');
  const positions = opt(decl.fields, 'positions');
  for (const f of decl.fields) {
    if (f.key.text !== 'tokens' && f.key.text !== 'positions') bag.error('E506', f.key.span, `unknown embedding field '${f.key.text}'`, 'embed takes tokens: learned(VOCAB, WIDTH) and positions: sinusoidal | rotary | learned(MAX) | none');
  }
  const t = tokens?.values[0];
  const positional = t?.kind === 'call' ? t.args.filter((a) => !a.name) : [];
  if (!t || t.kind !== 'call' || t.callee.text !== 'learned' || positional.length !== 2) {
    bag.error('E510', (tokens ?? decl).span, 'the token embedding must be learned(VOCAB, WIDTH)', 'for example `embed tokens: learned(vocab, d_model), positions: sinusoidal`');
    return;
  }
  const [va, wa] = positional;
  const vocab = concrete(va.value, 'the vocabulary size');
  const width = concrete(wa.value, 'the model width');
  if (vocab === undefined || width === undefined) return;
  const dims: DimLookup = (n) => m.dims.get(n);
  let scale = Math.sqrt(width);
  for (const o of namedArgs(t)) {
    if (o.key.text !== 'scale') bag.error('E506', o.key.span, `learned(…) has no argument '${o.key.text}'`, 'the token table takes scale = S (default sqrt(WIDTH))');
    else scale = numberValue(o.values[0], dims, bag, { code: 'E520', what: 'the embedding scale', hint: 'write a positive number, e.g. scale = 1 (GPT-2, Llama, T5) or scale = sqrt(d_model)', above: 0 }) ?? scale;
  }
  const info: EmbedInfo = { vocab, width, positions: 'none', scale, positionOffset: 0, sinusoidalLayout: 'interleaved', rotary: { ...DEFAULT_ROTARY }, span: decl.span };
  const p = positions?.values[0];
  const kind = p?.kind === 'ref' ? p.name : p?.kind === 'call' ? p.callee.text : undefined;
  if (p?.kind === 'ref' && (kind === 'sinusoidal' || kind === 'rotary' || kind === 'none')) info.positions = kind;
  else if (p?.kind === 'call' && kind === 'learned' && p.args.filter((a) => !a.name).length === 1) {
    info.positions = 'learned';
    info.maxPositions = concrete(p.args.filter((a) => !a.name)[0].value, 'the number of learned positions');
    for (const o of namedArgs(p)) {
      if (o.key.text !== 'offset') bag.error('E506', o.key.span, `learned(…) positions have no argument '${o.key.text}'`, 'learned positions take offset = K (default 0)');
      else info.positionOffset = numberValue(o.values[0], dims, bag, { code: 'E526', what: 'the position offset', hint: 'a whole number of table rows to skip, e.g. offset = 2 (BART)', min: 0, integer: true }) ?? 0;
    }
  } else if (p?.kind === 'call' && kind === 'sinusoidal' && p.args.every((a) => a.name)) {
    info.positions = 'sinusoidal';
    for (const o of namedArgs(p)) {
      if (o.key.text !== 'layout') bag.error('E506', o.key.span, `sinusoidal positions have no argument '${o.key.text}'`, 'sinusoidal positions take layout = interleaved | concatenated');
      else info.sinusoidalLayout = wordValue(o, ['interleaved', 'concatenated'] as const, bag, 'E525', 'the sinusoidal layout') ?? 'interleaved';
    }
  } else if (p?.kind === 'call' && kind === 'rotary' && p.args.every((a) => a.name)) {
    info.positions = 'rotary';
    rotaryOptions(namedArgs(p), info.rotary, dims, bag);
  } else if (p) bag.error('E506', p.span, 'positions are sinusoidal, rotary, learned(MAX) or none', 'options go in parentheses: rotary(style = halves), learned(MAX, offset = 2), sinusoidal(layout = concatenated)');
  if (info.positions === 'sinusoidal' && width % 2 !== 0) bag.error('E301', wa.value.span, `sinusoidal positions need an even width, got ${width}`);
  m.embed = info;
  m.dModel = width;
  for (const inp of m.inputs.values()) {
    for (const key of ['pad', 'bos', 'eos'] as const) {
      const id = inp[key];
      if (id !== undefined && (id < 0 || id >= vocab)) {
        bag.error('E305', inp.span, `${key} id ${id} of '${inp.name}' is outside the vocabulary (0..${vocab - 1})`, `use an id below ${vocab}, or enlarge the vocabulary`);
      }
    }
  }
}

function rotaryOptions(options: Option[], r: RotaryInfo, dims: DimLookup, bag: DiagnosticBag): void {
  for (const o of options) {
    if (o.key.text === 'style') r.style = wordValue(o, ['pairs', 'halves'] as const, bag, 'E524', 'the rotary style') ?? r.style;
    else if (o.key.text === 'theta') r.theta = numberValue(o.values[0], dims, bag, { code: 'E524', what: 'the rotary theta', hint: 'the base of the frequencies, e.g. theta = 10000 or theta = 500000 (Llama 3)', above: 1 }) ?? r.theta;
    else if (o.key.text === 'fraction') r.fraction = numberValue(o.values[0], dims, bag, { code: 'E524', what: 'the rotary fraction', hint: 'the share of each head that rotates, e.g. fraction = 0.25 (GPT-NeoX)', above: 0, max: 1 }) ?? r.fraction;
    else bag.error('E506', o.key.span, `rotary positions have no argument '${o.key.text}'`, 'rotary takes style = pairs | halves, theta = N, fraction = F');
  }
}

/** Dims of each head that rotate: the fraction of the head width, which must come out whole and even. */
export function rotaryDims(r: RotaryInfo, headDim: number): number | undefined {
  const n = r.fraction * headDim;
  return Number.isInteger(n) && n % 2 === 0 && n > 0 ? n : undefined;
}

function opt(options: Option[], key: string): Option | undefined {
  return options.find((o) => o.key.text === key);
}
