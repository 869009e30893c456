// The fused masked-attention backward pass, FlashAttention-2 style.
//
// The forward kernel (attention.ts, with `lse`) keeps each query row's log-sum-exp; the backward pass recomputes the
// probabilities P = exp(s − lse) pair by pair instead of storing them, in three kernels (four with a learned table):
//   delta   D[b, h, q] = rowsum(dO ∘ O), one invocation per query row;
//   dkdv    a workgroup per (key tile, kv head, batch row) — two or four of the forward's key tiles where those are
//           narrower than 32 keys (`keyTileMerge`) — a few keys per invocation, walking the query tiles of every
//           query head of its group: dV += P dO, dK += dS Q · scale, with dS = P (dP − D) · (modifier derivative);
//   dq      a workgroup per (query tile, head, batch row), a few queries per invocation, walking the key tiles:
//           dQ += dS K · scale. With relative_bias it also sums dS per bucket into its own row's slice of a
//           [B, H, Lq, buckets] buffer, which `table` then reduces per (bucket, head) in a fixed order.
// Every output element is written by exactly one invocation, so no float atomics are needed and results are
// deterministic; no buffer is Lq × Lk.
//
// Both walks (attention-backward-walks.ts: one row per invocation, the other side's rows staged in workgroup memory)
// read the forward pass's tile-class buffer [B, Hc, nQT, nKT]: dq reads a row of it, dkdv a column. EMPTY tiles are
// skipped before anything of them is read, FULL tiles skip the predicate, PARTIAL tiles evaluate `mdl_mask`. A pair
// counts exactly when the forward pass counted it (same predicate, same modifiers, same floor), and a row the forward
// pass saw no visible key in (lse at the masked sentinel) gets zero gradient.
//
// Layouts (f32): Q, O, dO, dQ [B, Lq, H, D]; K, V, dK, dV [B, Lk, kvHeads, D]; lse, D [B, H, Lq]. The walks read
// lse, D, a copy of dO and a copy of the relative_bias table through one row-stats binding (`rowStatsLayout`; the
// forward kernel writes lse from element 0, the delta kernel the rest, reading dO and the table anyway), so each walk
// binds at most eight storage buffers: WebGPU's default limit.

import { TileClass, type MaskWgsl } from '../masks/kernel-contract.ts';
import { ATTENTION_UNIFORMS, type AttentionHeads } from './attention.ts';
import { declareKernel, type Kernel, type KernelBinding, type UniformField } from './kernel.ts';
import { checkMaskCode, maskBinding } from './names.ts';
import { emitDkdvBody, emitDqBody, keyTileMerge, walkBlock, type WalkEmitInput } from './attention-backward-walks.ts';
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
  /** Rows each walk's invocation owns, dividing both tiles; by default `walkBlock` of each tile. */
  block?: number;
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
  /** Forward key tiles each dK/dV workgroup takes (`keyTileMerge`): its dispatch is ceil(key tiles / this) along x. */
  keyTilesPerGroup: number;
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
const DELTA_OFFSET: UniformField = { name: 'delta_offset', type: 'u32' };
/** Where the walks' copy of dO starts in the row-stats buffer, in vec4s. */
const DOUT_OFFSET: UniformField = { name: 'dout_offset', type: 'u32' };
/** The same place in scalars, for the delta kernel that writes it. */
const DOUT_COPY_OFFSET: UniformField = { name: 'dout_copy_offset', type: 'u32' };
const ROW_UNIFORMS: UniformField[] = [{ name: 'rows', type: 'u32' }, { name: 'lq', type: 'u32' }, { name: 'heads', type: 'u32' }, DELTA_OFFSET, DOUT_COPY_OFFSET];
/** Where the relative_bias table's copy starts in the row-stats buffer; a field only of kernels with a table. */
const TABLE_OFFSET: UniformField = { name: 'table_offset', type: 'u32' };
const TABLE_VIEW = { name: 'attn_table_at', offset: TABLE_OFFSET.name };

