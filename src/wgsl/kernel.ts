// The one description every kernel generator returns: what the compiler binds and what the WGSL declares.
//
// A generator lists its uniforms as named, typed fields and its storage buffers by role, with access and element
// type; `declareKernel` writes the uniform struct and the binding declarations from that list and puts them in front
// of the generator's body, so the WGSL cannot disagree with what the runtime binds. Binding 0 is always the uniform
// block; the storage buffers follow in the listed order. A step of a program names its buffers by role and its
// uniform values by field name, and `packUniforms` is the one place that turns values into the block's bytes.

export type ElementType = 'f32' | 'i32' | 'u32' | 'vec4<f32>';
export type StorageAccess = 'read' | 'read_write';

/** Uniform values a generator's size rules see, by field name, and the dispatch's workgroup counts. */
export interface ExtentContext {
  u: Record<string, number>;
  grid: [number, number, number];
}

export interface KernelBinding {
  /** The role a step binds a buffer to. */
  role: string;
  /** The WGSL variable's name, when it is not the role. */
  name?: string;
  access: StorageAccess;
  element: ElementType;
  /**
   * Scalar elements (f32, i32 or u32; a vec4 counts 4) the kernel may touch at these uniforms and this grid; a
   * buffer smaller than this is a compiler bug that `verifyProgram` reports. Absent where the size is the host's
   * business (packed mask inputs).
   */
  extent?: (c: ExtentContext) => number;
  /**
   * Named parts of one buffer, each starting at a uniform field's value (in elements): one binding then carries
   * several arrays, which keeps a kernel within the storage-buffer limit. Each view is read through a generated
   * `fn <name>(i: u32) -> element` and, for a read_write binding, written through `fn <name>_store(i: u32, v: element)`.
   */
  views?: BindingView[];
}

export interface BindingView {
  name: string;
  /** The uniform field holding the view's first element; absent for a view at element 0 or at `start`. */
  offset?: string;
  /** A first element fixed when the kernel is generated (the mask's data follows its parameter slots). */
  start?: number;
}

export interface UniformField {
  name: string;
  type: 'u32' | 'f32';
}

export interface Kernel {
  /** Kernel family, for file names and pipeline caching. */
  family: string;
  entryPoint: string;
  /** The uniform block's fields in struct order (padding not included). */
  uniforms: UniformField[];
  /** Storage buffers, bound at 1, 2, … in this order. */
  bindings: KernelBinding[];
  /** Invocations per workgroup. */
  workgroupSize: number;
  /** Bytes of `var<workgroup>` memory, checked against the device before dispatch. */
  workgroupStorageBytes: number;
  wgsl: string;
}

export interface KernelParts extends Omit<Kernel, 'wgsl'> {
  /** The uniform struct's type and variable names. */
  struct: { type: string; name: string };
  /** Everything after the declarations: constants, functions, workgroup memory, the entry point. */
  body: string;
}

/** The uniform struct, padded with zeros to whole 16-byte rows, and one declaration per binding. */
export function declarations(k: Pick<KernelParts, 'struct' | 'uniforms' | 'bindings'>): string {
  const fields = k.uniforms.map((f) => `  ${f.name}: ${f.type},`);
  for (let i = k.uniforms.length; i % 4 !== 0 || i === 0; i++) fields.push(`  pad${i - k.uniforms.length}: u32,`);
  const storage = k.bindings.map((b, i) => `@group(0) @binding(${i + 1}) var<storage, ${b.access}> ${b.name ?? b.role}: array<${b.element}>;`);
  const views = k.bindings.flatMap((b) =>
    (b.views ?? []).flatMap((v) => {
      const at = v.offset ? `${k.struct.name}.${v.offset} + i` : v.start ? `${v.start}u + i` : 'i';
      const buffer = b.name ?? b.role;
      const read = `fn ${v.name}(i: u32) -> ${b.element} { return ${buffer}[${at}]; }`;
      return b.access === 'read_write' ? [read, `fn ${v.name}_store(i: u32, v: ${b.element}) { ${buffer}[${at}] = v; }`] : [read];
    }),
  );
  return [`struct ${k.struct.type} {`, ...fields, '}', `@group(0) @binding(0) var<uniform> ${k.struct.name}: ${k.struct.type};`, ...storage, ...views].join('\n');
}

