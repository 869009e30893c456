// The fused masked-attention kernel generator.
//
// One workgroup computes one (query tile, head, batch row): it walks the key axis tile by tile, stages each K and V
// tile in workgroup memory, computes the tile's scores, applies the mask predicate and the score modifiers, and folds
// the tile into a running (max, sum, output) triple — the online softmax. Scores exist only per tile, so no Lq × Lk
// score or mask buffer is ever materialised.
//
// Tile classes (`TileClass` in the kernel contract) steer the walk: an EMPTY tile is skipped before its K/V rows are
// loaded, a FULL tile skips the predicate, a PARTIAL tile evaluates `mdl_mask` per pair. Positions past Lq / Lk are
// masked independently of the class, so the classifier may ignore ragged edges.
//
// Memory layouts (f32, row-major, innermost last):
//   Q   [B, Lq, H, D]        K, V [B, Lk, kvHeads, D]        out [B, Lq, H, D]
//   tile classes  u32 [B, Hc, nQT, nKT]   (Hc = H for a per-head mask, else 1; nQT = ceil(Lq/Tq), nKT = ceil(Lk/Tk))
// Query head h reads kv head floor(h / (H / kvHeads)) (grouped-query / multi-query attention).
//
// Threads: each query row is served by `lanes` threads. In the score phase lane j computes the scores of keys
// j, j + lanes, ...; in the accumulation phase lane j owns output vec4s j, j + lanes, ... of the row. Each lane reads
// the whole score row from workgroup memory to get the row max and sum itself, which costs a few redundant exps but
// saves a cross-lane reduction and its barrier.

import { TileClass, type MaskWgsl } from '../masks/kernel-contract.ts';
import { ATTN_NAMES as N, MASK_NAMES, checkMaskCode, maskBinding } from './names.ts';
import { chooseTiles, DEFAULT_KERNEL_LIMITS, workgroupBytes, type KernelLimits, type TileOverrides } from './attention-tiles.ts';
import { emitRowwiseKernel, modifyScoreCall, nonEmptyTileRange, stageKeyTile } from './attention-rowwise.ts';
import { emitSplitDecodeKernel } from './attention-split-decode.ts';
import { emitSubgroupRowwiseKernel, SUBGROUP_BUILTINS } from './attention-subgroups.ts';
import { declarations, packUniforms, type Kernel, type KernelBinding, type UniformField } from './kernel.ts';
import { emitModifierFunction, f32Literal, needsScoreTable, SCORE_TABLE, type ScoreModifier } from './score-modifiers.ts';

// The tile choice lives in attention-tiles.ts; callers take it from here with the generator.
export { chooseTiles, decodeTiles, DEFAULT_KERNEL_LIMITS, splitKeyTiles, workgroupBytes, type KernelLimits, type TileShape } from './attention-tiles.ts';

/**
 * The head layout of an attention site: what the kernels, the CPU references, the tuner and the schedule all describe
 * an attention by. Query head h reads key/value head floor(h / (heads / kvHeads)).
 */
export interface AttentionHeads {
  heads: number;
  kvHeads: number;
  headDim: number;
}

/** A whole attention problem: the head layout with the batch and the query and key lengths. */
export interface AttentionShape extends AttentionHeads {
  batch: number;
  lq: number;
  lk: number;
}

export interface AttentionKernelConfig extends AttentionHeads {
  /** The compiled mask; absent means every in-range pair is visible. */
  mask?: MaskWgsl | null;
  modifiers?: readonly ScoreModifier[];
  /** Multiplies q·k before the modifiers; default 1/sqrt(headDim). */
  scale?: number;
  limits?: KernelLimits;
  /** Tile overrides (tests use them to force many tiles); validated against the limits like the defaults. */
  tiles?: TileOverrides;
  /** Also write each query row's log-sum-exp of its visible scores (`lse`, [B, H, Lq]) for the backward pass. */
  lse?: boolean;
  /** Each batch row's own window (`row_window`, see ROW_WINDOW) in place of the uniforms': rows at different positions. */
  rowWindows?: boolean;
}

/**
 * The per-row window of attention and tile classification when the rows of a batch sit at different positions
 * (decoding with a cache): for batch row b, entries 3b, 3b + 1, 3b + 2 are its q_offset, k_offset and key count,
 * which replace the uniforms of those names; the uniforms' lk is then the largest key count (it sizes the tiles).
 */
