// Binding a safetensors file to a spec: every `param` node of the IR must find a tensor of its name and exact shape,
// and the file must hold nothing else (a stray tensor usually means a renamed or mis-converted checkpoint, which is
// better reported than silently ignored).
//
// Shapes are checked from the header before any tensor data is read, so a file for the wrong model fails fast and
// the message lists every problem at once rather than the first one found.

import type { IrGraph } from '../ir/ir.ts';
import { paramsOf, seededWeights } from './init-weights.ts';
import { bytesSource, readSafetensorsFrom, SafetensorsError, writeSafetensors, type ByteSource, type SafetensorsFile } from './safetensors.ts';

export { paramsOf };

export interface ParamSpec {
  name: string;
  shape: number[];
}

/** A file that is valid safetensors but does not fit the spec. `problems` has one line per tensor. */
export class WeightsError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    const shown = problems.slice(0, MAX_LISTED);
    const more = problems.length > MAX_LISTED ? [`… and ${problems.length - MAX_LISTED} more`] : [];
    super(`${source}: the weights do not match the spec (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n${[...shown, ...more].map((p) => `  ${p}`).join('\n')}`);
    this.name = 'WeightsError';
  }
}

/** A file for a different model can differ in hundreds of tensors; the first few say enough. */
const MAX_LISTED = 30;

const printShape = (s: readonly number[]) => `[${s.join(', ')}]`;

/** Every difference between the spec's parameters and the tensors found: missing, wrong shape, unexpected. */
export function weightProblems(params: readonly ParamSpec[], found: ReadonlyMap<string, { shape: readonly number[] }>): string[] {
  const problems: string[] = [];
  const expected = new Set<string>();
  for (const p of params) {
    expected.add(p.name);
    const t = found.get(p.name);
    if (!t) problems.push(`missing tensor ${p.name}: expected shape ${printShape(p.shape)}`);
    else if (t.shape.length !== p.shape.length || t.shape.some((d, i) => d !== p.shape[i])) {
      problems.push(`tensor ${p.name}: expected shape ${printShape(p.shape)}, found ${printShape(t.shape)}`);
    }
  }
  const extra = [...found.keys()].filter((n) => !expected.has(n)).sort();
  for (const n of extra) problems.push(`unexpected tensor ${n} ${printShape(found.get(n)!.shape)}: the spec has no parameter of that name`);
  return problems;
}

export function checkWeights(params: readonly ParamSpec[], found: ReadonlyMap<string, { shape: readonly number[] }>, source: string): void {
  const problems = weightProblems(params, found);
  if (problems.length) throw new WeightsError(source, problems);
}

/** The tensors of a loaded file that the graph needs, by parameter name, after checking they fit. */
export function bindWeights(ir: IrGraph, file: SafetensorsFile, source: string): Map<string, Float32Array> {
  const params = paramsOf(ir);
  checkWeights(params, file.tensors, source);
  return new Map(params.map((p) => [p.name, file.tensors.get(p.name)!.data]));
}

/**
 * Reads weights for a graph from bytes or a ByteSource, checking names and shapes against the header first so that a
 * mismatched file is rejected before its data is read. Throws SafetensorsError or WeightsError.
 */
export function loadWeights(src: Uint8Array | ByteSource, ir: IrGraph, source = '<bytes>'): Map<string, Float32Array> {
  const params = paramsOf(ir);
  const bytes = src instanceof Uint8Array ? bytesSource(src) : src;
  const file = readSafetensorsFrom(bytes, source, (h) => checkWeights(params, new Map(h.tensors.map((t) => [t.name, t])), source));
  const weights = new Map(params.map((p) => [p.name, file.tensors.get(p.name)!.data]));
  for (const p of params) checkFinite(weights.get(p.name)!, p.shape, `tensor ${p.name}`, source);
  return weights;
}

/** The first index whose value is NaN or ±Infinity, or -1. */
export function firstNonFinite(data: ArrayLike<number>): number {
  for (let i = 0; i < data.length; i++) if (!Number.isFinite(data[i])) return i;
  return -1;
}

/**
 * A NaN or an infinity in a weight spreads through every later layer and leaves logits the argmax cannot rank (it
 * would answer id 0 at every step), so such a file is refused when it is loaded, naming the first bad value.
 */
export function checkFinite(data: ArrayLike<number>, shape: readonly number[], what: string, source: string): void {
  const at = firstNonFinite(data);
  if (at < 0) return;
  const coords: number[] = [];
  let rest = at;
  for (let d = shape.length - 1; d >= 0; d--) {
    coords.unshift(rest % shape[d]);
    rest = Math.floor(rest / shape[d]);
  }
  throw new SafetensorsError(source, `${what} holds ${data[at]} at index ${at}${shape.length > 1 ? ` ([${coords.join(', ')}])` : ''}; every value must be finite`);
}

/**
 * A complete weights file for a graph, filled by the seeded initialiser (init-weights.ts): the same bytes for the
 * same spec and seed on every machine. The metadata records the model and the seed; `format: pt` lets Hugging Face
 * tools open the file as a PyTorch checkpoint.
 */
export function seededWeightsFile(ir: IrGraph, seed: number, dtype: 'F32' | 'F16' = 'F32'): Uint8Array {
  const shapes = new Map(paramsOf(ir).map((p) => [p.name, p.shape]));
  const tensors = new Map([...seededWeights(ir, seed)].map(([name, data]) => [name, { shape: shapes.get(name)!, data, dtype }]));
  return writeSafetensors(tensors, { format: 'pt', model: ir.model, seed: String(seed) });
}
