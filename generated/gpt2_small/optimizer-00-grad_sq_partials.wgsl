struct Params {
  count: u32,
  offset: u32,
  pad0: u32,
  pad1: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> grad: array<f32>;
@group(0) @binding(2) var<storage, read_write> partials: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= (u.count + 255u) / 256u) { return; }
  let start = i * 256u;
  let end = min(start + 256u, u.count);
  var acc = 0.0;
  for (var j = start; j < end; j++) { let g = grad[j]; acc += g * g; }
  partials[u.offset + i] = acc;
}
