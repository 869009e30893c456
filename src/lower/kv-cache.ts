// The cache pass: how a rendered program is run for generation with a key/value cache.
//
// A full pass computes every position of the decoder at once. Decoding with a cache runs the same kernels (compiled
// into the prefill and decode-step programs by decode-program.ts) over only
// the positions that are new since the last call (the decoder axis takes the number of new positions), and:
//   - steps that do not depend on the decoder's tokens (the encoder, the cross-attention K/V projections) run once,
//     on the first call, and the values the decoder reads from them are kept on the device;
//   - each decoder self-attention appends its new K/V rows to a cache and attends over the whole cache;
//   - the embedding and rotary steps start counting positions at the first new position;
//   - attention and tile classification see every row at its position in the whole sequence (the kernels' q/k
//     offsets), and masks are given the lengths of the whole sequence, so each new row computes exactly what a full
//     pass computes for it.
//
// That last claim needs the rows already computed never to change as the sequence grows. This pass checks what can
// be checked from the spec (a mask that reads the decoder's length, or lengths that grow with it, could change
// them); the runtime checks the rest at every step (no earlier query may see a new key). When the check fails,
// generation recomputes instead and says why.
//
// A self-attention whose mask reads only indices and fixed values (a window, chunks, sinks) may drop keys that no
// later query can see: the runtime asks the tile classifier's interval analysis, which is sound, before dropping.

import type { CheckedModel } from '../check/model.ts';
import type { BoolExpr, IntExpr } from '../masks/predicate.ts';
import { isIndexOnly } from '../masks/tiles.ts';
import { boundBuffers, type Program } from './program.ts';
import type { Rendered } from './render.ts';

export interface CacheSite {
  /** The attention step. */
  step: number;
  /** `self`: keys from the decoder, appended to a cache each call; `cross`: keys from the encoder, kept. */
  kind: 'self' | 'cross';
  /** The buffers the attention step reads as K and V. */
  k: string;
  v: string;
  /** Floats per key row: kv heads × head dim. */
  rowWidth: number;
  /** Keys no later query can see may be dropped (self-attention with an index-only mask of fixed values). */
  droppable: boolean;
}

export interface CachePlan {
  /** The decoder's axis: in a cached call its dim is the number of new positions. */
  axis: string;
  /** Steps that do not depend on the decoder's tokens: run on the first call only. */
  encodeSteps: number[];
  /** Steps run on every call, over the new positions. */
  decodeSteps: number[];
  /** Values written by encode steps and read by decode steps: kept on the device between calls. */
  kept: string[];
  /** Decoder-input values the host fills with the new positions (shift_right steps are not run). */
  hostFilled: string[];
  /** Embedding and rotary steps among the decode steps: their `start` uniform is the first position. */
  positionSteps: number[];
  /** Attention steps among the decode steps. */
  sites: CacheSite[];
  /** Set when cached decoding cannot reproduce a full pass; generation then recomputes. */
  unsupported?: string;
}

/** The axis the model generates along: that of the input its output stack runs on. */
function decoderAxis(m: CheckedModel): string | undefined {
  const out = m.output ? m.stacks.find((s) => s.name === m.output!.from) : m.stacks.at(-1);
  return out ? m.inputs.get(out.source)?.axis : undefined;
}

export function planCache(p: Program, rendered: Rendered, m: CheckedModel, axis = decoderAxis(m)): CachePlan {
  const plan: CachePlan = { axis: axis ?? '', encodeSteps: [], decodeSteps: [], kept: [], hostFilled: [], positionSteps: [], sites: [] };
  if (!axis) return { ...plan, unsupported: 'the model has no decoder axis to generate along' };
  const kernels = new Map(rendered.kernels.map((k) => [k.file, k]));
  const writes = (i: number) => {
    const k = kernels.get(rendered.stepKernels[i])!;
    return k.bindings.filter((b) => b.access === 'read_write').map((b) => p.steps[i].bind[b.role]);
  };

  // Inputs along the decoder axis change with every new token; everything computed from them is decoder work.
  const onAxis = [...m.inputs.values()].filter((i) => i.axis === axis);
  const varying = new Set(onAxis.map((i) => `%${i.name}`));
  // A step is decoder work when it binds a varying buffer (in-place steps such as rope both read and write theirs).
  // A classify step binds only mask buffers; it belongs with the attention it prepares.
  const decoderNodes = new Set<string>();
  const isDecoder = p.steps.map(() => false);
  p.steps.forEach((s, i) => {
    if (s.kind === 'classify' || !boundBuffers(s).some((b) => varying.has(b))) return;
    isDecoder[i] = true;
    decoderNodes.add(s.node);
    for (const b of writes(i)) varying.add(b);
  });
  p.steps.forEach((s, i) => {
    if (s.kind === 'classify') isDecoder[i] = decoderNodes.has(s.node);
    if (!isDecoder[i]) return void plan.encodeSteps.push(i);
    if (s.kind === 'shift_right') return void plan.hostFilled.push(s.bind.dec);
    plan.decodeSteps.push(i);
    if (s.kind === 'embed' || s.kind === 'rope') plan.positionSteps.push(i);
  });
  const encodeWrites = new Set(plan.encodeSteps.flatMap(writes));
  plan.kept = [...new Set(plan.decodeSteps.flatMap((i) => boundBuffers(p.steps[i])).filter((b) => encodeWrites.has(b)))];
  if (p.outputs.some((o) => !varying.has(o))) plan.unsupported = 'an output of the model does not depend on the decoder';

  // With a decoder input built by shift_right, the target's last position is a placeholder until it is generated.
  const placeholders = new Set([...m.inputs.values()].filter((i) => i.shiftedFrom).map((i) => i.shiftedFrom!));
  for (const i of plan.decodeSteps) {
    const s = p.steps[i];
    if (s.kind !== 'attention') continue;
    const a = s.attention!;
    const { k, v } = s.bind;
    const kind = varying.has(k) ? 'self' : 'cross';
    const pred = a.mask?.predicate;
    const why = pred && growthDependence(pred, kind, axis, placeholders);
    if (why && !plan.unsupported) plan.unsupported = `mask ${a.mask!.name} ${why}, so positions already computed would change as the sequence grows`;
    const fixedValues = !pred || (!why && paramsRead(pred).every((x) => x !== 'Lq' && x !== 'Lk'));
    plan.sites.push({ step: i, kind, k, v, rowWidth: a.kvHeads * a.headDim, droppable: kind === 'self' && !!pred && isIndexOnly(pred) && fixedValues });
  }
  return plan;
}