export const ROW_WINDOW = { role: 'rowWindow', name: 'row_window', stride: 3 } as const;

/** What an attention kernel's code depends on besides its tiles: the tuner keys its results by it. */
export type AttentionKernelShape = AttentionHeads & Pick<AttentionKernelConfig, 'mask' | 'modifiers'>;

export type AttentionBindingRole = 'q' | 'k' | 'v' | 'out' | 'tileClass' | 'mask' | 'scoreTable' | 'lse' | 'rowWindow';

/**
 * The uniform block: lengths, tile counts, head counts and the scale are uniforms, so sites that differ only in
 * those share one pipeline. Rows q and k of the buffers are positions q + q_offset and k + k_offset of the whole
 * sequence (both 0 unless decoding with a cache).
 */
export const ATTENTION_UNIFORMS: readonly UniformField[] = [
  ...['lq', 'lk', 'n_q_tiles', 'n_k_tiles', 'heads', 'kv_heads', 'kv_group'].map((name) => ({ name, type: 'u32' as const })),
  { name: 'scale', type: 'f32' },
  { name: 'q_offset', type: 'u32' },
  { name: 'k_offset', type: 'u32' },
];

/**
 * The forward kernel's block adds `kv_rows`, the rows each batch row of K and V holds: Lk in a full pass, and the
 * cache's capacity when decoding a batch, so every row's keys stay where they were appended while Lk counts those in use.
 */
export const FORWARD_ATTENTION_UNIFORMS: readonly UniformField[] = [...ATTENTION_UNIFORMS, { name: 'kv_rows', type: 'u32' }];

export interface AttentionKernel extends Kernel, AttentionHeads {
  scale: number;
  tileQ: number;
  tileK: number;
  lanes: number;
  /** K/V tiles staged in workgroup memory (see `chooseTiles`). */
  staged: boolean;
  /** The row-wise shape (attention-rowwise.ts). */
  rowwise?: boolean;
  /** The row-wise shape with K/V shared through subgroup operations (attention-subgroups.ts): needs `subgroups`. */
  subgroups?: boolean;
  /** The split-key decode shape (attention-split-decode.ts): one query row, `lanes` invocations over its keys. */
  splitKeys?: boolean;
  /** Heads the tile-class buffer distinguishes: H for a per-head mask, else 1. */
  tileHeads: number;
  hasMask: boolean;
  /** The mask spliced into the kernel; the runtime packs its table (parameter slots, then data) from it. */
  mask?: MaskWgsl;
  bindings: (KernelBinding & { role: AttentionBindingRole })[];
}

export interface AttentionGrid {
  qTiles: number;
  kTiles: number;
  /** Workgroups along x (query tiles), y (heads), z (batch). */
  dispatch: [number, number, number];
  /** Entries of the tile-class buffer: B * tileHeads * qTiles * kTiles. */
  tileClassCount: number;
}

export function attentionGrid(kernel: AttentionKernel, batch: number, lq: number, lk: number): AttentionGrid {
  const qTiles = Math.ceil(lq / kernel.tileQ);
  const kTiles = Math.ceil(lk / kernel.tileK);
  return {
    qTiles,
    kTiles,
    dispatch: [qTiles, kernel.heads, batch],
    tileClassCount: batch * kernel.tileHeads * qTiles * kTiles,
  };
}

/** The uniform values of one dispatch, by field name (see `ATTENTION_UNIFORMS`). */
export function attentionUniforms(kernel: Pick<AttentionKernel, 'heads' | 'kvHeads' | 'scale'>, grid: Pick<AttentionGrid, 'qTiles' | 'kTiles'>, lq: number, lk: number, offsets = { q: 0, k: 0 }): Record<string, number> {
  return {
    lq,
    lk,
    n_q_tiles: grid.qTiles,
    n_k_tiles: grid.kTiles,
    heads: kernel.heads,
    kv_heads: kernel.kvHeads,
    kv_group: kernel.heads / kernel.kvHeads,
    scale: kernel.scale,
    q_offset: offsets.q,
    k_offset: offsets.k,
  };
}

/** The forward kernel's uniform block of one dispatch, packed (K and V hold Lk rows per batch row). */
export function attentionParams(kernel: AttentionKernel, grid: AttentionGrid, lq: number, lk: number, offsets = { q: 0, k: 0 }): Uint32Array {
  return packUniforms(kernel.uniforms, { ...attentionUniforms(kernel, grid, lq, lk, offsets), kv_rows: lk });
}