/**
 * The row-stats buffer's layout, in f32 elements, for `rows` = B·H·Lq query rows: lse (the forward kernel writes it
 * from element 0), D, two rows of padding so that dO's copy starts on a vec4, that copy ([B, Lq, H, D]), then the
 * relative_bias table's copy. All offsets are linear in the rows; the lowering and the runner both use this.
 */
export function rowStatsLayout(headDim: number): { delta: (rows: number) => number; dOut4: (rows: number) => number; table: (rows: number) => number; elements: (rows: number, tableEntries: number) => number } {
  return {
    delta: (rows) => rows,
    dOut4: (rows) => rows,
    table: (rows) => rows * (4 + headDim),
    elements: (rows, tableEntries) => rows * (4 + headDim) + tableEntries,
  };
}

const TABLE_UNIFORMS: UniformField[] = [{ name: 'batch', type: 'u32' }, { name: 'lq', type: 'u32' }, { name: 'heads', type: 'u32' }];

type Extent = NonNullable<KernelBinding['extent']>;

/** Unrolled per-vec4 lines: register work is unrolled in the generator, as in the forward kernel. */
function unrolled(count: number, indent: string, line: (i: number) => string): string {
  return Array.from({ length: count }, (_, i) => indent + line(i)).join('\n');
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
  if (config.block !== undefined && !(Number.isInteger(config.block) && config.block >= 1 && tileQ % config.block === 0 && tileK % config.block === 0)) {
    throw new Error(`attention backward rows per invocation must divide both tiles (${tileQ}, ${tileK}), got ${config.block}`);
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
  // The walks read lse, D, dO's copy and the table's copy through one binding: with Q, K, V, the tile classes and the
  // mask's table that is six inputs, so each walk binds eight storage buffers at most (WebGPU's default limit).
  const rowStatsExtent: Extent = (c) => Math.max(c.u.delta_offset + rowScalars(c), 4 * c.u.dout_offset + qRows(c), rb ? c.u.table_offset + buckets * heads : 0);
  const inputs: KernelBinding[] = [
    { role: 'q', name: 'attn_q', access: 'read', element: vec4, extent: qRows },
    { role: 'k', name: 'attn_k', access: 'read', element: vec4, extent: kRows },
    { role: 'v', name: 'attn_v', access: 'read', element: vec4, extent: kRows },
    { role: 'rowStats', name: 'attn_row_stats', access: 'read', element: vec4, extent: rowStatsExtent, views: [{ name: 'attn_dout_at', offset: DOUT_OFFSET.name }] },
    { role: 'tileClass', name: 'attn_tile_class', access: 'read', element: 'u32', extent: ({ u, grid }) => grid[2] * tileHeads * u.n_q_tiles * u.n_k_tiles },
  ];
  if (mask) {
    inputs.push(maskBinding(mask));
  }
  const walkUniforms: UniformField[] = [...ATTENTION_UNIFORMS, DELTA_OFFSET, DOUT_OFFSET, ...(rb ? [TABLE_OFFSET] : [])];
  // Scalars of the vec4 row-stats binding.
  const scalarAt = (name: string, offset?: string) =>
    `fn ${name}(i: u32) -> f32 { let j = ${offset ? `${P}.${offset} + ` : ''}i; return attn_row_stats[j >> 2u][j & 3u]; }`;
  const accessors = [scalarAt('attn_lse_at'), scalarAt('attn_delta_at', DELTA_OFFSET.name), ...(rb ? [scalarAt(TABLE_VIEW.name, TABLE_OFFSET.name)] : [])].join('\n');

  const header = `const ATTN_D4: u32 = ${d4}u;
const ATTN_TQ: u32 = ${tileQ}u;
const ATTN_TK: u32 = ${tileK}u;
const ATTN_EMPTY: u32 = ${TileClass.Empty}u;
const ATTN_PARTIAL: u32 = ${TileClass.Partial}u;
const ATTN_FULL: u32 = ${TileClass.Full}u;
// The forward pass's floor: a score at or below it is masked, and an lse at or below it marks a row with no visible key.
const ATTN_VISIBLE_FLOOR: f32 = -1.0e38;
${accessors}
${mask ? `\n${mask.code}\n` : ''}
${emitModifierGradFunction(MODIFY, modifiers, heads, (i) => `${TABLE_VIEW.name}(${i})`) ?? ''}
`;
  const classHead = mask?.perHead ? 'b * heads + h' : 'b';
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

  const mergeK = keyTileMerge(tileK, headDim, config.block);
  const walk: WalkEmitInput = {
    d4, tileQ, tileK, mergeK, unrolled, classHead, modify: MODIFY,
    blockK: config.block ?? walkBlock(tileK * mergeK, headDim),
    blockQ: config.block ?? walkBlock(tileQ, headDim),
    hasMask: !!mask, hasModifiers: modifiers.length > 0, hasTable: !!rb,
  };
  const dkdv = declareKernel({
    family: 'attention-backward-dkdv',
    entryPoint: 'attn_bwd_dkdv',
    struct: STRUCT,
    uniforms: walkUniforms,
    bindings: [...inputs, { role: 'dK', name: 'attn_dk', access: 'read_write', element: vec4, extent: kRows }, { role: 'dV', name: 'attn_dv', access: 'read_write', element: vec4, extent: kRows }],
    workgroupSize: (tileK * mergeK) / walk.blockK,
    workgroupStorageBytes: 0,
    body: `${header}\n${emitDkdvBody(walk).replace('ATTN_PREAMBLE', preamble)}`,
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
    workgroupSize: tileQ / walk.blockQ,
    workgroupStorageBytes: 0,
    body: `${header}${rb ? `const ATTN_BUCKETS: u32 = ${buckets}u;\n` : ''}\n${emitDqBody(walk).replace('ATTN_PREAMBLE', preamble)}`,
  });

  const delta = declareKernel({
    family: 'attention-backward-delta',
    entryPoint: 'attn_bwd_delta',
    struct: STRUCT,
    uniforms: rb ? [...ROW_UNIFORMS, TABLE_OFFSET] : ROW_UNIFORMS,
    bindings: [
      { role: 'out', name: 'attn_out', access: 'read', element: vec4, extent: ({ u }) => u.rows * headDim },
      { role: 'dOut', name: 'attn_dout', access: 'read', element: vec4, extent: ({ u }) => u.rows * headDim },
      // The forward pass's lse fills the buffer's first part; this kernel writes D, dO's copy and the table's copy.
      {
        role: 'rowStats',
        name: 'attn_row_stats',
        access: 'read_write',
        element: 'f32',
        extent: ({ u }) => Math.max(u.delta_offset + u.rows, u.dout_copy_offset + u.rows * headDim, rb ? u.table_offset + buckets * heads : 0),
        views: [{ name: 'attn_delta', offset: DELTA_OFFSET.name }, { name: 'attn_dout_copy', offset: DOUT_COPY_OFFSET.name }, ...(rb ? [TABLE_VIEW] : [])],
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
  // The walks read dO from the row-stats buffer (one binding fewer each): copied here, where it is read anyway.
  for (var i = 0u; i < ATTN_D4; i++) {
    let d_out = attn_dout[r * ATTN_D4 + i];
    acc = fma(attn_out[r * ATTN_D4 + i], d_out, acc);
    for (var c = 0u; c < 4u; c++) { attn_dout_copy_store((r * ATTN_D4 + i) * 4u + c, d_out[c]); }
  }
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

  return { delta, dkdv, dq, table, headDim, heads, kvHeads, scale, tileQ, tileK, keyTilesPerGroup: mergeK, tileHeads, mask, buckets };
}
