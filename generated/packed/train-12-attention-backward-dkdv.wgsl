struct AttnParams {
  lq: u32,
  lk: u32,
  n_q_tiles: u32,
  n_k_tiles: u32,
  heads: u32,
  kv_heads: u32,
  kv_group: u32,
  scale: f32,
  q_offset: u32,
  k_offset: u32,
  delta_offset: u32,
  dout_offset: u32,
}
@group(0) @binding(0) var<uniform> attn_params: AttnParams;
@group(0) @binding(1) var<storage, read> attn_q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> attn_k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> attn_v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read> attn_row_stats: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> attn_tile_class: array<u32>;
@group(0) @binding(6) var<storage, read> mask_table: array<i32>;
@group(0) @binding(7) var<storage, read_write> attn_dk: array<vec4<f32>>;
@group(0) @binding(8) var<storage, read_write> attn_dv: array<vec4<f32>>;
fn attn_dout_at(i: u32) -> vec4<f32> { return attn_row_stats[attn_params.dout_offset + i]; }
fn mask_params(i: u32) -> i32 { return mask_table[i]; }
fn mask_data(i: u32) -> i32 { return mask_table[2u + i]; }
const ATTN_D4: u32 = 4u;
const ATTN_TQ: u32 = 32u;
const ATTN_TK: u32 = 64u;
const ATTN_EMPTY: u32 = 0u;
const ATTN_PARTIAL: u32 = 1u;
// The forward pass's floor: a score at or below it is masked, and an lse at or below it marks a row with no visible key.
const ATTN_VISIBLE_FLOOR: f32 = -1.0e38;
fn attn_lse_at(i: u32) -> f32 { let j = i; return attn_row_stats[j >> 2u][j & 3u]; }
fn attn_delta_at(i: u32) -> f32 { let j = attn_params.delta_offset + i; return attn_row_stats[j >> 2u][j & 3u]; }

fn mdl_mask(b: i32, h: i32, q: i32, k: i32) -> bool {
  return ((mask_data(u32(mask_params(0u) + b * mask_params(1u) + q)) == mask_data(u32(mask_params(0u) + b * mask_params(1u) + k))) && (k <= q));
}



const ATTN_QS: u32 = 32u;
var<workgroup> attn_q_tile: array<vec4<f32>, 128>;
var<workgroup> attn_do_tile: array<vec4<f32>, 128>;
var<workgroup> attn_lse_tile: array<f32, 32>;
var<workgroup> attn_delta_tile: array<f32, 32>;

