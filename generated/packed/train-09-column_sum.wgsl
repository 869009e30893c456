struct Params {
  count: u32,
  n: u32,
  pad0: u32,
  pad1: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= u.n) { return; }
  var acc = 0.0;
  for (var at = i; at < u.count; at += u.n) { acc += x[at]; }
  out[i] = acc;
}
