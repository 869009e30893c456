// The two walks of the attention backward pass (attention-backward.ts), shaped for what a CPU implementation of
// WebGPU (SwiftShader) runs well, as the register-blocked matmul tilings are (matmul-tilings.ts): no workgroup memory
// and no barriers (staging rows through workgroup memory measured slower here: the copy and the rendezvous cost more
// than the cache already saves), each invocation owning `block` rows of the output, and every row of the other side
// loaded once per step of the walk, as whole vec4s, then used by all of the invocation's rows.
//
//   dkdv  `block` key rows per invocation (a workgroup per key tile): walks the query rows of the tile column,
//         dV += P dO, dK += dS Q.
//   dq    `block` query rows per invocation (a workgroup per query tile): walks the key rows of the tile row,
//         dQ += dS K (with a relative_bias table, dS is also summed per bucket into the row's own slice of the
//         partial sums).
//
// Tile classes are read per (query tile, key tile) of the forward kernel, the same entry for the whole workgroup: an
// EMPTY tile is skipped before any of its rows is loaded; a FULL tile never evaluates the predicate; a PARTIAL tile
// evaluates it once per pair, in one branch per loaded row that the whole workgroup takes alike. Every pair then runs
// the same straight-line code: the masked ones (predicate, a row with no visible key, a score a modifier pushed to
// the floor) are selected away, so P is exactly 0 there and nothing a masked pair reads reaches a gradient. A second,
// select-free copy of that code for FULL tiles measured no faster and doubled the compile time. An invocation's rows
// past Lq or Lk compute on a clamped, in-bounds row (so the mask's data is never read past its lengths) and store
// nothing.

import { MASK_NAMES } from './names.ts';

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export interface WalkEmitInput {
  d4: number;
  tileQ: number;
  tileK: number;
  /**
   * Forward key tiles one dK/dV workgroup takes together (`keyTileMerge`): its walk's key tile is tileK · mergeK,
   * and each of its rows keeps the class of its own forward tile.
   */
  mergeK: number;
  /** Rows per invocation of each walk: blockK divides tileK · mergeK, blockQ divides tileQ. */
  blockK: number;
  blockQ: number;
  hasMask: boolean;
  hasModifiers: boolean;
  hasTable: boolean;
  classHead: string;
  /** Name of the modifier-with-derivative function (attention-backward.ts). */
  modify: string;
  unrolled: (count: number, indent: string, line: (i: number) => string) => string;
}

/**
 * Rows an invocation owns: 4 where the tile splits evenly (each loaded row then serves four, measured about 2.4× the
 * one-row walks at D = 64 on SwiftShader), fewer where it does not or where the head dim is so wide that the unrolled
 * code (rows × vec4s of the head dim) would pass 64 vec4 registers and take much longer to compile.
 */
export function walkBlock(tile: number, headDim: number): number {
  return [4, 2, 1].find((r) => tile % r === 0 && r * (headDim / 4) <= 64) ?? 1;
}

/** Key rows of the dK/dV walk's tile below which forward key tiles are taken together. */
const DKDV_MIN_KEYS = 32;

/**
 * Forward key tiles a dK/dV workgroup takes together: enough for a 32-key walk tile where the forward's key tile is
 * smaller. On the default forward's 16-key tiles a dK/dV workgroup had four invocations (one SIMD group on
 * SwiftShader); taking two tiles together measured 7–10% faster at L = 1024, B = 1, H = 8, D = 64, masked (causal)
 * or not, in one process against the one-tile walk. Taken together only where each invocation row's keys stay inside
 * one forward tile (the tile divides into whole strides of the walk), so a row's class is known when the kernel is
 * generated; the dQ walk keeps the forward's key tiles, which skip more of a band's edges.
 */
export function keyTileMerge(tileK: number, headDim: number, block?: number): number {
  for (let m = 1; m <= 4; m *= 2) {
    const walkTile = tileK * m;
    if (walkTile < DKDV_MIN_KEYS) continue;
    const rows = block ?? walkBlock(walkTile, headDim);
    if (walkTile > 256 || walkTile % rows !== 0) return 1;
    return tileK % (walkTile / rows) === 0 ? m : 1;
  }
  return 1;
}

