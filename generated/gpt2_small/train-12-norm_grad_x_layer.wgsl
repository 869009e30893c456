struct Params {
  rows: u32,
  D: u32,
  eps: f32,
  pad0: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> stats: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= u.rows) { return; }
  let D = u.D; let base = i * D;
  let mean = stats[2u * i]; let inv = stats[2u * i + 1u];
  var sum_g = 0.0; var sum_gx = 0.0;
  for (var d = 0u; d < D; d++) {
    let g = dy[base + d] * gamma[d];
    sum_g += g;
    sum_gx += g * (x[base + d] - mean) * inv;
  }
  for (var d = 0u; d < D; d++) {
    let g = dy[base + d] * gamma[d];
    let xhat = (x[base + d] - mean) * inv;
    dx[base + d] = inv * (g - sum_g / f32(D) - xhat * sum_gx / f32(D));
  }
}
