// The fused masked-attention backward pass, FlashAttention-2 style.
//
// The forward kernel (attention.ts, with `lse`) keeps each query row's log-sum-exp; the backward pass recomputes the
// probabilities P = exp(s − lse) pair by pair instead of storing them, in three kernels (four with a learned table):
//   delta   D[b, h, q] = rowsum(dO ∘ O), one invocation per query row;
//   dkdv    a workgroup per (key tile, kv head, batch row), one invocation per key, walking the query tiles of every
//           query head of its group: dV += P dO, dK += dS Q · scale, with dS = P (dP − D) · (modifier derivative);
//   dq      a workgroup per (query tile, head, batch row), one invocation per query, walking the key tiles:
//           dQ += dS K · scale. With relative_bias it also sums dS per bucket into its own row's slice of a
//           [B, H, Lq, buckets] buffer, which `table` then reduces per (bucket, head) in a fixed order.
// Every output element is written by exactly one invocation, so no float atomics are needed and results are
// deterministic; no buffer is Lq × Lk.
//
// Both walks read the forward pass's tile-class buffer [B, Hc, nQT, nKT]: dq reads a row of it, dkdv a column. EMPTY
// tiles are skipped before anything of them is read, FULL tiles skip the predicate, PARTIAL tiles evaluate `mdl_mask`.
// A pair counts exactly when the forward pass counted it (same predicate, same modifiers, same floor), and a row the
// forward pass saw no visible key in (lse at the masked sentinel) gets zero gradient.
//
// Layouts (f32): Q, O, dO, dQ [B, Lq, H, D]; K, V, dK, dV [B, Lk, kvHeads, D]; lse, D [B, H, Lq], both in one
// row-stats buffer (lse from element 0, where the forward kernel writes it, D from `delta_offset`) so that the dK/dV
// and dQ kernels spend one storage binding on them. With a relative_bias table the delta kernel also copies the
// table [buckets, H] into that buffer (from `table_offset`): the walks then bind ten storage buffers at most, within
// what Chromium's software adapter allows.

import { TileClass, type MaskWgsl } from '../masks/kernel-contract.ts';
import { ATTENTION_UNIFORMS, type AttentionHeads } from './attention.ts';
import { declareKernel, type Kernel, type KernelBinding, type UniformField } from './kernel.ts';
import { checkMaskCode, MASK_NAMES, maskBinding } from './names.ts';
import { relativeBucketWgsl } from './relative-bias.ts';
// The forward kernel's soft-cap clamp, so both passes compute bit-identical scores.
import { alibiWgsl, f32Literal, SCORE_TABLE, TANH_CLAMP, type ScoreModifier } from './score-modifiers.ts';

export interface AttentionBackwardConfig extends AttentionHeads {
  mask?: MaskWgsl | null;
  modifiers?: readonly ScoreModifier[];
  /** Default 1/sqrt(headDim), as in the forward pass. */
  scale?: number;
  /** The forward kernel's tiles: the tile-class buffer is indexed by them. */
  tileQ: number;
  tileK: number;
}

export interface AttentionBackwardKernels extends AttentionHeads {
  delta: Kernel;
  dkdv: Kernel;
  dq: Kernel;
  /** The relative_bias table gradient's fixed-order reduction; present when the modifiers have a table. */
  table?: Kernel;
  scale: number;
  tileQ: number;
  tileK: number;
  tileHeads: number;
  mask?: MaskWgsl;
  /** Buckets of the relative_bias table (0 without one). */
  buckets: number;
}

/** Invocations per workgroup of the row-wise delta and table kernels. */
export const BACKWARD_ROW_GROUP = 64;