/** `Σ lhs(i) · rhs(i)` over the head dim as one vec4 fma chain, reduced once. */
function dotChain(e: WalkEmitInput, indent: string, name: string, lhs: (i: number) => string, rhs: (i: number) => string): string {
  return `${indent}var ${name}4 = ${lhs(0)} * ${rhs(0)};
${e.unrolled(e.d4 - 1, indent, (i) => `${name}4 = fma(${lhs(i + 1)}, ${rhs(i + 1)}, ${name}4);`)}
${indent}let ${name} = dot(${name}4, vec4<f32>(1.0));`;
}

/**
 * Row r's score against the loaded row, its derivative factor `g_s_r` and `p_r`, with the masked pairs selected away
 * (`visible_r`, set by the caller from the row's lse and, on a PARTIAL tile, the predicate, then the floor here).
 */
function pairScore(e: WalkEmitInput, indent: string, r: number, q: (i: number) => string, k: (i: number) => string, qPos: string, key: string, lse: string): string {
  const modified = e.hasModifiers
    ? `${indent}let m_${r} = ${e.modify}(raw_${r} * scale, b, h, ${qPos} + q_offset, ${key} + k_offset, lq + q_offset, lk + k_offset);\n${indent}let s_${r} = m_${r}.x;\n${indent}let g_s_${r} = m_${r}.y;`
    : `${indent}let s_${r} = raw_${r} * scale;\n${indent}let g_s_${r} = 1.0;`;
  return `${dotChain(e, indent, `raw_${r}`, q, k)}
${modified}
${indent}let p_${r} = select(0.0, exp(s_${r} - ${lse}), visible_${r} && s_${r} > ATTN_VISIBLE_FLOOR);`;
}

/**
 * The rows' visibility before the floor: `init(r)`, and on a PARTIAL tile the predicate too, in one branch for all
 * the invocation's rows, taken the same way by the whole workgroup (a FULL tile never evaluates the predicate).
 */
function visibility(e: WalkEmitInput, indent: string, rows: number, init: (r: number) => string, qPos: (r: number) => string, key: (r: number) => string, rowClass?: (r: number) => string): string {
  const lines = range(rows).map((r) => `${indent}var visible_${r} = ${init(r)}${rowClass ? ` && ${rowClass(r)} != ATTN_EMPTY` : ''};`);
  if (e.hasMask) {
    lines.push(`${indent}if (cls == ATTN_PARTIAL) {`);
    for (const r of range(rows)) {
      const predicate = `${MASK_NAMES.predicate}(i32(b), i32(h), i32(${qPos(r)} + q_offset), i32(${key(r)} + k_offset))`;
      // A row whose own forward tile is FULL never evaluates the predicate, even when the tiles taken with it are not.
      lines.push(`${indent}  visible_${r} = visible_${r} && ${rowClass ? `(${rowClass(r)} == ATTN_FULL || ${predicate})` : predicate};`);
    }
    lines.push(`${indent}}`);
  }
  return lines.join('\n');
}

/**
 * The classes of the M forward key tiles of a dK/dV workgroup in query tile qt (`cls_j`; EMPTY past the last tile),
 * and the class of the whole group (`cls`): the common class where they agree, PARTIAL where they do not.
 */
function mergedClasses(M: number): string {
  const indent = '      ';
  const lines = range(M).map((j) =>
    j === 0
      ? `${indent}let cls_0 = attn_tile_class[class_col + qt * n_k_tiles];`
      : `${indent}let cls_${j} = select(ATTN_EMPTY, attn_tile_class[class_col + qt * n_k_tiles + min(${j}u, n_k_tiles - 1u - kt * ${M}u)], kt * ${M}u + ${j}u < n_k_tiles);`,
  );
  const same = range(M - 1).map((j) => `cls_${j + 1} == cls_0`).join(' && ');
  lines.push(`${indent}let cls = select(ATTN_PARTIAL, cls_0, ${same});`);
  return lines.join('\n');
}

