// The view of one mask that `mdl mask` prints and draws, and that the page's mask inspector shows: its axes, the
// data it reads (given, or stated defaults), the dense grid for one (batch, head), tile classes and the figure.
// No Node imports: the page bundles this module, so that both draw the same picture from the same options.
// A request that cannot be drawn (an unknown mask, a dim out of range, data that does not fit) is a MaskViewError
// whose message says what to give instead; the command prints it as a one-line error, the page beside the mask.

import type { CheckedModel, MaskInfo } from '../check/model.ts';
import { denseMask } from '../masks/evaluate.ts';
import type { MaskEnv } from '../masks/kernel-contract.ts';
import type { MaskFigure } from '../masks/mask-figure.ts';
import { dataReads, printPolicy, toPredicate, type Policy } from '../masks/policy.ts';
import { checkMaskSizes, MaskSizeError } from '../masks/sizes.ts';
import { maskToText } from '../masks/render-text.ts';
import { classifyTiles, readsHead } from '../masks/tiles.ts';
import { shiftRight } from './decoder-input.ts';

/** What to draw, with the syntax of `mdl mask`'s flags (the page's fields take the same text). */
/** A request that cannot be drawn; the message names the flag (or field) and what it takes. */
export class MaskViewError extends Error {}

export interface MaskOptions {
  mask?: string;
  dims?: string;
  lengths?: string[];
  segments?: string[];
  tokens?: string[];
  batch: string;
  head: string;
  tiles?: string;
  axes?: string;
}

/** One mask drawn for one (batch, head): the terminal text, the figure, and what the page needs for hovering. */
export interface MaskView {
  mask: MaskInfo;
  policy: Policy;
  env: MaskEnv;
  batch: number;
  head: number;
  queryAxis: string;
  keyAxis: string;
  text: string;
  figure: MaskFigure;
}

export function maskView(model: CheckedModel, opts: MaskOptions & { mask: string }): MaskView {
  const masks = allMasks(model);
  const mask = masks.get(opts.mask);
  if (!mask?.policy) throw new MaskViewError(`no mask '${opts.mask}' in ${model.name}; masks: ${[...masks.keys()].join(', ')}`);
  const policy = mask.policy;
  const { queryAxis, keyAxis, site } = opts.axes ? givenAxes(model, opts.axes) : axesOf(model, mask);
  const dims = parseDims(opts.dims, model);
  const lq = dims[queryAxis];
  const lk = dims[keyAxis];
  if (lq === undefined || lk === undefined) throw new MaskViewError(`give the lengths of the mask's axes: --dims ${[...new Set([queryAxis, keyAxis])].map((a) => `${a}=…`).join(',')}`);
  const head = index(opts.head, '--head', headsOf(model, mask), 'head', `the spec's attention ${site.startsWith('used') ? 'site using the mask has' : 'sites have at most'}`);
  const notes: string[] = [];
  const env = maskData(model, policy, dims, opts, notes);
  env.dims = { ...dims, Lq: lq, Lk: lk };
  try {
    checkMaskSizes(mask.name, policy, env.dims);
  } catch (e) {
    throw e instanceof MaskSizeError ? new MaskViewError(e.message) : e;
  }
  const batch = Number(opts.batch);
  const pred = toPredicate(policy);
  const rows = denseMask(pred, env, batch, head);
  let tiles: { q: number; k: number; classes: Uint32Array } | undefined;
  if (opts.tiles) {
    const m = /^(\d+)x(\d+)$/.exec(opts.tiles);
    if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new MaskViewError(`--tiles takes QxK, e.g. 4x4, not '${opts.tiles}'`);
    const [tq, tk] = [Number(m[1]), Number(m[2])];
    const heads = readsHead(pred) ? head + 1 : 1;
    const all = classifyTiles(pred, { batch: batch + 1, heads, lq, lk, tileQ: tq, tileK: tk }, env);
    const per = Math.ceil(lq / tq) * Math.ceil(lk / tk);
    const offset = (batch * heads + (heads > 1 ? head : 0)) * per;
    tiles = { q: tq, k: tk, classes: all.slice(offset, offset + per) };
  }
  const visible = rows.flat().filter(Boolean).length;
  const header = [
    `mask ${mask.name} = ${printPolicy(policy)}`,
    `${site}; queries along ${queryAxis} (Lq=${lq}), keys along ${keyAxis} (Lk=${lk}); batch ${batch}, head ${head}`,
    `${visible} of ${lq * lk} pairs visible (# visible, . hidden)${tiles ? '; tiles: E empty (skipped), P partial, F full (no predicate)' : ''}`,
    ...notes,
  ];
  const text = `${header.join('\n')}\n${maskToText(rows, lk, tiles ? { tiles } : {})}\n`;
  const shown = Object.entries(env.dims).filter(([name]) => name !== 'Lq' && name !== 'Lk' && model.dims.get(name)?.kind === 'symbolic');
  const figure: MaskFigure = {
    rows,
    lk,
    tiles,
    title: `mask ${mask.name} = ${printPolicy(policy)}`,
    lines: [site, `${shown.map(([n, v]) => `${n} = ${v}`).join(', ')}${shown.length ? '; ' : ''}batch ${batch}, head ${head}`, ...notes],
    queryLabel: `q: queries along ${queryAxis} (Lq = ${lq})`,
    keyLabel: `k: keys along ${keyAxis} (Lk = ${lk})`,
  };
  return { mask, policy, env, batch, head, queryAxis, keyAxis, text, figure };
}

