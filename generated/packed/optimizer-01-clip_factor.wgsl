struct Params {
  n: u32,
  grad_scale: f32,
  max_norm: f32,
  pad0: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> partials: array<f32>;
@group(0) @binding(2) var<storage, read_write> clip: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= 1u) { return; }
  var total = 0.0;
  for (var j = 0u; j < u.n; j++) { total += partials[j]; }
  let norm = u.grad_scale * sqrt(total);
  var factor = u.grad_scale;
  if (u.max_norm > 0.0 && norm > u.max_norm) { factor = u.grad_scale * (u.max_norm / (norm + 1e-6)); }
  clip[0] = norm;
  clip[1] = factor;
}