export function emitDkdvBody(e: WalkEmitInput): string {
  const { unrolled, d4, blockK: R, mergeK: M } = e;
  const walkTile = e.tileK * M;
  const width = walkTile / R;
  const rows = (indent: string, line: (r: number) => string) => range(R).map((r) => indent + line(r)).join('\n');
  // With forward key tiles taken together, row r's keys all lie in forward tile `sub(r)` of the group (keyTileMerge).
  const sub = (r: number) => Math.floor((r * width) / e.tileK);
  const rowClass = M > 1 ? (r: number) => `cls_${sub(r)}` : undefined;
  // A row of a forward tile marked EMPTY is walked with the group's other tiles, though nothing of it may count: its
  // keys' K and V rows may hold anything (NaN included), which P = 0 alone would not keep out of dS (0 · NaN).
  const guardDs = (ds: string, r: number) => (M > 1 ? `select(0.0, ${ds}, visible_${r})` : ds);
  const pairs = (indent: string) => `${visibility(e, indent, R, () => 'lse > ATTN_VISIBLE_FLOOR', () => 'q_pos', (r) => `key_c_${r}`, rowClass)}
${unrolled(d4, indent, (i) => `let qv_${i} = attn_q[base + ${i}u];`)}
${unrolled(d4, indent, (i) => `let dov_${i} = attn_dout_at(base + ${i}u);`)}
${range(R).map((r) => `${pairScore(e, indent, r, (i) => `qv_${i}`, (i) => `k_${r}_${i}`, 'q_pos', `key_c_${r}`, 'lse')}
${dotChain(e, indent, `dp_${r}`, (i) => `dov_${i}`, (i) => `v_${r}_${i}`)}
${indent}let pv_${r} = vec4<f32>(p_${r});
${indent}let dsv_${r} = vec4<f32>(${guardDs(`p_${r} * (dp_${r} - delta) * g_s_${r} * scale`, r)});
${unrolled(d4, indent, (i) => `dv_${r}_${i} = fma(pv_${r}, dov_${i}, dv_${r}_${i});`)}
${unrolled(d4, indent, (i) => `dk_${r}_${i} = fma(dsv_${r}, qv_${i}, dk_${r}_${i});`)}`).join('\n')}`;
  const walk = `      for (var q_pos = qt * ATTN_TQ; q_pos < q_end; q_pos++) {
        let row = (b * heads + h) * lq + q_pos;
        let base = ((b * lq + q_pos) * heads + h) * ATTN_D4;
        let lse = attn_lse_at(row);
        let delta = attn_delta_at(row);
${pairs('        ')}
      }`;
  return `@compute @workgroup_size(${width})
fn attn_bwd_dkdv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let kt = wg.x;
  let kvh = wg.y;
  let b = wg.z;
ATTN_PREAMBLE
  // This invocation's keys: lid, lid + ${width}, … of the tile. Keys past Lk compute on the last key's row and store nothing.
${rows('  ', (r) => `let key_${r} = kt * ${walkTile}u + ${r * width}u + lid;`)}
${rows('  ', (r) => `let key_c_${r} = min(key_${r}, lk - 1u);`)}
${rows('  ', (r) => `let kv_base_${r} = ((b * lk + key_c_${r}) * kv_heads + kvh) * ATTN_D4;`)}
${range(R).map((r) => `${unrolled(d4, '  ', (i) => `let k_${r}_${i} = attn_k[kv_base_${r} + ${i}u];`)}
${unrolled(d4, '  ', (i) => `let v_${r}_${i} = attn_v[kv_base_${r} + ${i}u];`)}
${unrolled(d4, '  ', (i) => `var dk_${r}_${i} = vec4<f32>(0.0);`)}
${unrolled(d4, '  ', (i) => `var dv_${r}_${i} = vec4<f32>(0.0);`)}`).join('\n')}
  // Grouped-query attention: every query head of the group reads these keys, so their gradients sum over them.
  for (var g = 0u; g < kv_group; g++) {
    let h = kvh * kv_group + g;
    let class_col = (${e.classHead}) * n_q_tiles * n_k_tiles + kt${M > 1 ? ` * ${M}u` : ''};
    for (var qt = 0u; qt < n_q_tiles; qt++) {
${M > 1 ? mergedClasses(M) : '      let cls = attn_tile_class[class_col + qt * n_k_tiles];'}
      if (cls == ATTN_EMPTY) { continue; }
      let q_end = min((qt + 1u) * ATTN_TQ, lq);
${walk}
    }
  }
${range(R).map((r) => `  if (key_${r} < lk) {
${unrolled(d4, '    ', (i) => `attn_dk[kv_base_${r} + ${i}u] = dk_${r}_${i};`)}
${unrolled(d4, '    ', (i) => `attn_dv[kv_base_${r} + ${i}u] = dv_${r}_${i};`)}
  }`).join('\n')}
}`;
}

