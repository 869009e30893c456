struct Params {
  rows: u32,
  D: u32,
  eps: f32,
  pad0: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dparam: array<f32>;
fn row_stats(base: u32) -> vec2<f32> {
  let D = u.D;
  var mean = 0.0;
  for (var d = 0u; d < D; d++) { mean += x[base + d]; }
  mean /= f32(D);
  var sq = 0.0;
  for (var d = 0u; d < D; d++) { let c = x[base + d] - mean; sq += c * c; }
  return vec2<f32>(mean, inverseSqrt(sq / f32(D) + u.eps));
}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= u.D) { return; }
  var acc = 0.0;
  for (var r = 0u; r < u.rows; r++) { let st = row_stats(r * u.D); acc += dy[r * u.D + i] * (x[r * u.D + i] - st.x) * st.y; }
  dparam[i] = acc;
}
