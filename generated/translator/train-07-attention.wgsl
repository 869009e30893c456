// Fused masked attention (generated). Layouts: Q/out [B, Lq, H, D], K/V [B, Lk, KVH, D], f32.
const ATTN_D4: u32 = 4u;
const ATTN_TQ: u32 = 32u;
const ATTN_TK: u32 = 64u;
const ATTN_LANES: u32 = 1u;
const ATTN_WG: u32 = 32u;
const ATTN_EMPTY: u32 = 0u;
const ATTN_PARTIAL: u32 = 1u;
// Masked scores are stored as a finite sentinel: WGSL has no infinity literal, and finite values keep max/exp exact.
// A score a modifier pushes to or below the floor (a -inf bias, say) therefore counts as masked, as on the CPU.
const ATTN_MASKED: f32 = -3.0e38;
const ATTN_VISIBLE_FLOOR: f32 = -1.0e38;

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
  kv_rows: u32,
  pad0: u32,
}
@group(0) @binding(0) var<uniform> attn_params: AttnParams;
@group(0) @binding(1) var<storage, read> attn_q: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> attn_k: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read> attn_v: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> attn_out: array<vec4<f32>>;
@group(0) @binding(5) var<storage, read> attn_tile_class: array<u32>;
@group(0) @binding(6) var<storage, read> mask_table: array<i32>;
@group(0) @binding(7) var<storage, read_write> attn_lse: array<f32>;
fn mask_params(i: u32) -> i32 { return mask_table[i]; }
fn mask_data(i: u32) -> i32 { return mask_table[2u + i]; }

fn mdl_mask(b: i32, h: i32, q: i32, k: i32) -> bool {
  return ((k <= q) && (mask_data(u32(mask_params(0u) + b * mask_params(1u) + k)) != 0));
}



var<workgroup> attn_k_tile: array<vec4<f32>, 256>;
var<workgroup> attn_v_tile: array<vec4<f32>, 256>;
var<workgroup> attn_scores: array<f32, 2048>;

@compute @workgroup_size(32)
fn attn_main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let qt = wg.x;
  let h = wg.y;
  let b = wg.z;
  let lq = attn_params.lq;
  let lk = attn_params.lk;
  let heads = attn_params.heads;
  let kv_heads = attn_params.kv_heads;
  let n_k_tiles = attn_params.n_k_tiles;
  let q_offset = attn_params.q_offset;
  let k_offset = attn_params.k_offset;
  let kv_rows = attn_params.kv_rows;
  let row = lid / ATTN_LANES;
  let lane = lid % ATTN_LANES;
  let q_pos = qt * ATTN_TQ + row;
  let q_in = q_pos < lq;
  let kvh = h / attn_params.kv_group;

  // The query row, pre-scaled. Rows past Lq read row Lq - 1 (always in bounds) and are masked below.
  let q_base = ((b * lq + min(q_pos, lq - 1u)) * heads + h) * ATTN_D4;
  let scale = attn_params.scale;
  let q_0 = attn_q[q_base + 0u] * scale;
  let q_1 = attn_q[q_base + 1u] * scale;
  let q_2 = attn_q[q_base + 2u] * scale;
  let q_3 = attn_q[q_base + 3u] * scale;

  var acc_0 = vec4<f32>(0.0);
  var acc_1 = vec4<f32>(0.0);
  var acc_2 = vec4<f32>(0.0);
  var acc_3 = vec4<f32>(0.0);
  var m_run = ATTN_MASKED;
  var l_run = 0.0;
  let class_base = ((b) * attn_params.n_q_tiles + qt) * n_k_tiles;
  let score_row = row * ATTN_TK;
  var kt_first = n_k_tiles;
  var kt_end = 0u;
  for (var kt = 0u; kt < n_k_tiles; kt++) {
    if (attn_tile_class[class_base + kt] != ATTN_EMPTY) {
      kt_first = min(kt_first, kt);
      kt_end = kt + 1u;
    }
  }

  for (var kt = kt_first; kt < kt_end; kt++) {
    // Uniform across the workgroup (every invocation reads the same entry), so skipping keeps barriers uniform.
    let cls = attn_tile_class[class_base + kt];
    if (cls == ATTN_EMPTY) { continue; }
    let k_start = kt * ATTN_TK;

    for (var idx = lid; idx < ATTN_TK * ATTN_D4; idx += ATTN_WG) {
      let key = k_start + idx / ATTN_D4;
      var k_val = vec4<f32>(0.0);
      var v_val = vec4<f32>(0.0);
      if (key < lk) {
        let g = ((b * kv_rows + key) * kv_heads + kvh) * ATTN_D4 + idx % ATTN_D4;
        k_val = attn_k[g];
        v_val = attn_v[g];
      }
      attn_k_tile[idx] = k_val;
      attn_v_tile[idx] = v_val;
    }
    workgroupBarrier();

    for (var kk = lane; kk < ATTN_TK; kk += ATTN_LANES) {
      let key = k_start + kk;
      var visible = q_in && key < lk;
      if (visible && cls == ATTN_PARTIAL) { visible = mdl_mask(i32(b), i32(h), i32(q_pos + q_offset), i32(key + k_offset)); }
      var s = ATTN_MASKED;
      if (visible) {
        let k_base = kk * ATTN_D4;
        var dot4 = q_0 * attn_k_tile[k_base];
        dot4 = fma(q_1, attn_k_tile[k_base + 1u], dot4);
        dot4 = fma(q_2, attn_k_tile[k_base + 2u], dot4);
        dot4 = fma(q_3, attn_k_tile[k_base + 3u], dot4);
        s = dot4.x + dot4.y + dot4.z + dot4.w;
        
      }
      attn_scores[score_row + kk] = s;
    }
    workgroupBarrier();

    var m_tile = ATTN_MASKED;
    for (var kk = 0u; kk < ATTN_TK; kk++) { m_tile = max(m_tile, attn_scores[score_row + kk]); }
    if (m_tile > ATTN_VISIBLE_FLOOR) {
      let m_new = max(m_run, m_tile);
      let alpha = exp(m_run - m_new);
      l_run = l_run * alpha;
      acc_0 = acc_0 * alpha;
      acc_1 = acc_1 * alpha;
      acc_2 = acc_2 * alpha;
      acc_3 = acc_3 * alpha;
      for (var kk = 0u; kk < ATTN_TK; kk++) {
        let s = attn_scores[score_row + kk];
        // Skipping masked keys (rather than multiplying by 0) keeps NaN/Inf in masked V rows out of the output.
        if (s > ATTN_VISIBLE_FLOOR) {
          let p = vec4<f32>(exp(s - m_new));
          l_run = l_run + p.x;
          let v_base = kk * ATTN_D4 + lane;
          acc_0 = fma(p, attn_v_tile[v_base + 0u], acc_0);
          acc_1 = fma(p, attn_v_tile[v_base + 1u], acc_1);
          acc_2 = fma(p, attn_v_tile[v_base + 2u], acc_2);
          acc_3 = fma(p, attn_v_tile[v_base + 3u], acc_3);
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
    attn_out[o_base + 0u] = acc_0 * inv;
    attn_out[o_base + 1u] = acc_1 * inv;
    attn_out[o_base + 2u] = acc_2 * inv;
    attn_out[o_base + 3u] = acc_3 * inv;
    if (lane == 0u) {
      attn_lse[(b * heads + h) * lq + q_pos] = select(ATTN_MASKED, m_run + log(l_run), l_run > 0.0);
    }
  }
}
