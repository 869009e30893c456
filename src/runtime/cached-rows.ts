// The host side of a cached call's rows: the inputs of rows at their own positions. A call takes each row's whole
// sequence so far (as a full pass would); the programs take only the new positions, row after row, and rows of
// different lengths travel in one batch-major run padded to the longest.

import type { CheckedModel } from '../check/model.ts';
import type { RunInputs } from './cpu-interpreter.ts';
import { shiftRight } from './decoder-input.ts';
import { ProgramLimitError } from './program.ts';

type Run = Omit<RunInputs, 'weights'>;

/**
 * One batch-major run of `runs`, every input along the decoder axis padded with zeros to the longest: the padding
 * sits at positions no query of its row reaches. Other dims must agree.
 */
export function padRuns(model: CheckedModel, axis: string, runs: readonly Run[]): Run {
  const L = Math.max(...runs.map((r) => r.dims[axis]));
  const dims = { ...runs[0].dims, B: runs.length, [axis]: L };
  for (const r of runs) {
    const other = Object.keys({ ...r.dims, ...runs[0].dims }).find((d) => d !== axis && d !== 'B' && r.dims[d] !== runs[0].dims[d]);
    if (other) throw new ProgramLimitError(`rows of one call must agree on dim ${other} (${runs[0].dims[other]}, ${r.dims[other]})`);
  }
  const inputs: RunInputs['inputs'] = {};
  for (const [name, value] of Object.entries(runs[0].inputs)) {
    const input = model.inputs.get(name);
    const onAxis = input?.axis === axis && input.kind !== 'lengths';
    const per = onAxis ? value.length / runs[0].dims[axis] : value.length;
    const joined = value instanceof Int32Array ? new Int32Array(runs.length * (onAxis ? L * per : per)) : new Float32Array(runs.length * (onAxis ? L * per : per));
    runs.forEach((r, b) => {
      const part = r.inputs[name];
      const want = onAxis ? r.dims[axis] * per : per;
      if (!part || part.length !== want) throw new ProgramLimitError(`input ${name} of row ${b} needs ${want} values, got ${part?.length ?? 0}`);
      joined.set(part, b * (onAxis ? L * per : per));
    });
    inputs[name] = joined;
  }
  return { dims, inputs };
}

/** Each batch row's values of an input at its N new positions on the decoder axis (the whole input, for one that is not). */
export function newRows(model: CheckedModel, axis: string, run: Run, name: string, positions: number[], N: number, n: number): Int32Array | Float32Array {
  const data = run.inputs[name];
  if (!data) throw new ProgramLimitError(`input ${name} needs ${n} values, got none`);
  // Lengths count along the axis but hold one value per sequence: never sliced.
  const input = model.inputs.get(name);
  const onAxis = input?.axis === axis && input.kind !== 'lengths';
  const L = run.dims[axis];
  const per = data.length / (positions.length * L);
  const rows = onAxis ? sliceRows(data, L * per, positions.map((p) => [p * per, (p + N) * per])) : data;
  if (rows.length !== n) throw new ProgramLimitError(`input ${name} needs ${n} values, got ${rows.length}`);
  return rows instanceof Int32Array ? rows : Float32Array.from(rows);
}

/** The decoder input of the new positions, shifted on the host from the whole target. */
export function decoderInputRows(model: CheckedModel, axis: string, run: Run, name: string, positions: number[], N: number): Int32Array {
  const inp = model.inputs.get(name)!;
  const target = run.inputs[inp.shiftedFrom!];
  if (!(target instanceof Int32Array)) throw new ProgramLimitError(`input ${inp.shiftedFrom} is needed to build ${name}`);
  const L = run.dims[axis];
  // Shifting moves each position one right: a row's positions below its length never see the padding after it.
  return sliceRows(shiftRight(target, positions.length, L, { bos: inp.bos ?? 0, pad: inp.pad ?? 0, eos: inp.eos }), L, positions.map((p) => [p, p + N])) as Int32Array;
}

/** Values `from` to `to` of each row `stride` values long (one [from, to) a row, all as long), one row after another. */
function sliceRows(data: Int32Array | Float32Array, stride: number, ranges: [number, number][]): Int32Array | Float32Array {
  const n = ranges.length ? ranges[0][1] - ranges[0][0] : 0;
  const out = data instanceof Int32Array ? new Int32Array(ranges.length * n) : new Float32Array(ranges.length * n);
  ranges.forEach(([from, to], b) => out.set(data.subarray(b * stride + from, b * stride + to), b * n));
  return out;
}