/** Why a decoder mask's value at a fixed (q, k) may change as the decoder grows, or undefined when it cannot. */
// Lengths counted along the decoder axis are not refused here: the cache checks at every call that they have not
// changed since the first (cached-decoder.ts), and `mdl run` keeps them at the prompt's length.
function growthDependence(pred: BoolExpr, kind: CacheSite['kind'], axis: string, placeholders: Set<string>): string | undefined {
  // In self-attention Lq = Lk at every length, so their difference (bottom-right alignment) is always 0.
  const e = kind === 'self' ? mapInts(pred, (x) => (isLengthDifference(x) ? { kind: 'const', value: 0 } : x)) : pred;
  const params = paramsRead(e);
  if (params.includes(axis)) return `reads the decoder length ${axis}`;
  if (params.includes('Lq')) return 'reads the query length Lq';
  if (kind === 'self' && params.includes('Lk')) return 'reads the key length Lk';
  const loads = loadsRead(e);
  const placeholder = loads.find((x) => placeholders.has(x));
  if (placeholder) return `reads ${placeholder}, whose newest position is not known until it is generated`;
  return undefined;
}

function isLengthDifference(e: IntExpr): boolean {
  return e.kind === 'bin' && e.op === '-' && e.a.kind === 'param' && e.a.name === 'Lk' && e.b.kind === 'param' && e.b.name === 'Lq';
}

function mapInts(e: BoolExpr, f: (x: IntExpr) => IntExpr): BoolExpr {
  const int = (x: IntExpr): IntExpr => {
    const y = f(x);
    if (y !== x) return y;
    if (x.kind === 'bin') return { ...x, a: int(x.a), b: int(x.b) };
    if (x.kind === 'abs') return { ...x, a: int(x.a) };
    return x;
  };
  switch (e.kind) {
    case 'cmp':
      return { ...e, a: int(e.a), b: int(e.b) };
    case 'and':
    case 'or':
      return { ...e, args: e.args.map((a) => mapInts(a, f)) };
    case 'not':
      return { ...e, a: mapInts(e.a, f) };
    default:
      return e;
  }
}

function intLeaves(e: BoolExpr): IntExpr[] {
  const out: IntExpr[] = [];
  const walk = (x: IntExpr): void => {
    if (x.kind === 'bin') (walk(x.a), walk(x.b));
    else if (x.kind === 'abs') walk(x.a);
    else out.push(x);
  };
  const visit = (b: BoolExpr): void => {
    if (b.kind === 'cmp') (walk(b.a), walk(b.b));
    else if (b.kind === 'and' || b.kind === 'or') b.args.forEach(visit);
    else if (b.kind === 'not') visit(b.a);
  };
  visit(e);
  return out;
}

function paramsRead(e: BoolExpr): string[] {
  return [...new Set(intLeaves(e).flatMap((x) => (x.kind === 'param' ? [x.name] : [])))];
}

function loadsRead(e: BoolExpr): string[] {
  return [...new Set(intLeaves(e).flatMap((x) => (x.kind === 'load' ? [x.input] : [])))];
}

/** The plan as text (`mdl dump FILE --stage cache`). */
export function printCachePlan(plan: CachePlan, p: Program): string {
  const step = (i: number) => `${i} ${p.steps[i].kind} ${p.steps[i].node}`;
  const lines = [`decoder axis: ${plan.axis || '(none)'}`, `cached decoding: ${plan.unsupported ? `no (${plan.unsupported})` : 'yes'}`];
  lines.push(`once per source (${plan.encodeSteps.length} steps):`, ...plan.encodeSteps.map((i) => `  ${step(i)}`));
  lines.push(`every call, over the new positions (${plan.decodeSteps.length} steps):`, ...plan.decodeSteps.map((i) => `  ${step(i)}`));
  lines.push(`kept between calls: ${plan.kept.join(', ') || '(none)'}`);
  lines.push(`filled by the host: ${plan.hostFilled.join(', ') || '(none)'}`);
  lines.push('attention:');
  for (const s of plan.sites) {
    const keys = s.kind === 'self' ? `keys appended to a cache of ${s.rowWidth} floats a row${s.droppable ? ', keys no later query sees are dropped' : ''}` : 'keys kept from the first call';
    lines.push(`  ${step(s.step)}: ${s.kind}, ${keys}`);
  }
  return lines.join('\n') + '\n';
}