export function allMasks(model: CheckedModel): Map<string, MaskInfo> {
  const out = new Map(model.masks);
  for (const s of model.stacks) for (const l of s.layers) if (l.kind === 'attention' && l.mask && !out.has(l.mask.name)) out.set(l.mask.name, l.mask);
  return out;
}

function axesOf(model: CheckedModel, mask: MaskInfo): { queryAxis: string; keyAxis: string; site: string } {
  for (const s of model.stacks) {
    for (const l of s.layers) {
      if (l.kind === 'attention' && l.mask?.name === mask.name) return { queryAxis: l.queryAxis, keyAxis: l.keyAxis, site: `used by ${s.name} ${l.mode}-attention` };
    }
  }
  // Unused: no site says where queries and keys run, so both must follow from data the mask reads at q and at k
  // (`document(docs)` reads docs[q] and docs[k]); anything else is asked for rather than guessed.
  const along = { q: undefined as string | undefined, k: undefined as string | undefined };
  for (const r of dataReads(mask.policy!)) along[r.along] ??= model.inputs.get(r.input)?.axis;
  if (along.q && along.k) return { queryAxis: along.q, keyAxis: along.k, site: `not used by an attention site; axes of the data it reads` };
  const known = along.q ? `reads data only at q (along ${along.q}), so the axis of its keys is unknown` : along.k ? `reads data only at k (along ${along.k}), so the axis of its queries is unknown` : 'reads no data at q or k, so its axes are unknown';
  const symbolic = [...model.dims.values()].filter((d) => d.kind === 'symbolic' && d.name !== 'B').map((d) => d.name);
  const example = along.q ?? along.k ?? symbolic[0] ?? 'T';
  throw new MaskViewError(`mask '${mask.name}' is not used by an attention site and ${known}: give both with --axes QUERIES,KEYS, e.g. --axes ${example},${example}`);
}

function givenAxes(model: CheckedModel, text: string): { queryAxis: string; keyAxis: string; site: string } {
  const [q, k, extra] = text.split(',').map((s) => s.trim());
  if (!q || !k || extra !== undefined) throw new MaskViewError(`--axes takes two dims, queries then keys: e.g. --axes T,S`);
  for (const a of [q, k]) if (!model.dims.has(a)) throw new MaskViewError(`--axes: the spec has no dim '${a}'`);
  return { queryAxis: q, keyAxis: k, site: 'axes given on the command line' };
}

function parseDims(text: string | undefined, model: CheckedModel): Record<string, number> {
  const dims: Record<string, number> = {};
  for (const d of model.dims.values()) if (d.concrete !== undefined) dims[d.name] = d.concrete;
  for (const part of (text ?? '').split(',').filter(Boolean)) {
    const m = /^\s*([\p{L}_][\p{L}\p{N}_]*)\s*=\s*(\d+)\s*$/u.exec(part);
    if (!m) throw new MaskViewError(`--dims takes NAME=VALUE pairs, e.g. T=12,S=8; cannot read '${part}'`);
    const dim = model.dims.get(m[1]);
    if (!dim) throw new MaskViewError(`--dims: the spec has no dim '${m[1]}'`);
    const v = Number(m[2]);
    if (v < 1 || v > 4096) throw new MaskViewError(`--dims: ${m[1]} must be between 1 and 4096 to draw, got ${v}`);
    if (dim.bound !== undefined && v > dim.bound) throw new MaskViewError(`--dims: ${m[1]} = ${v} exceeds its bound ${dim.bound}`);
    dims[m[1]] = v;
  }
  return dims;
}

/** A whole number in [0, count), or a one-line error naming the valid range. */
function index(text: string, flag: string, count: number, what: string, source: string, hint = ''): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (Number.isSafeInteger(n) && n < count) return n;
  const range = count === 1 ? `only ${what} 0` : `${what}s 0 to ${count - 1}`;
  throw new MaskViewError(`${flag} ${text} is out of range: ${source} ${count} ${what}${count === 1 ? '' : 's'} (${range})${hint}`);
}

