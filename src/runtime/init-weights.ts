// Seeded weights: the same bytes on every machine for the same spec and seed.
//
// Each value is a pure function of (seed, parameter name, index): a 32-bit hash (the mask hash's mixer) gives two
// uniforms, Box–Muller turns them into a normal. Only integer operations and Math.log/cos/sqrt of exactly the same
// inputs are involved, and the result is rounded to f32, so platforms agree.
// Scales follow common practice: norm scales 1, biases 0, everything else N(0, 0.02²).

import { sym } from '../check/sym.ts';
import type { IrGraph } from '../ir/ir.ts';
import { pairHash } from '../masks/hash.ts';

/**
 * The seed of seeded weights when none is given: `mdl init` writes, and `mdl run` (without `--weights`) and the
 * browser page run on, the same weights.
 */
export const DEFAULT_SEED = 1;

/** The parameters of a graph: name (without the IR's `%`) and concrete shape. */
export function paramsOf(g: IrGraph): { name: string; shape: number[] }[] {
  return g.nodes.filter((n) => n.op === 'param').map((n) => ({ name: n.id.slice(1), shape: n.shape.map((d) => sym.asConstant(d) ?? 0) }));
}

function nameHash(name: string): number {
  let h = 0x811c9dc5;
  for (const ch of new TextEncoder().encode(name)) h = Math.imul(h ^ ch, 0x01000193) >>> 0;
  return h;
}

export function seededTensor(seed: number, name: string, size: number): Float32Array {
  const out = new Float32Array(size);
  if (/norm(\.|$)/.test(name) && name.endsWith('.weight')) return out.fill(1);
  if (name.endsWith('.bias')) return out;
  const key = nameHash(name);
  for (let i = 0; i < size; i++) {
    const u1 = (pairHash(seed, key, i, 0, 0) + 1) / 4294967297; // in (0, 1): log is finite
    const u2 = pairHash(seed, key, i, 1, 0) / 4294967296;
    out[i] = 0.02 * Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
  }
  return out;
}

export function seededWeights(g: IrGraph, seed: number): Map<string, Float32Array> {
  return new Map(paramsOf(g).map((p) => [p.name, seededTensor(seed, p.name, p.shape.reduce((a, b) => a * b, 1))]));
}