function checkShape(c: AttentionKernelConfig): void {
  const { headDim, heads, kvHeads } = c;
  if (!Number.isInteger(headDim) || headDim < 4 || headDim > 256 || headDim % 4 !== 0) {
    throw new Error(`attention head dim must be a multiple of 4 between 4 and 256, got ${headDim}`);
  }
  if (!Number.isInteger(heads) || heads < 1) throw new Error(`attention heads must be a positive integer, got ${heads}`);
  if (!Number.isInteger(kvHeads) || kvHeads < 1 || heads % kvHeads !== 0) {
    throw new Error(`attention kv heads (${kvHeads}) must be a positive divisor of the query heads (${heads})`);
  }
}

export function generateAttentionKernel(config: AttentionKernelConfig): AttentionKernel {
  checkShape(config);
  const { headDim, heads, kvHeads } = config;
  const limits = config.limits ?? DEFAULT_KERNEL_LIMITS;
  const { tileQ, tileK, lanes, staged, rowwise, subgroups, splitKeys } = chooseTiles(headDim, limits, config.tiles);
  const scale = config.scale ?? 1 / Math.sqrt(headDim);
  const mask = config.mask ?? undefined;
  if (mask) checkMaskCode(mask.code);
  const tileHeads = mask?.perHead ? heads : 1;
  const modifierFn = emitModifierFunction(N.modifyScore, config.modifiers ?? [], heads);

  // Rows of Q and the output, and of K and V, the grid's batch (z) times the lengths.
  const qRows = ({ u, grid }: { u: Record<string, number>; grid: number[] }) => grid[2] * u.lq * heads * headDim;
  const kRows = ({ u, grid }: { u: Record<string, number>; grid: number[] }) => grid[2] * u.kv_rows * kvHeads * headDim;
  const vec4 = 'vec4<f32>' as const;
  const bindings: AttentionKernel['bindings'] = [
    { role: 'q', name: N.q, access: 'read', element: vec4, extent: qRows },
    { role: 'k', name: N.k, access: 'read', element: vec4, extent: kRows },
    { role: 'v', name: N.v, access: 'read', element: vec4, extent: kRows },
    { role: 'out', name: N.out, access: 'read_write', element: vec4, extent: qRows },
    { role: 'tileClass', name: N.tileClass, access: 'read', element: 'u32', extent: ({ u, grid }) => grid[2] * tileHeads * u.n_q_tiles * u.n_k_tiles },
  ];
  if (mask) {
    bindings.push(maskBinding(mask));
  }
  // A learned score table (relative_bias) takes the next binding.
  const table = (config.modifiers ?? []).find((m) => m.kind === 'relative_bias');
  if (needsScoreTable(config.modifiers ?? [])) {
    const extent = table?.kind === 'relative_bias' ? () => table.buckets * table.heads : undefined;
    bindings.push({ role: 'scoreTable', name: SCORE_TABLE, access: 'read', element: 'f32', extent });
  }
  // The log-sum-exp output goes last, so kernels that do not write it keep their bindings (and code) unchanged.
  if (config.lse) bindings.push({ role: 'lse', name: N.lse, access: 'read_write', element: 'f32', extent: ({ u, grid }) => grid[2] * heads * u.lq });
  if (config.rowWindows) bindings.push({ role: ROW_WINDOW.role, name: ROW_WINDOW.name, access: 'read', element: 'u32', extent: ({ grid }) => grid[2] * ROW_WINDOW.stride });
  const declared = declarations({ struct: { type: N.paramsStruct, name: N.params }, uniforms: [...FORWARD_ATTENTION_UNIFORMS], bindings });

  const d4 = headDim / 4;
  const workgroupSize = tileQ * lanes;
  const input: EmitInput = {
    d4, tileQ, tileK, lanes, workgroupSize, perHeadClasses: !!mask?.perHead,
    maskCode: mask?.code, modifierFn, declared, lse: !!config.lse, rowWindows: !!config.rowWindows,
  };
  const wgsl = splitKeys
    ? emitSplitDecodeKernel({ ...input, header: kernelHeader(input), preamble: entryPreamble(input), unrolled })
    : rowwise
    ? (subgroups ? emitSubgroupRowwiseKernel : emitRowwiseKernel)({ ...input, header: kernelHeader(input), preamble: entryPreamble(input, subgroups ? SUBGROUP_BUILTINS : ''), lseStore: lseStore(input, '    '), unrolled })
    : (staged ? emitKernel : emitUnstagedKernel)(input);
  return {
    family: 'attention',
    wgsl,
    uniforms: [...FORWARD_ATTENTION_UNIFORMS],
    entryPoint: N.entryPoint,
    headDim,
    heads,
    kvHeads,
    scale,
    tileQ,
    tileK,
    lanes,
    workgroupSize,
    workgroupStorageBytes: workgroupBytes(headDim, tileQ, tileK, staged, rowwise, subgroups, splitKeys ? lanes : 0),
    staged,
    ...(rowwise ? { rowwise: true } : {}),
    ...(subgroups ? { subgroups: true } : {}),
    ...(splitKeys ? { splitKeys: true } : {}),
    tileHeads,
    hasMask: !!mask,
    mask,
    bindings,
  };
}