/** The kernel with its declarations generated from its description. */
export function declareKernel(parts: KernelParts): Kernel {
  const names = [...parts.uniforms.map((f) => f.name), ...parts.bindings.map((b) => b.name ?? b.role), ...parts.bindings.flatMap((b) => (b.views ?? []).map((v) => v.name))];
  const dup = names.find((n, i) => names.indexOf(n) !== i);
  if (dup) throw new Error(`${parts.family}: '${dup}' is declared twice`);
  const fieldNames = new Set(parts.uniforms.map((f) => f.name));
  const badView = parts.bindings.flatMap((b) => b.views ?? []).find((v) => v.offset !== undefined && !fieldNames.has(v.offset));
  if (badView) throw new Error(`${parts.family}: view '${badView.name}' starts at '${badView.offset}', which is not a uniform field`);
  const twoStarts = parts.bindings.flatMap((b) => b.views ?? []).find((v) => v.offset !== undefined && v.start !== undefined);
  if (twoStarts) throw new Error(`${parts.family}: view '${twoStarts.name}' has both a uniform offset and a fixed start`);
  const { struct, body, ...kernel } = parts;
  const wgsl = `${declarations(parts)}\n${body.startsWith('\n') ? body.slice(1) : body}`;
  return { ...kernel, wgsl: wgsl.endsWith('\n') ? wgsl : `${wgsl}\n` };
}

/** Bytes of the uniform block: the fields rounded up to whole 16-byte rows. */
export function uniformBytes(fields: readonly UniformField[]): number {
  return 16 * Math.max(1, Math.ceil(fields.length / 4));
}

/**
 * The uniform block for one dispatch: every field by name (u32 as an unsigned integer, f32 as its bits), in struct
 * order, padded with zeros. A missing or unknown field is an error, not a zero.
 */
export function packUniforms(fields: readonly UniformField[], values: Readonly<Record<string, number>>): Uint32Array {
  const out = new Uint32Array(uniformBytes(fields) / 4);
  const asFloat = new Float32Array(out.buffer);
  const known = new Set(fields.map((f) => f.name));
  const extra = Object.keys(values).find((n) => !known.has(n));
  if (extra !== undefined) throw new Error(`uniform '${extra}' is not a field of this kernel (${[...known].join(', ')})`);
  fields.forEach((f, i) => {
    const v = values[f.name];
    if (v === undefined) throw new Error(`uniform '${f.name}' has no value`);
    if (f.type === 'f32') asFloat[i] = v;
    else out[i] = v >>> 0;
  });
  return out;
}

/** Invocations a workgroup of a `declareLinearKernel` kernel runs. */
export const LINEAR_WORKGROUP = 64;

/**
 * A kernel of one invocation per item (element, row or column), `count` items (a WGSL expression over the uniforms),
 * with the grid folded past 65535 workgroups along y as the lowering dispatches it: `body` runs with `i`, the item,
 * already bounds-checked. Uniforms are read through `u`.
 */
export function declareLinearKernel(family: string, uniforms: UniformField[], bindings: KernelBinding[], count: string, body: string, prelude = ''): Kernel {
  return declareKernel({
    family,
    entryPoint: 'main',
    struct: { type: 'Params', name: 'u' },
    uniforms,
    bindings,
    workgroupSize: LINEAR_WORKGROUP,
    workgroupStorageBytes: 0,
    body: `${prelude}
@compute @workgroup_size(${LINEAR_WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * ${LINEAR_WORKGROUP}u;
  if (i >= ${count}) { return; }
${body}
}`,
  });
}