/** Heads of the site using the mask, else the most heads of any attention layer (the head a mask is drawn for). */
function headsOf(model: CheckedModel, mask: MaskInfo): number {
  const layers = model.stacks.flatMap((s) => s.layers).filter((l) => l.kind === 'attention');
  const site = layers.find((l) => l.mask?.name === mask.name);
  if (site) return site.heads;
  return Math.max(1, ...layers.map((l) => l.heads));
}

function rowsOf(list: string[], flag: string): Map<string, number[][]> {
  const out = new Map<string, number[][]>();
  for (const item of list) {
    const m = /^([\p{L}_][\p{L}\p{N}_]*)=(.*)$/u.exec(item);
    if (!m) throw new MaskViewError(`--${flag} takes NAME=VALUES, not '${item}'`);
    const rows = m[2].split(';').map((r) => r.split(',').filter((v) => v.trim() !== '').map((v) => {
      const n = Number(v);
      if (!Number.isInteger(n)) throw new MaskViewError(`--${flag} ${m[1]}: '${v}' is not a whole number`);
      return n;
    }));
    out.set(m[1], rows);
  }
  return out;
}

/** The data a mask reads, from the flags or from stated defaults. */
function maskData(model: CheckedModel, policy: NonNullable<MaskInfo['policy']>, dims: Record<string, number>, opts: MaskOptions, notes: string[]): MaskEnv {
  // --lengths gives one value per batch row (for a lengths input, or for the real length of a tokens input);
  // --segments and --tokens give one row of values per batch row.
  const lengths = new Map([...rowsOf(opts.lengths ?? [], 'lengths')].map(([name, rows]) => [name, rows.flat()]));
  const rowsGiven = new Map([...rowsOf(opts.segments ?? [], 'segments'), ...rowsOf(opts.tokens ?? [], 'tokens')]);
  for (const name of [...lengths.keys(), ...rowsGiven.keys()]) if (!model.inputs.has(name)) throw new MaskViewError(`no input '${name}' in ${model.name}`);
  for (const name of lengths.keys()) {
    const kind = model.inputs.get(name)!.kind;
    if (kind !== 'lengths' && kind !== 'tokens') throw new MaskViewError(`--lengths ${name}: '${name}' holds ${kind}; give them with --${kind === 'segments' ? 'segments' : 'tokens'}`);
  }
  // The batch is as large as --dims B says, else as the data given (one row when none is).
  const batch = dims.B ?? Math.max(...[...lengths.values()].map((v) => v.length), ...[...rowsGiven.values()].map((r) => r.length), 1);
  index(opts.batch, '--batch', batch, 'batch row', dims.B !== undefined ? '--dims gives' : 'the data given has', '; give data for more rows (--lengths, --segments, --tokens) or --dims B=N');
  const env: MaskEnv = { dims, data: {}, strides: {} };
  const names = new Set(dataReads(policy).map((r) => r.input));
  for (const name of names) {
    const input = model.inputs.get(name)!;
    const length = dims[input.axis ?? ''] ?? 1;
    if (input.kind === 'lengths') {
      const values = lengths.get(name) ?? [];
      if (!values.length) notes.push(`note: ${name} not given; every sequence is full length (${length})`);
      env.data[name] = Int32Array.from({ length: batch }, (_, b) => values[b] ?? length);
      continue;
    }
    const source = input.shiftedFrom ?? name;
    const rows = rowsGiven.get(source) ?? rowsGiven.get(name) ?? tokensFromLengths(model, lengths.get(source) ?? lengths.get(name), source);
    const fill = input.kind === 'segments' ? 0 : input.pad === 0 ? 1 : 0;
    if (!rows) notes.push(`note: ${source} not given; ${input.kind === 'segments' ? 'one document per sequence' : 'no padding'}`);
    const flat = Int32Array.from({ length: batch * length }, (_, i) => rows?.[Math.floor(i / length)]?.[i % length] ?? (rows ? (input.pad ?? fill) : fill));
    env.data[name] = input.shiftedFrom && rows ? shiftRight(flat, batch, length, { bos: input.bos ?? 1, pad: input.pad ?? 0, eos: input.eos }) : flat;
    env.strides![name] = length;
  }
  env.dims.B = batch;
  return env;
}

/** Token rows of the given lengths: a word that is not pad, bos or eos, then padding (filled in by the caller). */
function tokensFromLengths(model: CheckedModel, values: number[] | undefined, name: string): number[][] | undefined {
  if (!values) return undefined;
  const input = model.inputs.get(name)!;
  const word = [3, 4, 5, 6].find((id) => id !== input.pad && id !== input.bos && id !== input.eos)!;
  return values.map((n) => Array.from({ length: Math.max(0, n) }, () => word));
}
