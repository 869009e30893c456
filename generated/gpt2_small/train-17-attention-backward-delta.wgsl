struct AttnParams {
  rows: u32,
  lq: u32,
  heads: u32,
  delta_offset: u32,
  dout_copy_offset: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}
@group(0) @binding(0) var<uniform> attn_params: AttnParams;
@group(0) @binding(1) var<storage, read> attn_out: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> attn_dout: array<vec4<f32>>;
@group(0) @binding(3) var<storage, read_write> attn_row_stats: array<f32>;
fn attn_delta(i: u32) -> f32 { return attn_row_stats[attn_params.delta_offset + i]; }
fn attn_delta_store(i: u32, v: f32) { attn_row_stats[attn_params.delta_offset + i] = v; }
fn attn_dout_copy(i: u32) -> f32 { return attn_row_stats[attn_params.dout_copy_offset + i]; }
fn attn_dout_copy_store(i: u32, v: f32) { attn_row_stats[attn_params.dout_copy_offset + i] = v; }
const ATTN_D4: u32 = 16u;
// D = rowsum(dO ∘ O): rows r of [B, Lq, H], stored at [B, H, Lq] like the log-sum-exp.
@compute @workgroup_size(64)
fn attn_bwd_delta(@builtin(global_invocation_id) gid: vec3<u32>) {
  let r = gid.x;
  if (r >= attn_params.rows) { return; }
  var acc = vec4<f32>(0.0);
  // The walks read dO from the row-stats buffer (one binding fewer each): copied here, where it is read anyway.
  for (var i = 0u; i < ATTN_D4; i++) {
    let d_out = attn_dout[r * ATTN_D4 + i];
    acc = fma(attn_out[r * ATTN_D4 + i], d_out, acc);
    for (var c = 0u; c < 4u; c++) { attn_dout_copy_store((r * ATTN_D4 + i) * 4u + c, d_out[c]); }
  }
  let per_b = attn_params.lq * attn_params.heads;
  let b = r / per_b;
  let q = (r % per_b) / attn_params.heads;
  let h = r % attn_params.heads;
  attn_delta_store((b * attn_params.heads + h) * attn_params.lq + q, acc.x + acc.y + acc.z + acc.w);
}