interface EmitInput {
  d4: number;
  tileQ: number;
  tileK: number;
  lanes: number;
  workgroupSize: number;
  perHeadClasses: boolean;
  maskCode?: string;
  modifierFn?: string;
  /** The uniform struct and the bindings, generated from the kernel's description. */
  declared: string;
  lse: boolean;
  rowWindows: boolean;
}

/** Stores the row's log-sum-exp (`m + log l`), or the masked sentinel for a row that saw no visible key. */
function lseStore(e: EmitInput, indent: string): string {
  return e.lse ? `\n${indent}${N.lse}[(b * heads + h) * lq + q_pos] = select(ATTN_MASKED, m_run + log(l_run), l_run > 0.0);` : '';
}

/** `count` lines made by `line(i)`, joined with the given indentation. Register work is unrolled here, in the
 * generator: per-thread arrays indexed in loops cost SwiftShader seconds of compile time and slow gathers. */
function unrolled(count: number, indent: string, line: (i: number) => string): string {
  return Array.from({ length: count }, (_, i) => indent + line(i)).join('\n');
}

/** Constants, the uniform block, bindings, the mask and the score modifiers: shared by both kernel shapes. */
function kernelHeader(e: EmitInput): string {
  return `// Fused masked attention (generated). Layouts: Q/out [B, Lq, H, D], K/V [B, Lk, KVH, D], f32.
const ATTN_D4: u32 = ${e.d4}u;
const ATTN_TQ: u32 = ${e.tileQ}u;
const ATTN_TK: u32 = ${e.tileK}u;
const ATTN_LANES: u32 = ${e.lanes}u;
const ATTN_WG: u32 = ${e.workgroupSize}u;
const ATTN_EMPTY: u32 = ${TileClass.Empty}u;
const ATTN_PARTIAL: u32 = ${TileClass.Partial}u;
// Masked scores are stored as a finite sentinel: WGSL has no infinity literal, and finite values keep max/exp exact.
// A score a modifier pushes to or below the floor (a -inf bias, say) therefore counts as masked, as on the CPU.
const ATTN_MASKED: f32 = -3.0e38;
const ATTN_VISIBLE_FLOOR: f32 = -1.0e38;

${e.declared}
${e.maskCode ? `
${e.maskCode}
` : ''}
${e.modifierFn ?? ''}

`;
}

/**
 * The entry point's signature and the values both kernel shapes read first: where the workgroup is, and the uniforms.
 * `builtins` adds parameters (the subgroup form's lane id and subgroup size).
 */
function entryPreamble(e: EmitInput, builtins = ''): string {
  return `@compute @workgroup_size(${e.workgroupSize})
fn ${N.entryPoint}(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32${builtins ? `, ${builtins}` : ''}) {
  let qt = wg.x;
  let h = wg.y;
  let b = wg.z;
  let lq = ${N.params}.lq;
  let lk = ${e.rowWindows ? `${ROW_WINDOW.name}[b * ${ROW_WINDOW.stride}u + 2u]` : `${N.params}.lk`};
  let heads = ${N.params}.heads;
  let kv_heads = ${N.params}.kv_heads;
  let n_k_tiles = ${N.params}.n_k_tiles;
  let q_offset = ${e.rowWindows ? `${ROW_WINDOW.name}[b * ${ROW_WINDOW.stride}u]` : `${N.params}.q_offset`};
  let k_offset = ${e.rowWindows ? `${ROW_WINDOW.name}[b * ${ROW_WINDOW.stride}u + 1u]` : `${N.params}.k_offset`};
  let kv_rows = ${N.params}.kv_rows;
`;
}

