struct Params {
  rows: u32,
  D: u32,
  eps: f32,
  pad0: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read> stats: array<f32>;
@group(0) @binding(4) var<storage, read_write> dparam: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= u.D) { return; }
  var acc = 0.0;
  for (var r = 0u; r < u.rows; r++) { let at = r * u.D + i; acc += dy[at] * (x[at] - stats[2u * r]) * stats[2u * r + 1u]; }
  dparam[i] = acc;
}