const STRUCT = { type: 'AttnParams', name: 'attn_params' };
const P = STRUCT.name;
const MODIFY = 'attn_bwd_modify';
const ROW_UNIFORMS: UniformField[] = [{ name: 'rows', type: 'u32' }, { name: 'lq', type: 'u32' }, { name: 'heads', type: 'u32' }, { name: 'delta_offset', type: 'u32' }];
const DELTA_OFFSET: UniformField = { name: 'delta_offset', type: 'u32' };
/** Where the relative_bias table's copy starts in the row-stats buffer; a field only of kernels with a table. */
const TABLE_OFFSET: UniformField = { name: 'table_offset', type: 'u32' };
/** The row-stats buffer's arrays: the forward pass's log-sum-exp and D, each [B, H, Lq], then the table's copy. */
const ROW_STATS_VIEWS = [{ name: 'attn_lse_at' }, { name: 'attn_delta_at', offset: DELTA_OFFSET.name }];
const TABLE_VIEW = { name: 'attn_table_at', offset: TABLE_OFFSET.name };
const TABLE_UNIFORMS: UniformField[] = [{ name: 'batch', type: 'u32' }, { name: 'lq', type: 'u32' }, { name: 'heads', type: 'u32' }];

type Extent = NonNullable<KernelBinding['extent']>;

/** Unrolled per-vec4 lines: register work is unrolled in the generator, as in the forward kernel. */
function unrolled(count: number, indent: string, line: (i: number) => string): string {
  return Array.from({ length: count }, (_, i) => indent + line(i)).join('\n');
}

/** `a[base + i] · b_i` summed over the head dim, b given per vec4 by `rhs(i)`. */
function dot(d4: number, indent: string, name: string, lhs: (i: number) => string, rhs: (i: number) => string): string {
  return `${indent}var ${name}4 = ${lhs(0)} * ${rhs(0)};\n${unrolled(d4 - 1, indent, (i) => `${name}4 = fma(${lhs(i + 1)}, ${rhs(i + 1)}, ${name}4);`)}
${indent}let ${name} = ${name}4.x + ${name}4.y + ${name}4.z + ${name}4.w;`;
}

// Score modifiers with their derivatives. The emitted function applies the modifiers exactly as the forward kernel's
// `emitModifierFunction` does (same order, same clamps, same literals) and also returns what the chain rule needs:
// the derivative of the final score with respect to the raw score `q·k * scale`, and with respect to the learned
// relative_bias table entry the pair read, with that entry's bucket. Additive modifiers (ALiBi, the
// table) have derivative 1; soft-capping multiplies every derivative taken before it by 1 − tanh²; nothing else learns.

/**
 * Emits `fn <name>(score: f32, b: u32, h: u32, q: u32, k: u32, lq: u32, lk: u32) -> vec4<f32>` returning
 * (modified score, d score / d raw score, d score / d table entry, the entry's bucket as f32); undefined without
 * modifiers (the caller then uses the raw score with derivative 1).
 */
export function emitModifierGradFunction(name: string, modifiers: readonly ScoreModifier[], heads: number, tableAt: (index: string) => string = (i) => `${SCORE_TABLE}[${i}]`): string | undefined {
  if (modifiers.length === 0) return undefined;
  const constants: string[] = [];
  const lines: string[] = [];
  if (modifiers.filter((m) => m.kind === 'relative_bias').length > 1) throw new Error('a kernel binds one relative_bias table');
  modifiers.forEach((m, i) => {
    switch (m.kind) {
      case 'alibi': {
        if (m.slopes.length !== heads) throw new Error(`ALiBi needs one slope per head: got ${m.slopes.length}, heads = ${heads}`);
        const table = `${name}_alibi_${i}`;
        constants.push(`var<private> ${table}: array<f32, ${heads}> = array<f32, ${heads}>(${m.slopes.map(f32Literal).join(', ')});`);
        lines.push(alibiWgsl(m, table));
        break;
      }
      case 'softcap': {
        if (!(m.cap > 0)) throw new Error(`soft-cap must be positive, got ${m.cap}`);
        const cap = f32Literal(m.cap);
        lines.push(
          '  {',
          `    let t = tanh(clamp(s / ${cap}, ${f32Literal(-TANH_CLAMP)}, ${f32Literal(TANH_CLAMP)}));`,
          `    s = ${cap} * t;`,
          '    let dt = 1.0 - t * t;',
          '    g = g * dt;',
          '    g_table = g_table * dt;',
          '  }',
        );
        break;
      }
      case 'relative_bias':
        if (m.heads !== heads) throw new Error(`relative_bias was built for ${m.heads} heads, the kernel has ${heads}`);
        lines.push(
          '  {',
          ...relativeBucketWgsl(m),
          `    s = s + ${tableAt(`u32(rb_bucket) * ${heads}u + h`)};`,
          '    g_table = 1.0;',
          '    bucket = f32(rb_bucket);',
          '  }',
        );
        break;
      default:
        throw new Error(`unknown score modifier ${JSON.stringify(m)}`);
    }
  });
  return [
    ...constants,
    `fn ${name}(score: f32, b: u32, h: u32, q: u32, k: u32, lq: u32, lk: u32) -> vec4<f32> {`,
    '  let sm_b = f32(b); let sm_h = f32(h); let sm_q = f32(q); let sm_k = f32(k);',
    '  let sm_lq = f32(lq); let sm_lk = f32(lk);',
    '  var s = score;',
    '  var g = 1.0;',
    '  var g_table = 0.0;',
    '  var bucket = 0.0;',
    ...lines,
    '  return vec4<f32>(s, g, g_table, bucket);',
    '}',
  ].join('\n');
}

