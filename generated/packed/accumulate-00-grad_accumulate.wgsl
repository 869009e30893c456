struct Params {
  count: u32,
  weight: f32,
  keep: f32,
  pad0: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> sum: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= u.count) { return; }
  let g = u.weight * grad[i];
  if (u.keep == 0.0) { sum[i] = g; } else { sum[i] = sum[i] + g; }
}
