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
// The forward pass's floor: a score at or below it is masked, and an lse at or below it marks a row with no visible key.
const ATTN_VISIBLE_FLOOR: f32 = -1.0e38;
fn attn_lse_at(i: u32) -> f32 { let j = i; return attn_row_stats[j >> 2u][j & 3u]; }
fn attn_delta_at(i: u32) -> f32 { let j = attn_params.delta_offset + i; return attn_row_stats[j >> 2u][j & 3u]; }

fn mdl_mask(b: i32, h: i32, q: i32, k: i32) -> bool {
  return ((mask_data(u32(mask_params(0u) + b * mask_params(1u) + q)) == mask_data(u32(mask_params(0u) + b * mask_params(1u) + k))) && (k <= q));
}



const ATTN_KS: u32 = 64u;
var<workgroup> attn_k_tile: array<vec4<f32>, 256>;
var<workgroup> attn_v_tile: array<vec4<f32>, 256>;

@compute @workgroup_size(32)
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
  let q_pos = qt * ATTN_TQ + lid;
  // Rows past Lq take part in the staging and the barriers, on the last row, and store nothing.
  let q_in = q_pos < lq;
  let q_c = min(q_pos, lq - 1u);
  let kvh = h / kv_group;
  let row = (b * heads + h) * lq + q_c;
  let q_base = ((b * lq + q_c) * heads + h) * ATTN_D4;

  var dq_0 = vec4<f32>(0.0);
  var dq_1 = vec4<f32>(0.0);
  var dq_2 = vec4<f32>(0.0);
  var dq_3 = vec4<f32>(0.0);
  let lse = attn_lse_at(row);
  let delta = attn_delta_at(row);
  // A row that saw no visible key has zero gradient: every one of its pairs is selected away.
  let live = lse > ATTN_VISIBLE_FLOOR;
  let q_0 = attn_q[q_base + 0u];
  let q_1 = attn_q[q_base + 1u];
  let q_2 = attn_q[q_base + 2u];
  let q_3 = attn_q[q_base + 3u];
  let do_0 = attn_dout_at(q_base + 0u);
  let do_1 = attn_dout_at(q_base + 1u);
  let do_2 = attn_dout_at(q_base + 2u);
  let do_3 = attn_dout_at(q_base + 3u);
  let class_row = ((b) * n_q_tiles + qt) * n_k_tiles;
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
      if (cls != ATTN_PARTIAL && n == ATTN_KS) {
        for (var j = 0u; j < ATTN_KS; j++) {
          let base = j * ATTN_D4;
          var raw4 = q_0 * attn_k_tile[base + 0u];
          raw4 = fma(q_1, attn_k_tile[base + 1u], raw4);
          raw4 = fma(q_2, attn_k_tile[base + 2u], raw4);
          raw4 = fma(q_3, attn_k_tile[base + 3u], raw4);
          let raw = dot(raw4, vec4<f32>(1.0));
          let s = raw * scale;
          let g_s = 1.0;
          let p = exp(s - lse);
          var dp4 = do_0 * attn_v_tile[base + 0u];
          dp4 = fma(do_1, attn_v_tile[base + 1u], dp4);
          dp4 = fma(do_2, attn_v_tile[base + 2u], dp4);
          dp4 = fma(do_3, attn_v_tile[base + 3u], dp4);
          let dp = dot(dp4, vec4<f32>(1.0));
          let ds = p * (dp - delta);
          let dsv = vec4<f32>(ds * g_s * scale);
          dq_0 = fma(dsv, attn_k_tile[base + 0u], dq_0);
          dq_1 = fma(dsv, attn_k_tile[base + 1u], dq_1);
          dq_2 = fma(dsv, attn_k_tile[base + 2u], dq_2);
          dq_3 = fma(dsv, attn_k_tile[base + 3u], dq_3);
        }
      } else {
        for (var j = 0u; j < n; j++) {
          let key = k0 + j;
          let base = j * ATTN_D4;
          var visible = live;
          if (visible && cls == ATTN_PARTIAL) { visible = mdl_mask(i32(b), i32(h), i32(q_c + q_offset), i32(key + k_offset)); }
          var raw4 = q_0 * attn_k_tile[base + 0u];
          raw4 = fma(q_1, attn_k_tile[base + 1u], raw4);
          raw4 = fma(q_2, attn_k_tile[base + 2u], raw4);
          raw4 = fma(q_3, attn_k_tile[base + 3u], raw4);
          let raw = dot(raw4, vec4<f32>(1.0));
          let s = raw * scale;
          let g_s = 1.0;
          visible = visible && s > ATTN_VISIBLE_FLOOR;
          let p = select(0.0, exp(s - lse), visible);
          var dp4 = do_0 * attn_v_tile[base + 0u];
          dp4 = fma(do_1, attn_v_tile[base + 1u], dp4);
          dp4 = fma(do_2, attn_v_tile[base + 2u], dp4);
          dp4 = fma(do_3, attn_v_tile[base + 3u], dp4);
          let dp = dot(dp4, vec4<f32>(1.0));
          let ds = p * (dp - delta);
          let dsv = vec4<f32>(ds * g_s * scale);
          dq_0 = fma(dsv, attn_k_tile[base + 0u], dq_0);
          dq_1 = fma(dsv, attn_k_tile[base + 1u], dq_1);
          dq_2 = fma(dsv, attn_k_tile[base + 2u], dq_2);
          dq_3 = fma(dsv, attn_k_tile[base + 3u], dq_3);
        }
      }
      // The next sub-tile overwrites the staged rows.
      workgroupBarrier();
    }
  }
  if (q_in) {
    attn_dq[q_base + 0u] = dq_0;
    attn_dq[q_base + 1u] = dq_1;
    attn_dq[q_base + 2u] = dq_2;
    attn_dq[q_base + 3u] = dq_3;
  }
}
