// Program invariants, checked after every pass that builds or rewrites a program (as src/ir/verify.ts checks the IR):
// each step binds a buffer for every role its kernel declares and nothing else, with the access and element type the
// kernel declares; gives every uniform field a value of the field's type; binds buffers large enough for what the
// kernel reads and writes; and dispatches within the WebGPU default limits. Sizes and dispatches are formulas of the
// dims, so they are checked at sample values of the dims: all 1, a small odd value, and each dim at its bound (a dim
// the runtime derives is checked at the value it names: the decode programs' caches as on the first call).

import type { Kernel } from '../wgsl/kernel.ts';
import { formula, type Formula } from './formula.ts';
import { uniformValues, wordFits, type Program, type ProgramBuffer, type ProgramDim } from './program.ts';

/** WebGPU's default limits, which every adapter meets and every compiled program must fit. */
export const LIMITS = { workgroupsPerDimension: 65535, invocations: 256, workgroupBytes: 16384, storageBuffers: 8 };
export type ProgramLimits = typeof LIMITS;
/** A dim without a bound is sampled at this value in place of its bound. */
const UNBOUNDED_SAMPLE = 64;

const ELEMENT_DTYPE: Record<Kernel['bindings'][number]['element'], ProgramBuffer['dtype']> = { f32: 'f32', 'vec4<f32>': 'f32', i32: 'i32', u32: 'u32' };
/** Buffers the host fills: a kernel must never write them. */
const HOST_FILLED = new Set<ProgramBuffer['role']>(['input', 'param', 'packed_param', 'mask', 'kv_cache', 'kept']);

export class ProgramVerifyError extends Error {}

export function verifyProgram(p: Program, kernelOf: (step: number) => Kernel, limits: ProgramLimits = LIMITS): string[] {
  const problems: string[] = [];
  const buffers = new Map(p.buffers.map((b) => [b.id, b]));
  const samples = sampleDims(p);
  const written = new Set<string>();
  p.steps.forEach((s, i) => {
    const before = problems.length;
    const k = kernelOf(i);
    const at = `step ${i} (${s.kind} ${s.node})`;
    const fail = (m: string) => problems.push(`${at}: ${m}`);
    if (s.kernel.kind !== s.kind) fail(`its kernel is a ${s.kernel.kind} kernel`);
    if ((s.kind === 'attention' || s.kind === 'classify') && !s.attention) fail('has no attention site');

    const roles = new Set(k.bindings.map((b) => b.role));
    for (const role of Object.keys(s.bind)) if (!roles.has(role)) fail(`binds ${s.bind[role]} as '${role}', which the ${k.family} kernel does not declare`);
    const writes: string[] = [];
    for (const b of k.bindings) {
      const id = s.bind[b.role];
      if (id === undefined) {
        fail(`binds no buffer for '${b.role}' of the ${k.family} kernel`);
        continue;
      }
      const buffer = buffers.get(id);
      if (!buffer) {
        fail(`binds ${id} as '${b.role}', but the program has no such buffer`);
        continue;
      }
      if (ELEMENT_DTYPE[b.element] !== buffer.dtype) fail(`binds ${buffer.dtype} buffer ${id} as '${b.role}', which holds ${b.element}`);
      if (b.access === 'read_write') {
        const hostTiles = buffer.role === 'tile_classes' && s.attention?.tileFill !== 'device';
        if (HOST_FILLED.has(buffer.role) || hostTiles) fail(`writes ${id} ('${b.role}'), which the host fills (${buffer.role})`);
        writes.push(id);
      } else if (buffer.role === 'value' && !written.has(id)) {
        fail(`reads ${id} ('${b.role}') before any step writes it`);
      }
    }

    const fields = new Set(k.uniforms.map((f) => f.name));
    for (const name of Object.keys(s.uniforms)) if (!fields.has(name)) fail(`gives uniform '${name}', which the ${k.family} kernel does not declare`);
    for (const f of k.uniforms) {
      const w = s.uniforms[f.name];
      if (w === undefined) fail(`gives no value for uniform '${f.name}' of the ${k.family} kernel`);
      else if (!wordFits(w, f)) fail(`gives uniform '${f.name}' a ${'f32' in w || 'scalar' in w ? 'float' : 'formula'}, but the field is ${f.type}`);
      else if ('scalar' in w && !(w.scalar in (p.scalars ?? {}))) fail(`gives uniform '${f.name}' the scalar '${w.scalar}', which the program does not declare`);
    }

    if (k.workgroupSize > limits.invocations) fail(`runs ${k.workgroupSize} invocations per workgroup, above ${limits.invocations}`);
    if (k.workgroupStorageBytes > limits.workgroupBytes) fail(`needs ${k.workgroupStorageBytes} bytes of workgroup memory, above ${limits.workgroupBytes}`);
    if (k.bindings.length > limits.storageBuffers) fail(`binds ${k.bindings.length} storage buffers, above ${limits.storageBuffers}`);
    // Sizes are only meaningful once every binding and uniform is in place; they are reported at the first sample of the dims that shows a problem.
    for (const dims of problems.length === before ? samples : []) if (!checkAtDims(p, i, k, buffers, dims, fail)) break;
    for (const id of writes) written.add(id);
  });
  for (const o of p.outputs) if (!buffers.has(o)) problems.push(`output ${o} has no buffer`);
  return problems;
}

