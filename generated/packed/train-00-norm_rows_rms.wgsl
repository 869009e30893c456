struct Params {
  rows: u32,
  D: u32,
  eps: f32,
  pad0: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@group(0) @binding(4) var<storage, read_write> stats: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= u.rows) { return; }
  let D = u.D; let base = i * D;
  var mean = 0.0;
  // RMS norm does not centre the row.
  var sq = 0.0;
  for (var d = 0u; d < D; d++) { let c = x[base + d] - mean; sq += c * c; }
  let inv = inverseSqrt(sq / f32(D) + u.eps);
  for (var d = 0u; d < D; d++) { out[base + d] = (x[base + d] - mean) * inv * gamma[d]; }
  stats[2u * i] = mean;
  stats[2u * i + 1u] = inv;
}
