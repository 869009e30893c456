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
const ATTN_FULL: u32 = 2u;
// The forward pass's floor: a score at or below it is masked, and an lse at or below it marks a row with no visible key.
const ATTN_VISIBLE_FLOOR: f32 = -1.0e38;
fn attn_lse_at(i: u32) -> f32 { let j = i; return attn_row_stats[j >> 2u][j & 3u]; }
fn attn_delta_at(i: u32) -> f32 { let j = attn_params.delta_offset + i; return attn_row_stats[j >> 2u][j & 3u]; }

fn mdl_mask(b: i32, h: i32, q: i32, k: i32) -> bool {
  return (mask_data(u32(mask_params(0u) + b * mask_params(1u) + k)) != 0);
}



@compute @workgroup_size(16)
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
  // This invocation's keys: lid, lid + 16, … of the tile. Keys past Lk compute on the last key's row and store nothing.
  let key_0 = kt * 64u + 0u + lid;
  let key_1 = kt * 64u + 16u + lid;
  let key_2 = kt * 64u + 32u + lid;
  let key_3 = kt * 64u + 48u + lid;
  let key_c_0 = min(key_0, lk - 1u);
  let key_c_1 = min(key_1, lk - 1u);
  let key_c_2 = min(key_2, lk - 1u);
  let key_c_3 = min(key_3, lk - 1u);
  let kv_base_0 = ((b * lk + key_c_0) * kv_heads + kvh) * ATTN_D4;
  let kv_base_1 = ((b * lk + key_c_1) * kv_heads + kvh) * ATTN_D4;
  let kv_base_2 = ((b * lk + key_c_2) * kv_heads + kvh) * ATTN_D4;
  let kv_base_3 = ((b * lk + key_c_3) * kv_heads + kvh) * ATTN_D4;
  let k_0_0 = attn_k[kv_base_0 + 0u];
  let k_0_1 = attn_k[kv_base_0 + 1u];
  let k_0_2 = attn_k[kv_base_0 + 2u];
  let k_0_3 = attn_k[kv_base_0 + 3u];
  let v_0_0 = attn_v[kv_base_0 + 0u];
  let v_0_1 = attn_v[kv_base_0 + 1u];
  let v_0_2 = attn_v[kv_base_0 + 2u];
  let v_0_3 = attn_v[kv_base_0 + 3u];
  var dk_0_0 = vec4<f32>(0.0);
  var dk_0_1 = vec4<f32>(0.0);
  var dk_0_2 = vec4<f32>(0.0);
  var dk_0_3 = vec4<f32>(0.0);
  var dv_0_0 = vec4<f32>(0.0);
  var dv_0_1 = vec4<f32>(0.0);
  var dv_0_2 = vec4<f32>(0.0);
  var dv_0_3 = vec4<f32>(0.0);
  let k_1_0 = attn_k[kv_base_1 + 0u];
  let k_1_1 = attn_k[kv_base_1 + 1u];
  let k_1_2 = attn_k[kv_base_1 + 2u];
  let k_1_3 = attn_k[kv_base_1 + 3u];
  let v_1_0 = attn_v[kv_base_1 + 0u];
  let v_1_1 = attn_v[kv_base_1 + 1u];
  let v_1_2 = attn_v[kv_base_1 + 2u];
  let v_1_3 = attn_v[kv_base_1 + 3u];
  var dk_1_0 = vec4<f32>(0.0);
  var dk_1_1 = vec4<f32>(0.0);
  var dk_1_2 = vec4<f32>(0.0);
  var dk_1_3 = vec4<f32>(0.0);
  var dv_1_0 = vec4<f32>(0.0);
  var dv_1_1 = vec4<f32>(0.0);
  var dv_1_2 = vec4<f32>(0.0);
  var dv_1_3 = vec4<f32>(0.0);
  let k_2_0 = attn_k[kv_base_2 + 0u];
  let k_2_1 = attn_k[kv_base_2 + 1u];
  let k_2_2 = attn_k[kv_base_2 + 2u];
  let k_2_3 = attn_k[kv_base_2 + 3u];
  let v_2_0 = attn_v[kv_base_2 + 0u];
  let v_2_1 = attn_v[kv_base_2 + 1u];
  let v_2_2 = attn_v[kv_base_2 + 2u];
  let v_2_3 = attn_v[kv_base_2 + 3u];
  var dk_2_0 = vec4<f32>(0.0);
  var dk_2_1 = vec4<f32>(0.0);
  var dk_2_2 = vec4<f32>(0.0);
  var dk_2_3 = vec4<f32>(0.0);
  var dv_2_0 = vec4<f32>(0.0);
  var dv_2_1 = vec4<f32>(0.0);
  var dv_2_2 = vec4<f32>(0.0);
  var dv_2_3 = vec4<f32>(0.0);
  let k_3_0 = attn_k[kv_base_3 + 0u];
  let k_3_1 = attn_k[kv_base_3 + 1u];
  let k_3_2 = attn_k[kv_base_3 + 2u];
  let k_3_3 = attn_k[kv_base_3 + 3u];
  let v_3_0 = attn_v[kv_base_3 + 0u];
  let v_3_1 = attn_v[kv_base_3 + 1u];
  let v_3_2 = attn_v[kv_base_3 + 2u];
  let v_3_3 = attn_v[kv_base_3 + 3u];
  var dk_3_0 = vec4<f32>(0.0);
  var dk_3_1 = vec4<f32>(0.0);
  var dk_3_2 = vec4<f32>(0.0);
  var dk_3_3 = vec4<f32>(0.0);
  var dv_3_0 = vec4<f32>(0.0);
  var dv_3_1 = vec4<f32>(0.0);
  var dv_3_2 = vec4<f32>(0.0);
  var dv_3_3 = vec4<f32>(0.0);
  // Grouped-query attention: every query head of the group reads these keys, so their gradients sum over them.
  for (var g = 0u; g < kv_group; g++) {
    let h = kvh * kv_group + g;
    let class_col = (b) * n_q_tiles * n_k_tiles + kt;
    for (var qt = 0u; qt < n_q_tiles; qt++) {
      let cls = attn_tile_class[class_col + qt * n_k_tiles];
      if (cls == ATTN_EMPTY) { continue; }
      let q_end = min((qt + 1u) * ATTN_TQ, lq);
      for (var q_pos = qt * ATTN_TQ; q_pos < q_end; q_pos++) {
        let row = (b * heads + h) * lq + q_pos;
        let base = ((b * lq + q_pos) * heads + h) * ATTN_D4;
        let lse = attn_lse_at(row);
        let delta = attn_delta_at(row);
        var visible_0 = lse > ATTN_VISIBLE_FLOOR;
        var visible_1 = lse > ATTN_VISIBLE_FLOOR;
        var visible_2 = lse > ATTN_VISIBLE_FLOOR;
        var visible_3 = lse > ATTN_VISIBLE_FLOOR;
        if (cls == ATTN_PARTIAL) {
          visible_0 = visible_0 && mdl_mask(i32(b), i32(h), i32(q_pos + q_offset), i32(key_c_0 + k_offset));
          visible_1 = visible_1 && mdl_mask(i32(b), i32(h), i32(q_pos + q_offset), i32(key_c_1 + k_offset));
          visible_2 = visible_2 && mdl_mask(i32(b), i32(h), i32(q_pos + q_offset), i32(key_c_2 + k_offset));
          visible_3 = visible_3 && mdl_mask(i32(b), i32(h), i32(q_pos + q_offset), i32(key_c_3 + k_offset));
        }
        let qv_0 = attn_q[base + 0u];
        let qv_1 = attn_q[base + 1u];
        let qv_2 = attn_q[base + 2u];
        let qv_3 = attn_q[base + 3u];
        let dov_0 = attn_dout_at(base + 0u);
        let dov_1 = attn_dout_at(base + 1u);
        let dov_2 = attn_dout_at(base + 2u);
        let dov_3 = attn_dout_at(base + 3u);
        var raw_04 = qv_0 * k_0_0;
        raw_04 = fma(qv_1, k_0_1, raw_04);
        raw_04 = fma(qv_2, k_0_2, raw_04);
        raw_04 = fma(qv_3, k_0_3, raw_04);
        let raw_0 = dot(raw_04, vec4<f32>(1.0));
        let s_0 = raw_0 * scale;
        let g_s_0 = 1.0;
        let p_0 = select(0.0, exp(s_0 - lse), visible_0 && s_0 > ATTN_VISIBLE_FLOOR);
        var dp_04 = dov_0 * v_0_0;
        dp_04 = fma(dov_1, v_0_1, dp_04);
        dp_04 = fma(dov_2, v_0_2, dp_04);
        dp_04 = fma(dov_3, v_0_3, dp_04);
        let dp_0 = dot(dp_04, vec4<f32>(1.0));
        let pv_0 = vec4<f32>(p_0);
        let dsv_0 = vec4<f32>(p_0 * (dp_0 - delta) * g_s_0 * scale);
        dv_0_0 = fma(pv_0, dov_0, dv_0_0);
        dv_0_1 = fma(pv_0, dov_1, dv_0_1);
        dv_0_2 = fma(pv_0, dov_2, dv_0_2);
        dv_0_3 = fma(pv_0, dov_3, dv_0_3);
        dk_0_0 = fma(dsv_0, qv_0, dk_0_0);
        dk_0_1 = fma(dsv_0, qv_1, dk_0_1);
        dk_0_2 = fma(dsv_0, qv_2, dk_0_2);
        dk_0_3 = fma(dsv_0, qv_3, dk_0_3);
        var raw_14 = qv_0 * k_1_0;
        raw_14 = fma(qv_1, k_1_1, raw_14);
        raw_14 = fma(qv_2, k_1_2, raw_14);
        raw_14 = fma(qv_3, k_1_3, raw_14);
        let raw_1 = dot(raw_14, vec4<f32>(1.0));
        let s_1 = raw_1 * scale;
        let g_s_1 = 1.0;
        let p_1 = select(0.0, exp(s_1 - lse), visible_1 && s_1 > ATTN_VISIBLE_FLOOR);
        var dp_14 = dov_0 * v_1_0;
        dp_14 = fma(dov_1, v_1_1, dp_14);
        dp_14 = fma(dov_2, v_1_2, dp_14);
        dp_14 = fma(dov_3, v_1_3, dp_14);
        let dp_1 = dot(dp_14, vec4<f32>(1.0));
        let pv_1 = vec4<f32>(p_1);
        let dsv_1 = vec4<f32>(p_1 * (dp_1 - delta) * g_s_1 * scale);
        dv_1_0 = fma(pv_1, dov_0, dv_1_0);
        dv_1_1 = fma(pv_1, dov_1, dv_1_1);
        dv_1_2 = fma(pv_1, dov_2, dv_1_2);
        dv_1_3 = fma(pv_1, dov_3, dv_1_3);
        dk_1_0 = fma(dsv_1, qv_0, dk_1_0);
        dk_1_1 = fma(dsv_1, qv_1, dk_1_1);
        dk_1_2 = fma(dsv_1, qv_2, dk_1_2);
        dk_1_3 = fma(dsv_1, qv_3, dk_1_3);
        var raw_24 = qv_0 * k_2_0;
        raw_24 = fma(qv_1, k_2_1, raw_24);
        raw_24 = fma(qv_2, k_2_2, raw_24);
        raw_24 = fma(qv_3, k_2_3, raw_24);
        let raw_2 = dot(raw_24, vec4<f32>(1.0));
        let s_2 = raw_2 * scale;
        let g_s_2 = 1.0;
        let p_2 = select(0.0, exp(s_2 - lse), visible_2 && s_2 > ATTN_VISIBLE_FLOOR);
        var dp_24 = dov_0 * v_2_0;
        dp_24 = fma(dov_1, v_2_1, dp_24);
        dp_24 = fma(dov_2, v_2_2, dp_24);
        dp_24 = fma(dov_3, v_2_3, dp_24);
        let dp_2 = dot(dp_24, vec4<f32>(1.0));
        let pv_2 = vec4<f32>(p_2);
        let dsv_2 = vec4<f32>(p_2 * (dp_2 - delta) * g_s_2 * scale);
        dv_2_0 = fma(pv_2, dov_0, dv_2_0);
        dv_2_1 = fma(pv_2, dov_1, dv_2_1);
        dv_2_2 = fma(pv_2, dov_2, dv_2_2);
        dv_2_3 = fma(pv_2, dov_3, dv_2_3);
        dk_2_0 = fma(dsv_2, qv_0, dk_2_0);
        dk_2_1 = fma(dsv_2, qv_1, dk_2_1);
        dk_2_2 = fma(dsv_2, qv_2, dk_2_2);
        dk_2_3 = fma(dsv_2, qv_3, dk_2_3);
        var raw_34 = qv_0 * k_3_0;
        raw_34 = fma(qv_1, k_3_1, raw_34);
        raw_34 = fma(qv_2, k_3_2, raw_34);
        raw_34 = fma(qv_3, k_3_3, raw_34);
        let raw_3 = dot(raw_34, vec4<f32>(1.0));
        let s_3 = raw_3 * scale;
        let g_s_3 = 1.0;
        let p_3 = select(0.0, exp(s_3 - lse), visible_3 && s_3 > ATTN_VISIBLE_FLOOR);
        var dp_34 = dov_0 * v_3_0;
        dp_34 = fma(dov_1, v_3_1, dp_34);
        dp_34 = fma(dov_2, v_3_2, dp_34);
        dp_34 = fma(dov_3, v_3_3, dp_34);
        let dp_3 = dot(dp_34, vec4<f32>(1.0));
        let pv_3 = vec4<f32>(p_3);
        let dsv_3 = vec4<f32>(p_3 * (dp_3 - delta) * g_s_3 * scale);
        dv_3_0 = fma(pv_3, dov_0, dv_3_0);
        dv_3_1 = fma(pv_3, dov_1, dv_3_1);
        dv_3_2 = fma(pv_3, dov_2, dv_3_2);
        dv_3_3 = fma(pv_3, dov_3, dv_3_3);
        dk_3_0 = fma(dsv_3, qv_0, dk_3_0);
        dk_3_1 = fma(dsv_3, qv_1, dk_3_1);
        dk_3_2 = fma(dsv_3, qv_2, dk_3_2);
        dk_3_3 = fma(dsv_3, qv_3, dk_3_3);
      }
    }
  }
  if (key_0 < lk) {
    attn_dk[kv_base_0 + 0u] = dk_0_0;
    attn_dk[kv_base_0 + 1u] = dk_0_1;
    attn_dk[kv_base_0 + 2u] = dk_0_2;
    attn_dk[kv_base_0 + 3u] = dk_0_3;
    attn_dv[kv_base_0 + 0u] = dv_0_0;
    attn_dv[kv_base_0 + 1u] = dv_0_1;
    attn_dv[kv_base_0 + 2u] = dv_0_2;
    attn_dv[kv_base_0 + 3u] = dv_0_3;
  }
  if (key_1 < lk) {
    attn_dk[kv_base_1 + 0u] = dk_1_0;
    attn_dk[kv_base_1 + 1u] = dk_1_1;
    attn_dk[kv_base_1 + 2u] = dk_1_2;
    attn_dk[kv_base_1 + 3u] = dk_1_3;
    attn_dv[kv_base_1 + 0u] = dv_1_0;
    attn_dv[kv_base_1 + 1u] = dv_1_1;
    attn_dv[kv_base_1 + 2u] = dv_1_2;
    attn_dv[kv_base_1 + 3u] = dv_1_3;
  }
  if (key_2 < lk) {
    attn_dk[kv_base_2 + 0u] = dk_2_0;
    attn_dk[kv_base_2 + 1u] = dk_2_1;
    attn_dk[kv_base_2 + 2u] = dk_2_2;
    attn_dk[kv_base_2 + 3u] = dk_2_3;
    attn_dv[kv_base_2 + 0u] = dv_2_0;
    attn_dv[kv_base_2 + 1u] = dv_2_1;
    attn_dv[kv_base_2 + 2u] = dv_2_2;
    attn_dv[kv_base_2 + 3u] = dv_2_3;
  }
  if (key_3 < lk) {
    attn_dk[kv_base_3 + 0u] = dk_3_0;
    attn_dk[kv_base_3 + 1u] = dk_3_1;
    attn_dk[kv_base_3 + 2u] = dk_3_2;
    attn_dk[kv_base_3 + 3u] = dk_3_3;
    attn_dv[kv_base_3 + 0u] = dv_3_0;
    attn_dv[kv_base_3 + 1u] = dv_3_1;
    attn_dv[kv_base_3 + 2u] = dv_3_2;
    attn_dv[kv_base_3 + 3u] = dv_3_3;
  }
}