export function assertValidProgram(p: Program, kernelOf: (step: number) => Kernel, after: string, limits: ProgramLimits = LIMITS): void {
  const problems = verifyProgram(p, kernelOf, limits);
  if (problems.length) throw new ProgramVerifyError(`invalid program after ${after}:\n  ${problems.join('\n  ')}`);
}

/** Buffer sizes against the kernel's extents, and the dispatch against the limits, at one choice of the dims; false on a problem. */
function checkAtDims(p: Program, i: number, k: Kernel, buffers: Map<string, ProgramBuffer>, dims: Record<string, number>, fail: (m: string) => void): boolean {
  let ok = true;
  const report = (m: string) => ((ok = false), fail(m));
  const s = p.steps[i];
  const value = (f: Formula) => formula.evaluate(f, dims);
  const grid = s.grid.map(value);
  if (grid.some((g) => g === undefined)) return true;
  const [x, y, z] = grid as number[];
  // Built only for a message: the decode programs have dims per cache, and a string per step would grow with both.
  const where = () => Object.entries(dims).map(([d, v]) => `${d}=${v}`).join(', ');
  // One-dimensional launches fold a count above the limit into a second dimension (runtime/program.ts).
  const folds = s.kind !== 'matmul' && s.kind !== 'attention' && s.kind !== 'attention_backward' && s.kind !== 'classify' && y === 1;
  const over = folds ? x > LIMITS.workgroupsPerDimension ** 2 : [x, y, z].some((g) => g > LIMITS.workgroupsPerDimension);
  if (over) report(`dispatches ${x} × ${y} × ${z} workgroups at ${where()}, above ${LIMITS.workgroupsPerDimension} per dimension`);
  let u: Record<string, number>;
  try {
    u = uniformValues(s, (f) => value(f) ?? NaN, () => NaN);
  } catch {
    return true;
  }
  for (const b of k.bindings) {
    const buffer = buffers.get(s.bind[b.role])!;
    const have = value(buffer.elements);
    if (!b.extent || have === undefined) continue;
    const need = b.extent({ u, grid: [x, y, z] });
    if (Number.isFinite(need) && need > have) report(`${buffer.id} ('${b.role}') holds ${have} values at ${where()}; the ${k.family} kernel reaches ${need}`);
  }
  return ok;
}

function sampleDims(p: Program): Record<string, number>[] {
  const at = (pick: (d: ProgramDim) => number) => {
    const dims = Object.fromEntries(p.dims.filter((d) => d.sample === undefined).map((d) => [d.name, pick(d)]));
    for (const d of p.dims) if (d.sample !== undefined) dims[d.name] = typeof d.sample === 'number' ? d.sample : dims[d.sample];
    return dims;
  };
  return [at(() => 1), at((d) => Math.min(d.bound ?? 13, 13)), at((d) => d.bound ?? UNBOUNDED_SAMPLE)];
}