@compute @workgroup_size(64)
fn attn_bwd_dkdv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let kt = wg.x;
  let kvh = wg.y;
  let b = wg.z;
  let lq = attn_params.lq;
  let lk = attn_params.lk;
  let heads = attn_params.heads;
  let kv_heads = attn_params.kv_heads;
  let kv_group = attn_params.kv_group;
  let n_q_tiles = attn_params.n_q_tiles;
  let n_k_tiles = attn_params.n_k_tiles;
  let q_offset = attn_params.q_offset;
  let k_offset = attn_params.k_offset;
  let scale = attn_params.scale;
  let key = kt * ATTN_TK + lid;
  // Keys past Lk take part in the staging and the barriers, on the last key's row, and store nothing.
  let key_c = min(key, lk - 1u);
  let kv_base = ((b * lk + key_c) * kv_heads + kvh) * ATTN_D4;
  let k_0 = attn_k[kv_base + 0u];
  let k_1 = attn_k[kv_base + 1u];
  let k_2 = attn_k[kv_base + 2u];
  let k_3 = attn_k[kv_base + 3u];
  let v_0 = attn_v[kv_base + 0u];
  let v_1 = attn_v[kv_base + 1u];
  let v_2 = attn_v[kv_base + 2u];
  let v_3 = attn_v[kv_base + 3u];
  var dk_0 = vec4<f32>(0.0);
  var dk_1 = vec4<f32>(0.0);
  var dk_2 = vec4<f32>(0.0);
  var dk_3 = vec4<f32>(0.0);
  var dv_0 = vec4<f32>(0.0);
  var dv_1 = vec4<f32>(0.0);
  var dv_2 = vec4<f32>(0.0);
  var dv_3 = vec4<f32>(0.0);
  // Grouped-query attention: every query head of the group reads this key, so its gradient sums over them.
  for (var g = 0u; g < kv_group; g++) {
    let h = kvh * kv_group + g;
    let class_col = (b) * n_q_tiles * n_k_tiles + kt;
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
        if (cls != ATTN_PARTIAL && n == ATTN_QS) {
          for (var j = 0u; j < ATTN_QS; j++) {
            let base = j * ATTN_D4;
            let lse = attn_lse_tile[j];
            var raw4 = attn_q_tile[base + 0u] * k_0;
            raw4 = fma(attn_q_tile[base + 1u], k_1, raw4);
            raw4 = fma(attn_q_tile[base + 2u], k_2, raw4);
            raw4 = fma(attn_q_tile[base + 3u], k_3, raw4);
            let raw = dot(raw4, vec4<f32>(1.0));
            let s = raw * scale;
            let g_s = 1.0;
            let p = exp(s - lse);
            var dp4 = attn_do_tile[base + 0u] * v_0;
            dp4 = fma(attn_do_tile[base + 1u], v_1, dp4);
            dp4 = fma(attn_do_tile[base + 2u], v_2, dp4);
            dp4 = fma(attn_do_tile[base + 3u], v_3, dp4);
            let dp = dot(dp4, vec4<f32>(1.0));
            let pv = vec4<f32>(p);
            let dsv = vec4<f32>(p * (dp - attn_delta_tile[j]) * g_s * scale);
            dv_0 = fma(pv, attn_do_tile[base + 0u], dv_0);
            dv_1 = fma(pv, attn_do_tile[base + 1u], dv_1);
            dv_2 = fma(pv, attn_do_tile[base + 2u], dv_2);
            dv_3 = fma(pv, attn_do_tile[base + 3u], dv_3);
            dk_0 = fma(dsv, attn_q_tile[base + 0u], dk_0);
            dk_1 = fma(dsv, attn_q_tile[base + 1u], dk_1);
            dk_2 = fma(dsv, attn_q_tile[base + 2u], dk_2);
            dk_3 = fma(dsv, attn_q_tile[base + 3u], dk_3);
          }
        } else {
          for (var j = 0u; j < n; j++) {
            let q_pos = q0 + j;
            let base = j * ATTN_D4;
            let lse = attn_lse_tile[j];
            var visible = attn_lse_tile[j] > ATTN_VISIBLE_FLOOR;
            if (visible && cls == ATTN_PARTIAL) { visible = mdl_mask(i32(b), i32(h), i32(q_pos + q_offset), i32(key_c + k_offset)); }
            var raw4 = attn_q_tile[base + 0u] * k_0;
            raw4 = fma(attn_q_tile[base + 1u], k_1, raw4);
            raw4 = fma(attn_q_tile[base + 2u], k_2, raw4);
            raw4 = fma(attn_q_tile[base + 3u], k_3, raw4);
            let raw = dot(raw4, vec4<f32>(1.0));
            let s = raw * scale;
            let g_s = 1.0;
            visible = visible && s > ATTN_VISIBLE_FLOOR;
            let p = select(0.0, exp(s - lse), visible);
            var dp4 = attn_do_tile[base + 0u] * v_0;
            dp4 = fma(attn_do_tile[base + 1u], v_1, dp4);
            dp4 = fma(attn_do_tile[base + 2u], v_2, dp4);
            dp4 = fma(attn_do_tile[base + 3u], v_3, dp4);
            let dp = dot(dp4, vec4<f32>(1.0));
            let pv = vec4<f32>(p);
            let dsv = vec4<f32>(p * (dp - attn_delta_tile[j]) * g_s * scale);
            dv_0 = fma(pv, attn_do_tile[base + 0u], dv_0);
            dv_1 = fma(pv, attn_do_tile[base + 1u], dv_1);
            dv_2 = fma(pv, attn_do_tile[base + 2u], dv_2);
            dv_3 = fma(pv, attn_do_tile[base + 3u], dv_3);
            dk_0 = fma(dsv, attn_q_tile[base + 0u], dk_0);
            dk_1 = fma(dsv, attn_q_tile[base + 1u], dk_1);
            dk_2 = fma(dsv, attn_q_tile[base + 2u], dk_2);
            dk_3 = fma(dsv, attn_q_tile[base + 3u], dk_3);
          }
        }
        // The next sub-tile overwrites the staged rows.
        workgroupBarrier();
      }
    }
  }
  if (key < lk) {
    attn_dk[kv_base + 0u] = dk_0;
    attn_dk[kv_base + 1u] = dk_1;
    attn_dk[kv_base + 2u] = dk_2;
    attn_dk[kv_base + 3u] = dk_3;
    attn_dv[kv_base + 0u] = dv_0;
    attn_dv[kv_base + 1u] = dv_1;
    attn_dv[kv_base + 2u] = dv_2;
    attn_dv[kv_base + 3u] = dv_3;
  }
}