export function generateAttentionBackward(config: AttentionBackwardConfig): AttentionBackwardKernels {
  const { headDim, heads, kvHeads, tileQ, tileK } = config;
  if (!Number.isInteger(headDim) || headDim < 4 || headDim > 256 || headDim % 4 !== 0) {
    throw new Error(`attention head dim must be a multiple of 4 between 4 and 256, got ${headDim}`);
  }
  if (!Number.isInteger(kvHeads) || kvHeads < 1 || !Number.isInteger(heads) || heads % kvHeads !== 0) {
    throw new Error(`attention kv heads (${kvHeads}) must be a positive divisor of the query heads (${heads})`);
  }
  for (const [what, t] of [['query', tileQ], ['key', tileK]] as const) {
    if (!Number.isInteger(t) || t < 1 || t > 256) throw new Error(`attention backward ${what} tile must be an integer in 1..256, got ${t}`);
  }
  const modifiers = config.modifiers ?? [];
  const scale = config.scale ?? 1 / Math.sqrt(headDim);
  const mask = config.mask ?? undefined;
  if (mask) checkMaskCode(mask.code);
  const tileHeads = mask?.perHead ? heads : 1;
  const rb = modifiers.find((m) => m.kind === 'relative_bias');
  const buckets = rb?.kind === 'relative_bias' ? rb.buckets : 0;
  const d4 = headDim / 4;

  const qRows: Extent = ({ u, grid }) => grid[2] * u.lq * heads * headDim;
  const kRows: Extent = ({ u, grid }) => grid[2] * u.lk * kvHeads * headDim;
  const rowScalars: Extent = ({ u, grid }) => grid[2] * heads * u.lq;
  const vec4 = 'vec4<f32>' as const;
  const inputs: KernelBinding[] = [
    { role: 'q', name: 'attn_q', access: 'read', element: vec4, extent: qRows },
    { role: 'k', name: 'attn_k', access: 'read', element: vec4, extent: kRows },
    { role: 'v', name: 'attn_v', access: 'read', element: vec4, extent: kRows },
    { role: 'dOut', name: 'attn_dout', access: 'read', element: vec4, extent: qRows },
    {
      role: 'rowStats',
      name: 'attn_row_stats',
      access: 'read',
      element: 'f32',
      extent: (c) => Math.max(c.u.delta_offset + rowScalars(c), rb ? c.u.table_offset + buckets * heads : 0),
      views: rb ? [...ROW_STATS_VIEWS, TABLE_VIEW] : ROW_STATS_VIEWS,
    },
    { role: 'tileClass', name: 'attn_tile_class', access: 'read', element: 'u32', extent: ({ u, grid }) => grid[2] * tileHeads * u.n_q_tiles * u.n_k_tiles },
  ];
  if (mask) {
    inputs.push(maskBinding(mask));
  }
  const walkUniforms: UniformField[] = [...ATTENTION_UNIFORMS, DELTA_OFFSET, ...(rb ? [TABLE_OFFSET] : [])];

  const header = `const ATTN_D4: u32 = ${d4}u;
const ATTN_TQ: u32 = ${tileQ}u;
const ATTN_TK: u32 = ${tileK}u;
const ATTN_EMPTY: u32 = ${TileClass.Empty}u;
const ATTN_PARTIAL: u32 = ${TileClass.Partial}u;
// The forward pass's floor: a score at or below it is masked, and an lse at or below it marks a row with no visible key.
const ATTN_VISIBLE_FLOOR: f32 = -1.0e38;
${mask ? `\n${mask.code}\n` : ''}
${emitModifierGradFunction(MODIFY, modifiers, heads, (i) => `${TABLE_VIEW.name}(${i})`) ?? ''}
`;
  const classHead = mask?.perHead ? 'b * heads + h' : 'b';
  const maskSkip = mask
    ? `if (cls == ATTN_PARTIAL && !${MASK_NAMES.predicate}(i32(b), i32(h), i32(q_pos + q_offset), i32(key + k_offset))) { continue; }`
    : '';
  // The pair's score, its derivative factor, and (with a table) the table entry's factor and bucket.
  const score = (qv: (i: number) => string, kv: (i: number) => string) => `${dot(d4, '        ', 'raw', qv, kv)}
        ${modifiers.length
          ? `let m = ${MODIFY}(raw * scale, b, h, q_pos + q_offset, key + k_offset, lq + q_offset, lk + k_offset);\n        let s = m.x;\n        let g_s = m.y;`
          : 'let s = raw * scale;\n        let g_s = 1.0;'}
        if (s <= ATTN_VISIBLE_FLOOR) { continue; }`;
  const preamble = `  let lq = ${P}.lq;
  let lk = ${P}.lk;
  let heads = ${P}.heads;
  let kv_heads = ${P}.kv_heads;
  let kv_group = ${P}.kv_group;
  let n_q_tiles = ${P}.n_q_tiles;
  let n_k_tiles = ${P}.n_k_tiles;
  let q_offset = ${P}.q_offset;
  let k_offset = ${P}.k_offset;
  let scale = ${P}.scale;`;

  const dkdv = declareKernel({
    family: 'attention-backward-dkdv',
    entryPoint: 'attn_bwd_dkdv',
    struct: STRUCT,
    uniforms: walkUniforms,
    bindings: [...inputs, { role: 'dK', name: 'attn_dk', access: 'read_write', element: vec4, extent: kRows }, { role: 'dV', name: 'attn_dv', access: 'read_write', element: vec4, extent: kRows }],
    workgroupSize: tileK,
    workgroupStorageBytes: 0,
    body: `${header}
@compute @workgroup_size(${tileK})
fn attn_bwd_dkdv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let kt = wg.x;
  let kvh = wg.y;
  let b = wg.z;
${preamble}
  let key = kt * ATTN_TK + lid;
  // No barriers anywhere, so an invocation past Lk may leave at once.
  if (key >= lk) { return; }
  let kv_base = ((b * lk + key) * kv_heads + kvh) * ATTN_D4;
${unrolled(d4, '  ', (i) => `let k_${i} = attn_k[kv_base + ${i}u];`)}
${unrolled(d4, '  ', (i) => `let v_${i} = attn_v[kv_base + ${i}u];`)}
${unrolled(d4, '  ', (i) => `var dk_${i} = vec4<f32>(0.0);`)}
${unrolled(d4, '  ', (i) => `var dv_${i} = vec4<f32>(0.0);`)}
  // Grouped-query attention: every query head of the group reads this key, so its gradient sums over them.
  for (var g = 0u; g < kv_group; g++) {
    let h = kvh * kv_group + g;
    let class_col = (${classHead}) * n_q_tiles * n_k_tiles + kt;
    for (var qt = 0u; qt < n_q_tiles; qt++) {
      let cls = attn_tile_class[class_col + qt * n_k_tiles];
      if (cls == ATTN_EMPTY) { continue; }
      let q_end = min((qt + 1u) * ATTN_TQ, lq);
      for (var q_pos = qt * ATTN_TQ; q_pos < q_end; q_pos++) {
        ${maskSkip}
        let row = (b * heads + h) * lq + q_pos;
        let lse = attn_lse_at(row);
        if (lse <= ATTN_VISIBLE_FLOOR) { continue; }
        let q_base = ((b * lq + q_pos) * heads + h) * ATTN_D4;
${score((i) => `attn_q[q_base + ${i}u]`, (i) => `k_${i}`)}
        let p = exp(s - lse);
${dot(d4, '        ', 'dp', (i) => `attn_dout[q_base + ${i}u]`, (i) => `v_${i}`)}
        let pv = vec4<f32>(p);
        let dsv = vec4<f32>(p * (dp - attn_delta_at(row)) * g_s * scale);
${unrolled(d4, '        ', (i) => `dv_${i} = fma(pv, attn_dout[q_base + ${i}u], dv_${i});`)}
${unrolled(d4, '        ', (i) => `dk_${i} = fma(dsv, attn_q[q_base + ${i}u], dk_${i});`)}
      }
    }
  }
${unrolled(d4, '  ', (i) => `attn_dk[kv_base + ${i}u] = dk_${i};`)}
${unrolled(d4, '  ', (i) => `attn_dv[kv_base + ${i}u] = dv_${i};`)}
}`,
  });

  const partRows: Extent = ({ u, grid }) => grid[2] * heads * u.lq * buckets;
  const dqOut: KernelBinding[] = [{ role: 'dQ', name: 'attn_dq', access: 'read_write', element: vec4, extent: qRows }];
  if (rb) dqOut.push({ role: 'tablePartial', name: 'attn_table_part', access: 'read_write', element: 'f32', extent: partRows });
  const dq = declareKernel({
    family: 'attention-backward-dq',
    entryPoint: 'attn_bwd_dq',
    struct: STRUCT,
    uniforms: walkUniforms,
    bindings: [...inputs, ...dqOut],
    workgroupSize: tileQ,
    workgroupStorageBytes: 0,
    body: `${header}${rb ? `const ATTN_BUCKETS: u32 = ${buckets}u;\n` : ''}
@compute @workgroup_size(${tileQ})
fn attn_bwd_dq(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let qt = wg.x;
  let h = wg.y;
  let b = wg.z;
${preamble}
  let q_pos = qt * ATTN_TQ + lid;
  if (q_pos >= lq) { return; }
  let kvh = h / kv_group;
  let row = (b * heads + h) * lq + q_pos;
  let q_base = ((b * lq + q_pos) * heads + h) * ATTN_D4;
${rb ? `  // This row's slice of the table partial sums: written by this invocation only.
  let part_base = row * ATTN_BUCKETS;
  for (var i = 0u; i < ATTN_BUCKETS; i++) { attn_table_part[part_base + i] = 0.0; }` : ''}
${unrolled(d4, '  ', (i) => `var dq_${i} = vec4<f32>(0.0);`)}
  let lse = attn_lse_at(row);
  // A row that saw no visible key has zero gradient: it skips the walk.
  if (lse > ATTN_VISIBLE_FLOOR) {
    let delta = attn_delta_at(row);
${unrolled(d4, '    ', (i) => `let q_${i} = attn_q[q_base + ${i}u];`)}
${unrolled(d4, '    ', (i) => `let do_${i} = attn_dout[q_base + ${i}u];`)}
    let class_row = ((${classHead}) * n_q_tiles + qt) * n_k_tiles;
    for (var kt = 0u; kt < n_k_tiles; kt++) {
      let cls = attn_tile_class[class_row + kt];
      if (cls == ATTN_EMPTY) { continue; }
      let k_end = min((kt + 1u) * ATTN_TK, lk);
      for (var key = kt * ATTN_TK; key < k_end; key++) {
        ${maskSkip}
        let kv_base = ((b * lk + key) * kv_heads + kvh) * ATTN_D4;
${score((i) => `q_${i}`, (i) => `attn_k[kv_base + ${i}u]`)}
        let p = exp(s - lse);
${dot(d4, '        ', 'dp', (i) => `do_${i}`, (i) => `attn_v[kv_base + ${i}u]`)}
        let ds = p * (dp - delta);
        let dsv = vec4<f32>(ds * g_s * scale);
${unrolled(d4, '        ', (i) => `dq_${i} = fma(dsv, attn_k[kv_base + ${i}u], dq_${i});`)}
${rb ? '        attn_table_part[part_base + u32(m.w)] += ds * m.z;' : ''}
      }
    }
  }
${unrolled(d4, '  ', (i) => `attn_dq[q_base + ${i}u] = dq_${i};`)}
}`,
  });

  const delta = declareKernel({
    family: 'attention-backward-delta',
    entryPoint: 'attn_bwd_delta',
    struct: STRUCT,
    uniforms: rb ? [...ROW_UNIFORMS, TABLE_OFFSET] : ROW_UNIFORMS,
    bindings: [
      { role: 'out', name: 'attn_out', access: 'read', element: vec4, extent: ({ u }) => u.rows * headDim },
      { role: 'dOut', name: 'attn_dout', access: 'read', element: vec4, extent: ({ u }) => u.rows * headDim },
      // The forward pass's lse fills the buffer's first part; this kernel writes the D view after it (and the table's copy).
      {
        role: 'rowStats',
        name: 'attn_row_stats',
        access: 'read_write',
        element: 'f32',
        extent: ({ u }) => Math.max(u.delta_offset + u.rows, rb ? u.table_offset + buckets * heads : 0),
        views: [{ name: 'attn_delta', offset: DELTA_OFFSET.name }, ...(rb ? [TABLE_VIEW] : [])],
      },
      ...(rb ? [{ role: 'scoreTable', name: SCORE_TABLE, access: 'read', element: 'f32', extent: () => buckets * heads } satisfies KernelBinding] : []),
    ],
    workgroupSize: BACKWARD_ROW_GROUP,
    workgroupStorageBytes: 0,
    body: `const ATTN_D4: u32 = ${d4}u;
// D = rowsum(dO ∘ O): rows r of [B, Lq, H], stored at [B, H, Lq] like the log-sum-exp.
@compute @workgroup_size(${BACKWARD_ROW_GROUP})
fn attn_bwd_delta(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= ${P}.rows) { return; }${rb ? `
  // The walks read the relative_bias table from the row-stats buffer: copied here, entry e by invocation e mod rows.
  for (var e = r; e < ${buckets * heads}u; e += ${P}.rows) { ${TABLE_VIEW.name}_store(e, ${SCORE_TABLE}[e]); }` : ''}
  var acc = vec4<f32>(0.0);
  for (var i = 0u; i < ATTN_D4; i++) { acc = fma(attn_out[r * ATTN_D4 + i], attn_dout[r * ATTN_D4 + i], acc); }
  let per_b = ${P}.lq * ${P}.heads;
  let b = r / per_b;
  let q = (r % per_b) / ${P}.heads;
  let h = r % ${P}.heads;
  attn_delta_store((b * ${P}.heads + h) * ${P}.lq + q, acc.x + acc.y + acc.z + acc.w);
}`,
  });

  const table = rb
    ? declareKernel({
        family: 'attention-backward-table',
        entryPoint: 'attn_bwd_table',
        struct: STRUCT,
        uniforms: TABLE_UNIFORMS,
        bindings: [
          { role: 'tablePartial', name: 'attn_table_part', access: 'read', element: 'f32', extent: ({ u }) => u.batch * heads * u.lq * buckets },
          { role: 'dTable', name: 'attn_dtable', access: 'read_write', element: 'f32', extent: () => buckets * heads },
        ],
        workgroupSize: BACKWARD_ROW_GROUP,
        workgroupStorageBytes: 0,
        body: `const ATTN_BUCKETS: u32 = ${buckets}u;
// The table gradient [buckets, heads]: one invocation per entry sums the query rows' partial sums in a fixed order.
@compute @workgroup_size(${BACKWARD_ROW_GROUP})
fn attn_bwd_table(@builtin(global_invocation_id) gid: vec3<u32>) {
  let e = gid.x;
  let heads = ${P}.heads;
  if (e >= ATTN_BUCKETS * heads) { return; }
  let bucket = e / heads;
  let h = e % heads;
  var acc = 0.0;
  for (var b = 0u; b < ${P}.batch; b++) {
    for (var q = 0u; q < ${P}.lq; q++) { acc += attn_table_part[((b * heads + h) * ${P}.lq + q) * ATTN_BUCKETS + bucket]; }
  }
  attn_dtable[e] = acc;
}`,
      })
    : undefined;

  return { delta, dkdv, dq, table, headDim, heads, kvHeads, scale, tileQ, tileK, tileHeads, mask, buckets };
}
