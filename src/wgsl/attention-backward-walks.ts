// The two walks of the attention backward pass (attention-backward.ts), in the row-wise shape that made the forward
// kernel fast on a CPU implementation of WebGPU (attention-rowwise.ts): one row per invocation, the other side's rows
// staged in workgroup memory a sub-tile at a time, two barriers per sub-tile, and no per-pair branch on a FULL tile.
//
//   dkdv  one key row per invocation (a workgroup per key tile): each query sub-tile's Q and dO rows, with their lse
//         and D, are staged, and every invocation runs over them: dV += P dO, dK += dS Q.
//   dq    one query row per invocation (a workgroup per query tile): each key sub-tile's K and V rows are staged, and
//         every invocation runs over them: dQ += dS K (with a relative_bias table, dS is also summed per bucket into
//         the row's own slice of the partial sums).
//
// Tile classes are read per (query tile, key tile) of the forward kernel and are uniform across the workgroup, so the
// barriers stay uniform: an EMPTY tile is skipped before any of its rows is loaded; a FULL tile whose staged rows lie
// wholly inside the lengths runs with no predicate and no select (without score modifiers: a modifier may push a
// score to the floor); a PARTIAL or ragged tile computes every pair and selects the masked ones away, so P is exactly
// 0 there and nothing a masked pair reads can reach a gradient. Rows past Lq or Lk read a clamped, in-bounds row
// (so the mask's data is never read past its lengths) and store nothing.

import { MASK_NAMES } from './names.ts';

export interface WalkEmitInput {
  d4: number;
  tileQ: number;
  tileK: number;
  /** Rows staged per barrier pair: dkdv stages queries, dq stages keys. */
  stagedQ: number;
  stagedK: number;
  hasMask: boolean;
  hasModifiers: boolean;
  hasTable: boolean;
  classHead: string;
  /** Name of the modifier-with-derivative function (attention-backward.ts). */
  modify: string;
  unrolled: (count: number, indent: string, line: (i: number) => string) => string;
}

/** Bytes of workgroup memory each walk stages: two vec4 tiles, and for dkdv the staged rows' lse and D. */
export function walkWorkgroupBytes(headDim: number, staged: number, withRowStats: boolean): number {
  return 2 * staged * headDim * 4 + (withRowStats ? 2 * staged * 4 : 0);
}

/** The most rows (a power of two, at most `tile`) whose staged tiles fit `limit` bytes. */
export function stagedRows(headDim: number, tile: number, withRowStats: boolean, limit: number): number {
  let n = 1;
  while (n * 2 <= tile && walkWorkgroupBytes(headDim, n * 2, withRowStats) <= limit) n *= 2;
  return n;
}

/** `Σ lhs(i) · rhs(i)` over the head dim as one vec4 fma chain, reduced once. */
function dotChain(e: WalkEmitInput, indent: string, name: string, lhs: (i: number) => string, rhs: (i: number) => string, decl = 'let'): string {
  return `${indent}var ${name}4 = ${lhs(0)} * ${rhs(0)};
${e.unrolled(e.d4 - 1, indent, (i) => `${name}4 = fma(${lhs(i + 1)}, ${rhs(i + 1)}, ${name}4);`)}
${indent}${decl} ${name} = dot(${name}4, vec4<f32>(1.0));`;
}

/** The pair's score and its derivative factor, then P: plainly on a FULL tile, with selects elsewhere. */
function pairScore(e: WalkEmitInput, indent: string, plain: boolean, q: (i: number) => string, k: (i: number) => string, qPos: string, key: string, visibleInit: string): string {
  const raw = dotChain(e, indent, 'raw', q, k);
  if (plain) return `${raw}\n${indent}let s = raw * scale;\n${indent}let g_s = 1.0;\n${indent}let p = exp(s - lse);`;
  const predicate = e.hasMask ? `\n${indent}if (visible && cls == ATTN_PARTIAL) { visible = ${MASK_NAMES.predicate}(i32(b), i32(h), i32(${qPos} + q_offset), i32(${key} + k_offset)); }` : '';
  const modified = e.hasModifiers
    ? `${indent}let m = ${e.modify}(raw * scale, b, h, ${qPos} + q_offset, ${key} + k_offset, lq + q_offset, lk + k_offset);\n${indent}let s = m.x;\n${indent}let g_s = m.y;`
    : `${indent}let s = raw * scale;\n${indent}let g_s = 1.0;`;
  return `${indent}var visible = ${visibleInit};${predicate}
${raw}
${modified}
${indent}visible = visible && s > ATTN_VISIBLE_FLOOR;
${indent}let p = select(0.0, exp(s - lse), visible);`;
}