/**
 * The unstaged kernel: one invocation per query row, keys and values read straight from storage, the online softmax
 * updated key by key. No workgroup memory and no barriers, so an invocation skips its masked keys on its own; tile
 * classes still skip EMPTY tiles for the whole workgroup and spare FULL tiles the predicate.
 */
function emitUnstagedKernel(e: EmitInput): string {
  const maskTest = e.maskCode
    ? `if (cls == ATTN_PARTIAL && !${MASK_NAMES.predicate}(i32(b), i32(h), i32(q_pos + q_offset), i32(key + k_offset))) { continue; }`
    : '';
  const modify = modifyScoreCall(e.modifierFn);
  return `${kernelHeader(e)}
${entryPreamble(e)}  let q_pos = qt * ATTN_TQ + lid;
  if (q_pos >= lq) { return; }
  let kvh = h / ${N.params}.kv_group;

  let q_base = ((b * lq + q_pos) * heads + h) * ATTN_D4;
  let scale = ${N.params}.scale;
${unrolled(e.d4, '  ', (i) => `let q_${i} = ${N.q}[q_base + ${i}u] * scale;`)}

${unrolled(e.d4, '  ', (j) => `var acc_${j} = vec4<f32>(0.0);`)}
  var m_run = ATTN_MASKED;
  var l_run = 0.0;
  let class_base = ((${e.perHeadClasses ? 'b * heads + h' : 'b'}) * ${N.params}.n_q_tiles + qt) * n_k_tiles;

  for (var kt = 0u; kt < n_k_tiles; kt++) {
    let cls = ${N.tileClass}[class_base + kt];
    if (cls == ATTN_EMPTY) { continue; }
    let k_end = min((kt + 1u) * ATTN_TK, lk);
    for (var key = kt * ATTN_TK; key < k_end; key++) {
      ${maskTest}
      let kv_base = ((b * kv_rows + key) * kv_heads + kvh) * ATTN_D4;
      var dot4 = q_0 * ${N.k}[kv_base];
${unrolled(e.d4 - 1, '      ', (i) => `dot4 = fma(q_${i + 1}, ${N.k}[kv_base + ${i + 1}u], dot4);`)}
      var s = dot4.x + dot4.y + dot4.z + dot4.w;
      ${modify}
      // A score a modifier pushed to the floor counts as masked, as in the staged kernel.
      if (s <= ATTN_VISIBLE_FLOOR) { continue; }
      if (s > m_run) {
        let alpha = exp(m_run - s);
        l_run = l_run * alpha;
${unrolled(e.d4, '        ', (j) => `acc_${j} = acc_${j} * alpha;`)}
        m_run = s;
      }
      let p = exp(s - m_run);
      l_run = l_run + p;
      let pv = vec4<f32>(p);
${unrolled(e.d4, '      ', (j) => `acc_${j} = fma(pv, ${N.v}[kv_base + ${j}u], acc_${j});`)}
    }
  }

  // A row that saw no visible key has l_run = 0 and outputs exact zeros.
  let inv = select(0.0, 1.0 / l_run, l_run > 0.0);
  let o_base = ((b * lq + q_pos) * heads + h) * ATTN_D4;
${unrolled(e.d4, '  ', (j) => `${N.out}[o_base + ${j}u] = acc_${j} * inv;`)}${lseStore(e, '  ')}
}
`;
}