export function emitDqBody(e: WalkEmitInput): string {
  const { unrolled, d4, blockQ: R } = e;
  const width = e.tileQ / R;
  const rows = (indent: string, line: (r: number) => string) => range(R).map((r) => indent + line(r)).join('\n');
  const pairs = (indent: string) => `${visibility(e, indent, R, (r) => `live_${r}`, (r) => `q_c_${r}`, () => 'key')}
${unrolled(d4, indent, (i) => `let kv_${i} = attn_k[base + ${i}u];`)}
${unrolled(d4, indent, (i) => `let vv_${i} = attn_v[base + ${i}u];`)}
${range(R).map((r) => `${pairScore(e, indent, r, (i) => `q_${r}_${i}`, (i) => `kv_${i}`, `q_c_${r}`, 'key', `lse_${r}`)}
${dotChain(e, indent, `dp_${r}`, (i) => `do_${r}_${i}`, (i) => `vv_${i}`)}
${indent}let ds_${r} = p_${r} * (dp_${r} - delta_${r});
${indent}let dsv_${r} = vec4<f32>(ds_${r} * g_s_${r} * scale);
${unrolled(d4, indent, (i) => `dq_${r}_${i} = fma(dsv_${r}, kv_${i}, dq_${r}_${i});`)}${e.hasTable ? `\n${indent}if (q_in_${r}) { attn_table_part[part_base_${r} + u32(m_${r}.w)] += ds_${r} * m_${r}.z; }` : ''}`).join('\n')}`;
  const walk = `    for (var key = kt * ATTN_TK; key < k_end; key++) {
      let base = ((b * lk + key) * kv_heads + kvh) * ATTN_D4;
${pairs('      ')}
    }`;
  return `@compute @workgroup_size(${width})
fn attn_bwd_dq(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let qt = wg.x;
  let h = wg.y;
  let b = wg.z;
ATTN_PREAMBLE
  let kvh = h / kv_group;
  // This invocation's query rows: lid, lid + ${width}, … of the tile. Rows past Lq compute on the last row and store nothing.
${range(R).map((r) => `  let q_pos_${r} = qt * ATTN_TQ + ${r * width}u + lid;
  let q_in_${r} = q_pos_${r} < lq;
  let q_c_${r} = min(q_pos_${r}, lq - 1u);
  let row_${r} = (b * heads + h) * lq + q_c_${r};
  let q_base_${r} = ((b * lq + q_c_${r}) * heads + h) * ATTN_D4;${e.hasTable ? `
  // This row's slice of the table partial sums: written by this invocation only.
  let part_base_${r} = row_${r} * ATTN_BUCKETS;
  if (q_in_${r}) { for (var i = 0u; i < ATTN_BUCKETS; i++) { attn_table_part[part_base_${r} + i] = 0.0; } }` : ''}
${unrolled(d4, '  ', (i) => `var dq_${r}_${i} = vec4<f32>(0.0);`)}
  let lse_${r} = attn_lse_at(row_${r});
  let delta_${r} = attn_delta_at(row_${r});
  // A row that saw no visible key has zero gradient: every one of its pairs is selected away.
  let live_${r} = lse_${r} > ATTN_VISIBLE_FLOOR;
${unrolled(d4, '  ', (i) => `let q_${r}_${i} = attn_q[q_base_${r} + ${i}u];`)}
${unrolled(d4, '  ', (i) => `let do_${r}_${i} = attn_dout_at(q_base_${r} + ${i}u);`)}`).join('\n')}
  let class_row = ((${e.classHead}) * n_q_tiles + qt) * n_k_tiles;
  for (var kt = 0u; kt < n_k_tiles; kt++) {
    let cls = attn_tile_class[class_row + kt];
    if (cls == ATTN_EMPTY) { continue; }
    let k_end = min((kt + 1u) * ATTN_TK, lk);
${walk}
  }
${rows('  ', (r) => `if (q_in_${r}) {\n${unrolled(d4, '    ', (i) => `attn_dq[q_base_${r} + ${i}u] = dq_${r}_${i};`)}\n  }`)}
}`;
}