export function emitDkdvBody(e: WalkEmitInput): string {
  const { unrolled, d4 } = e;
  const pairs = (plain: boolean, indent: string) => `${pairScore(e, indent, plain, (i) => `attn_q_tile[base + ${i}u]`, (i) => `k_${i}`, 'q_pos', 'key_c', 'attn_lse_tile[j] > ATTN_VISIBLE_FLOOR')}
${dotChain(e, indent, 'dp', (i) => `attn_do_tile[base + ${i}u]`, (i) => `v_${i}`)}
${indent}let pv = vec4<f32>(p);
${indent}let dsv = vec4<f32>(p * (dp - attn_delta_tile[j]) * g_s * scale);
${unrolled(d4, indent, (i) => `dv_${i} = fma(pv, attn_do_tile[base + ${i}u], dv_${i});`)}
${unrolled(d4, indent, (i) => `dk_${i} = fma(dsv, attn_q_tile[base + ${i}u], dk_${i});`)}`;
  return `const ATTN_QS: u32 = ${e.stagedQ}u;
var<workgroup> attn_q_tile: array<vec4<f32>, ${e.stagedQ * d4}>;
var<workgroup> attn_do_tile: array<vec4<f32>, ${e.stagedQ * d4}>;
var<workgroup> attn_lse_tile: array<f32, ${e.stagedQ}>;
var<workgroup> attn_delta_tile: array<f32, ${e.stagedQ}>;

@compute @workgroup_size(${e.tileK})
fn attn_bwd_dkdv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let kt = wg.x;
  let kvh = wg.y;
  let b = wg.z;
ATTN_PREAMBLE
  let key = kt * ATTN_TK + lid;
  // Keys past Lk take part in the staging and the barriers, on the last key's row, and store nothing.
  let key_c = min(key, lk - 1u);
  let kv_base = ((b * lk + key_c) * kv_heads + kvh) * ATTN_D4;
${unrolled(d4, '  ', (i) => `let k_${i} = attn_k[kv_base + ${i}u];`)}
${unrolled(d4, '  ', (i) => `let v_${i} = attn_v[kv_base + ${i}u];`)}
${unrolled(d4, '  ', (i) => `var dk_${i} = vec4<f32>(0.0);`)}
${unrolled(d4, '  ', (i) => `var dv_${i} = vec4<f32>(0.0);`)}
  // Grouped-query attention: every query head of the group reads this key, so its gradient sums over them.
  for (var g = 0u; g < kv_group; g++) {
    let h = kvh * kv_group + g;
    let class_col = (${e.classHead}) * n_q_tiles * n_k_tiles + kt;
    for (var qt = 0u; qt < n_q_tiles; qt++) {
      let cls = attn_tile_class[class_col + qt * n_k_tiles];
      if (cls == ATTN_EMPTY) { continue; }
      let q_end = min((qt + 1u) * ATTN_TQ, lq);
      for (var q0 = qt * ATTN_TQ; q0 < q_end; q0 += ATTN_QS) {
        let n = min(ATTN_QS, q_end - q0);
        for (var idx = lid; idx < ATTN_QS * ATTN_D4; idx += ATTN_TK) {
          let row_pos = min(q0 + idx / ATTN_D4, lq - 1u);
          let at = ((b * lq + row_pos) * heads + h) * ATTN_D4 + idx % ATTN_D4;
          attn_q_tile[idx] = attn_q[at];
          attn_do_tile[idx] = attn_dout_at(at);
        }
        for (var j = lid; j < ATTN_QS; j += ATTN_TK) {
          let row = (b * heads + h) * lq + min(q0 + j, lq - 1u);
          attn_lse_tile[j] = attn_lse_at(row);
          attn_delta_tile[j] = attn_delta_at(row);
        }
        workgroupBarrier();
        if (${e.hasModifiers ? 'false' : 'cls != ATTN_PARTIAL && n == ATTN_QS'}) {
          for (var j = 0u; j < ATTN_QS; j++) {
            let base = j * ATTN_D4;
            let lse = attn_lse_tile[j];
${pairs(true, '            ')}
          }
        } else {
          for (var j = 0u; j < n; j++) {
            let q_pos = q0 + j;
            let base = j * ATTN_D4;
            let lse = attn_lse_tile[j];
${pairs(false, '            ')}
          }
        }
        // The next sub-tile overwrites the staged rows.
        workgroupBarrier();
      }
    }
  }
  if (key < lk) {
${unrolled(d4, '    ', (i) => `attn_dk[kv_base + ${i}u] = dk_${i};`)}
${unrolled(d4, '    ', (i) => `attn_dv[kv_base + ${i}u] = dv_${i};`)}
  }
}`;
}

