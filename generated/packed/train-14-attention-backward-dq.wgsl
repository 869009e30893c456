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
@group(0) @binding(7) var<storage, read_write> attn_dq: array<vec4<f32>>;
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
  return ((mask_data(u32(mask_params(0u) + b * mask_params(1u) + q)) == mask_data(u32(mask_params(0u) + b * mask_params(1u) + k))) && (k <= q));
}



@compute @workgroup_size(8)
fn attn_bwd_dq(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let qt = wg.x;
  let h = wg.y;
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
  let kvh = h / kv_group;
  // This invocation's query rows: lid, lid + 8, … of the tile. Rows past Lq compute on the last row and store nothing.
  let q_pos_0 = qt * ATTN_TQ + 0u + lid;
  let q_in_0 = q_pos_0 < lq;
  let q_c_0 = min(q_pos_0, lq - 1u);
  let row_0 = (b * heads + h) * lq + q_c_0;
  let q_base_0 = ((b * lq + q_c_0) * heads + h) * ATTN_D4;
  var dq_0_0 = vec4<f32>(0.0);
  var dq_0_1 = vec4<f32>(0.0);
  var dq_0_2 = vec4<f32>(0.0);
  var dq_0_3 = vec4<f32>(0.0);
  let lse_0 = attn_lse_at(row_0);
  let delta_0 = attn_delta_at(row_0);
  // A row that saw no visible key has zero gradient: every one of its pairs is selected away.
  let live_0 = lse_0 > ATTN_VISIBLE_FLOOR;
  let q_0_0 = attn_q[q_base_0 + 0u];
  let q_0_1 = attn_q[q_base_0 + 1u];
  let q_0_2 = attn_q[q_base_0 + 2u];
  let q_0_3 = attn_q[q_base_0 + 3u];
  let do_0_0 = attn_dout_at(q_base_0 + 0u);
  let do_0_1 = attn_dout_at(q_base_0 + 1u);
  let do_0_2 = attn_dout_at(q_base_0 + 2u);
  let do_0_3 = attn_dout_at(q_base_0 + 3u);
  let q_pos_1 = qt * ATTN_TQ + 8u + lid;
  let q_in_1 = q_pos_1 < lq;
  let q_c_1 = min(q_pos_1, lq - 1u);
  let row_1 = (b * heads + h) * lq + q_c_1;
  let q_base_1 = ((b * lq + q_c_1) * heads + h) * ATTN_D4;
  var dq_1_0 = vec4<f32>(0.0);
  var dq_1_1 = vec4<f32>(0.0);
  var dq_1_2 = vec4<f32>(0.0);
  var dq_1_3 = vec4<f32>(0.0);
  let lse_1 = attn_lse_at(row_1);
  let delta_1 = attn_delta_at(row_1);
  // A row that saw no visible key has zero gradient: every one of its pairs is selected away.
  let live_1 = lse_1 > ATTN_VISIBLE_FLOOR;
  let q_1_0 = attn_q[q_base_1 + 0u];
  let q_1_1 = attn_q[q_base_1 + 1u];
  let q_1_2 = attn_q[q_base_1 + 2u];
  let q_1_3 = attn_q[q_base_1 + 3u];
  let do_1_0 = attn_dout_at(q_base_1 + 0u);
  let do_1_1 = attn_dout_at(q_base_1 + 1u);
  let do_1_2 = attn_dout_at(q_base_1 + 2u);
  let do_1_3 = attn_dout_at(q_base_1 + 3u);
  let q_pos_2 = qt * ATTN_TQ + 16u + lid;
  let q_in_2 = q_pos_2 < lq;
  let q_c_2 = min(q_pos_2, lq - 1u);
  let row_2 = (b * heads + h) * lq + q_c_2;
  let q_base_2 = ((b * lq + q_c_2) * heads + h) * ATTN_D4;
  var dq_2_0 = vec4<f32>(0.0);
  var dq_2_1 = vec4<f32>(0.0);
  var dq_2_2 = vec4<f32>(0.0);
  var dq_2_3 = vec4<f32>(0.0);
  let lse_2 = attn_lse_at(row_2);
  let delta_2 = attn_delta_at(row_2);
  // A row that saw no visible key has zero gradient: every one of its pairs is selected away.
  let live_2 = lse_2 > ATTN_VISIBLE_FLOOR;
  let q_2_0 = attn_q[q_base_2 + 0u];
  let q_2_1 = attn_q[q_base_2 + 1u];
  let q_2_2 = attn_q[q_base_2 + 2u];
  let q_2_3 = attn_q[q_base_2 + 3u];
  let do_2_0 = attn_dout_at(q_base_2 + 0u);
  let do_2_1 = attn_dout_at(q_base_2 + 1u);
  let do_2_2 = attn_dout_at(q_base_2 + 2u);
  let do_2_3 = attn_dout_at(q_base_2 + 3u);
  let q_pos_3 = qt * ATTN_TQ + 24u + lid;
  let q_in_3 = q_pos_3 < lq;
  let q_c_3 = min(q_pos_3, lq - 1u);
  let row_3 = (b * heads + h) * lq + q_c_3;
  let q_base_3 = ((b * lq + q_c_3) * heads + h) * ATTN_D4;
  var dq_3_0 = vec4<f32>(0.0);
  var dq_3_1 = vec4<f32>(0.0);
  var dq_3_2 = vec4<f32>(0.0);
  var dq_3_3 = vec4<f32>(0.0);
  let lse_3 = attn_lse_at(row_3);
  let delta_3 = attn_delta_at(row_3);
  // A row that saw no visible key has zero gradient: every one of its pairs is selected away.
  let live_3 = lse_3 > ATTN_VISIBLE_FLOOR;
  let q_3_0 = attn_q[q_base_3 + 0u];
  let q_3_1 = attn_q[q_base_3 + 1u];
  let q_3_2 = attn_q[q_base_3 + 2u];
  let q_3_3 = attn_q[q_base_3 + 3u];
  let do_3_0 = attn_dout_at(q_base_3 + 0u);
  let do_3_1 = attn_dout_at(q_base_3 + 1u);
  let do_3_2 = attn_dout_at(q_base_3 + 2u);
  let do_3_3 = attn_dout_at(q_base_3 + 3u);
  let class_row = ((b) * n_q_tiles + qt) * n_k_tiles;
  for (var kt = 0u; kt < n_k_tiles; kt++) {
    let cls = attn_tile_class[class_row + kt];
    if (cls == ATTN_EMPTY) { continue; }
    let k_end = min((kt + 1u) * ATTN_TK, lk);
    for (var key = kt * ATTN_TK; key < k_end; key++) {
      let base = ((b * lk + key) * kv_heads + kvh) * ATTN_D4;
      var visible_0 = live_0;
      var visible_1 = live_1;
      var visible_2 = live_2;
      var visible_3 = live_3;
      if (cls == ATTN_PARTIAL) {
        visible_0 = visible_0 && mdl_mask(i32(b), i32(h), i32(q_c_0 + q_offset), i32(key + k_offset));
        visible_1 = visible_1 && mdl_mask(i32(b), i32(h), i32(q_c_1 + q_offset), i32(key + k_offset));
        visible_2 = visible_2 && mdl_mask(i32(b), i32(h), i32(q_c_2 + q_offset), i32(key + k_offset));
        visible_3 = visible_3 && mdl_mask(i32(b), i32(h), i32(q_c_3 + q_offset), i32(key + k_offset));
      }
      let kv_0 = attn_k[base + 0u];
      let kv_1 = attn_k[base + 1u];
      let kv_2 = attn_k[base + 2u];
      let kv_3 = attn_k[base + 3u];
      let vv_0 = attn_v[base + 0u];
      let vv_1 = attn_v[base + 1u];
      let vv_2 = attn_v[base + 2u];
      let vv_3 = attn_v[base + 3u];
      var raw_04 = q_0_0 * kv_0;
      raw_04 = fma(q_0_1, kv_1, raw_04);
      raw_04 = fma(q_0_2, kv_2, raw_04);
      raw_04 = fma(q_0_3, kv_3, raw_04);
      let raw_0 = dot(raw_04, vec4<f32>(1.0));
      let s_0 = raw_0 * scale;
      let g_s_0 = 1.0;
      let p_0 = select(0.0, exp(s_0 - lse_0), visible_0 && s_0 > ATTN_VISIBLE_FLOOR);
      var dp_04 = do_0_0 * vv_0;
      dp_04 = fma(do_0_1, vv_1, dp_04);
      dp_04 = fma(do_0_2, vv_2, dp_04);
      dp_04 = fma(do_0_3, vv_3, dp_04);
      let dp_0 = dot(dp_04, vec4<f32>(1.0));
      let ds_0 = p_0 * (dp_0 - delta_0);
      let dsv_0 = vec4<f32>(ds_0 * g_s_0 * scale);
      dq_0_0 = fma(dsv_0, kv_0, dq_0_0);
      dq_0_1 = fma(dsv_0, kv_1, dq_0_1);
      dq_0_2 = fma(dsv_0, kv_2, dq_0_2);
      dq_0_3 = fma(dsv_0, kv_3, dq_0_3);
      var raw_14 = q_1_0 * kv_0;
      raw_14 = fma(q_1_1, kv_1, raw_14);
      raw_14 = fma(q_1_2, kv_2, raw_14);
      raw_14 = fma(q_1_3, kv_3, raw_14);
      let raw_1 = dot(raw_14, vec4<f32>(1.0));
      let s_1 = raw_1 * scale;
      let g_s_1 = 1.0;
      let p_1 = select(0.0, exp(s_1 - lse_1), visible_1 && s_1 > ATTN_VISIBLE_FLOOR);
      var dp_14 = do_1_0 * vv_0;
      dp_14 = fma(do_1_1, vv_1, dp_14);
      dp_14 = fma(do_1_2, vv_2, dp_14);
      dp_14 = fma(do_1_3, vv_3, dp_14);
      let dp_1 = dot(dp_14, vec4<f32>(1.0));
      let ds_1 = p_1 * (dp_1 - delta_1);
      let dsv_1 = vec4<f32>(ds_1 * g_s_1 * scale);
      dq_1_0 = fma(dsv_1, kv_0, dq_1_0);
      dq_1_1 = fma(dsv_1, kv_1, dq_1_1);
      dq_1_2 = fma(dsv_1, kv_2, dq_1_2);
      dq_1_3 = fma(dsv_1, kv_3, dq_1_3);
      var raw_24 = q_2_0 * kv_0;
      raw_24 = fma(q_2_1, kv_1, raw_24);
      raw_24 = fma(q_2_2, kv_2, raw_24);
      raw_24 = fma(q_2_3, kv_3, raw_24);
      let raw_2 = dot(raw_24, vec4<f32>(1.0));
      let s_2 = raw_2 * scale;
      let g_s_2 = 1.0;
      let p_2 = select(0.0, exp(s_2 - lse_2), visible_2 && s_2 > ATTN_VISIBLE_FLOOR);
      var dp_24 = do_2_0 * vv_0;
      dp_24 = fma(do_2_1, vv_1, dp_24);
      dp_24 = fma(do_2_2, vv_2, dp_24);
      dp_24 = fma(do_2_3, vv_3, dp_24);
      let dp_2 = dot(dp_24, vec4<f32>(1.0));
      let ds_2 = p_2 * (dp_2 - delta_2);
      let dsv_2 = vec4<f32>(ds_2 * g_s_2 * scale);
      dq_2_0 = fma(dsv_2, kv_0, dq_2_0);
      dq_2_1 = fma(dsv_2, kv_1, dq_2_1);
      dq_2_2 = fma(dsv_2, kv_2, dq_2_2);
      dq_2_3 = fma(dsv_2, kv_3, dq_2_3);
      var raw_34 = q_3_0 * kv_0;
      raw_34 = fma(q_3_1, kv_1, raw_34);
      raw_34 = fma(q_3_2, kv_2, raw_34);
      raw_34 = fma(q_3_3, kv_3, raw_34);
      let raw_3 = dot(raw_34, vec4<f32>(1.0));
      let s_3 = raw_3 * scale;
      let g_s_3 = 1.0;
      let p_3 = select(0.0, exp(s_3 - lse_3), visible_3 && s_3 > ATTN_VISIBLE_FLOOR);
      var dp_34 = do_3_0 * vv_0;
      dp_34 = fma(do_3_1, vv_1, dp_34);
      dp_34 = fma(do_3_2, vv_2, dp_34);
      dp_34 = fma(do_3_3, vv_3, dp_34);
      let dp_3 = dot(dp_34, vec4<f32>(1.0));
      let ds_3 = p_3 * (dp_3 - delta_3);
      let dsv_3 = vec4<f32>(ds_3 * g_s_3 * scale);
      dq_3_0 = fma(dsv_3, kv_0, dq_3_0);
      dq_3_1 = fma(dsv_3, kv_1, dq_3_1);
      dq_3_2 = fma(dsv_3, kv_2, dq_3_2);
      dq_3_3 = fma(dsv_3, kv_3, dq_3_3);
    }
  }
  if (q_in_0) {
    attn_dq[q_base_0 + 0u] = dq_0_0;
    attn_dq[q_base_0 + 1u] = dq_0_1;
    attn_dq[q_base_0 + 2u] = dq_0_2;
    attn_dq[q_base_0 + 3u] = dq_0_3;
  }
  if (q_in_1) {
    attn_dq[q_base_1 + 0u] = dq_1_0;
    attn_dq[q_base_1 + 1u] = dq_1_1;
    attn_dq[q_base_1 + 2u] = dq_1_2;
    attn_dq[q_base_1 + 3u] = dq_1_3;
  }
  if (q_in_2) {
    attn_dq[q_base_2 + 0u] = dq_2_0;
    attn_dq[q_base_2 + 1u] = dq_2_1;
    attn_dq[q_base_2 + 2u] = dq_2_2;
    attn_dq[q_base_2 + 3u] = dq_2_3;
  }
  if (q_in_3) {
    attn_dq[q_base_3 + 0u] = dq_3_0;
    attn_dq[q_base_3 + 1u] = dq_3_1;
    attn_dq[q_base_3 + 2u] = dq_3_2;
    attn_dq[q_base_3 + 3u] = dq_3_3;
  }
}