function emitKernel(e: EmitInput): string {
  const accVecs = Math.ceil(e.d4 / e.lanes);
  // Lane `lane` owns output vec4s lane, lane + LANES, ...; the last may fall past the row when lanes do not divide D/4.
  const lastPartial = e.d4 % e.lanes !== 0;
  const owned = (j: number, body: string) =>
    lastPartial && j === accVecs - 1 ? `if (lane + ${j * e.lanes}u < ATTN_D4) { ${body} }` : body;
  const maskTest = e.maskCode
    ? `if (visible && cls == ATTN_PARTIAL) { visible = ${MASK_NAMES.predicate}(i32(b), i32(h), i32(q_pos + q_offset), i32(key + k_offset)); }`
    : '';
  const modify = modifyScoreCall(e.modifierFn);
  return `${kernelHeader(e)}var<workgroup> ${N.kTile}: array<vec4<f32>, ${e.tileK * e.d4}>;
var<workgroup> ${N.vTile}: array<vec4<f32>, ${e.tileK * e.d4}>;
var<workgroup> ${N.scores}: array<f32, ${e.tileQ * e.tileK}>;

${entryPreamble(e)}  let row = lid / ATTN_LANES;
  let lane = lid % ATTN_LANES;
  let q_pos = qt * ATTN_TQ + row;
  let q_in = q_pos < lq;
  let kvh = h / ${N.params}.kv_group;

  // The query row, pre-scaled. Rows past Lq read row Lq - 1 (always in bounds) and are masked below.
  let q_base = ((b * lq + min(q_pos, lq - 1u)) * heads + h) * ATTN_D4;
  let scale = ${N.params}.scale;
${unrolled(e.d4, '  ', (i) => `let q_${i} = ${N.q}[q_base + ${i}u] * scale;`)}

${unrolled(accVecs, '  ', (j) => `var acc_${j} = vec4<f32>(0.0);`)}
  var m_run = ATTN_MASKED;
  var l_run = 0.0;
  let class_base = ((${e.perHeadClasses ? 'b * heads + h' : 'b'}) * ${N.params}.n_q_tiles + qt) * n_k_tiles;
  let score_row = row * ATTN_TK;
${nonEmptyTileRange('  ')}

  for (var kt = kt_first; kt < kt_end; kt++) {
    // Uniform across the workgroup (every invocation reads the same entry), so skipping keeps barriers uniform.
    let cls = ${N.tileClass}[class_base + kt];
    if (cls == ATTN_EMPTY) { continue; }
    let k_start = kt * ATTN_TK;

${stageKeyTile()}
    for (var kk = lane; kk < ATTN_TK; kk += ATTN_LANES) {
      let key = k_start + kk;
      var visible = q_in && key < lk;
      ${maskTest}
      var s = ATTN_MASKED;
      if (visible) {
        let k_base = kk * ATTN_D4;
        var dot4 = q_0 * ${N.kTile}[k_base];
${unrolled(e.d4 - 1, '        ', (i) => `dot4 = fma(q_${i + 1}, ${N.kTile}[k_base + ${i + 1}u], dot4);`)}
        s = dot4.x + dot4.y + dot4.z + dot4.w;
        ${modify}
      }
      ${N.scores}[score_row + kk] = s;
    }
    workgroupBarrier();

    var m_tile = ATTN_MASKED;
    for (var kk = 0u; kk < ATTN_TK; kk++) { m_tile = max(m_tile, ${N.scores}[score_row + kk]); }
    if (m_tile > ATTN_VISIBLE_FLOOR) {
      let m_new = max(m_run, m_tile);
      let alpha = exp(m_run - m_new);
      l_run = l_run * alpha;
${unrolled(accVecs, '      ', (j) => `acc_${j} = acc_${j} * alpha;`)}
      for (var kk = 0u; kk < ATTN_TK; kk++) {
        let s = ${N.scores}[score_row + kk];
        // Skipping masked keys (rather than multiplying by 0) keeps NaN/Inf in masked V rows out of the output.
        if (s > ATTN_VISIBLE_FLOOR) {
          let p = vec4<f32>(exp(s - m_new));
          l_run = l_run + p.x;
          let v_base = kk * ATTN_D4 + lane;
${unrolled(accVecs, '          ', (j) => owned(j, `acc_${j} = fma(p, ${N.vTile}[v_base + ${j * e.lanes}u], acc_${j});`))}
        }
      }
      m_run = m_new;
    }
    // The next tile overwrites K, V and the scores.
    workgroupBarrier();
  }

  if (q_in) {
    // A row that saw no visible key has l_run = 0 and outputs exact zeros.
    let inv = select(0.0, 1.0 / l_run, l_run > 0.0);
    let o_base = ((b * lq + q_pos) * heads + h) * ATTN_D4 + lane;
${unrolled(accVecs, '    ', (j) => owned(j, `${N.out}[o_base + ${j * e.lanes}u] = acc_${j} * inv;`))}${e.lse ? `\n    if (lane == 0u) {${lseStore(e, '      ')}\n    }` : ''}
  }
}
`;
}