export function emitDqBody(e: WalkEmitInput): string {
  const { unrolled, d4 } = e;
  const plainOk = !e.hasModifiers;
  const pairs = (plain: boolean, indent: string) => `${pairScore(e, indent, plain, (i) => `q_${i}`, (i) => `attn_k_tile[base + ${i}u]`, 'q_c', 'key', 'live')}
${dotChain(e, indent, 'dp', (i) => `do_${i}`, (i) => `attn_v_tile[base + ${i}u]`)}
${indent}let ds = p * (dp - delta);
${indent}let dsv = vec4<f32>(ds * g_s * scale);
${unrolled(d4, indent, (i) => `dq_${i} = fma(dsv, attn_k_tile[base + ${i}u], dq_${i});`)}${!plain && e.hasTable ? `\n${indent}if (q_in) { attn_table_part[part_base + u32(m.w)] += ds * m.z; }` : ''}`;
  return `const ATTN_KS: u32 = ${e.stagedK}u;
var<workgroup> attn_k_tile: array<vec4<f32>, ${e.stagedK * d4}>;
var<workgroup> attn_v_tile: array<vec4<f32>, ${e.stagedK * d4}>;

@compute @workgroup_size(${e.tileQ})
fn attn_bwd_dq(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let qt = wg.x;
  let h = wg.y;
  let b = wg.z;
ATTN_PREAMBLE
  let q_pos = qt * ATTN_TQ + lid;
  // Rows past Lq take part in the staging and the barriers, on the last row, and store nothing.
  let q_in = q_pos < lq;
  let q_c = min(q_pos, lq - 1u);
  let kvh = h / kv_group;
  let row = (b * heads + h) * lq + q_c;
  let q_base = ((b * lq + q_c) * heads + h) * ATTN_D4;
${e.hasTable ? `  // This row's slice of the table partial sums: written by this invocation only.
  let part_base = row * ATTN_BUCKETS;
  if (q_in) { for (var i = 0u; i < ATTN_BUCKETS; i++) { attn_table_part[part_base + i] = 0.0; } }` : ''}
${unrolled(d4, '  ', (i) => `var dq_${i} = vec4<f32>(0.0);`)}
  let lse = attn_lse_at(row);
  let delta = attn_delta_at(row);
  // A row that saw no visible key has zero gradient: every one of its pairs is selected away.
  let live = lse > ATTN_VISIBLE_FLOOR;
${unrolled(d4, '  ', (i) => `let q_${i} = attn_q[q_base + ${i}u];`)}
${unrolled(d4, '  ', (i) => `let do_${i} = attn_dout_at(q_base + ${i}u);`)}
  let class_row = ((${e.classHead}) * n_q_tiles + qt) * n_k_tiles;
  for (var kt = 0u; kt < n_k_tiles; kt++) {
    let cls = attn_tile_class[class_row + kt];
    if (cls == ATTN_EMPTY) { continue; }
    let k_end = min((kt + 1u) * ATTN_TK, lk);
    for (var k0 = kt * ATTN_TK; k0 < k_end; k0 += ATTN_KS) {
      let n = min(ATTN_KS, k_end - k0);
      for (var idx = lid; idx < ATTN_KS * ATTN_D4; idx += ATTN_TQ) {
        let at = ((b * lk + min(k0 + idx / ATTN_D4, lk - 1u)) * kv_heads + kvh) * ATTN_D4 + idx % ATTN_D4;
        attn_k_tile[idx] = attn_k[at];
        attn_v_tile[idx] = attn_v[at];
      }
      workgroupBarrier();
      // A FULL tile's rows all see a key, so a row past Lq is the only one the plain path computes in vain.
      if (${plainOk ? 'cls != ATTN_PARTIAL && n == ATTN_KS' : 'false'}) {
        for (var j = 0u; j < ATTN_KS; j++) {
          let base = j * ATTN_D4;
${pairs(true, '          ')}
        }
      } else {
        for (var j = 0u; j < n; j++) {
          let key = k0 + j;
          let base = j * ATTN_D4;
${pairs(false, '          ')}
        }
      }
      // The next sub-tile overwrites the staged rows.
      workgroupBarrier();
    }
  }
  if (q_in) {
${unrolled(d4, '    ', (i) => `attn_dq[q_base + ${i}u] = dq_${i};`)}
  }
}`;
}
