struct Params { w: array<vec4<u32>, 1> }
@group(0) @binding(0) var<uniform> u: Params;
fn word(i: u32) -> u32 { return u.w[i / 4u][i % 4u]; }
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
var<workgroup> s1: array<f32, 64>;
var<workgroup> s2: array<f32, 64>;
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let rows = word(0u); let D = word(1u); let eps = bitcast<f32>(word(2u));
  let r = wid.x + wid.y * 65535u;
  if (r >= rows) { return; }
  let base = r * D;
  var a = 0.0; var b = 0.0;
  for (var d = lid.x; d < D; d += 64u) { let v = x[base + d]; a += v; b += v * v; }
  s1[lid.x] = a; s2[lid.x] = b;
  workgroupBarrier();
  for (var step = 32u; step > 0u; step /= 2u) {
    if (lid.x < step) { s1[lid.x] += s1[lid.x + step]; s2[lid.x] += s2[lid.x + step]; }
    workgroupBarrier();
  }
  let mean = s1[0] / f32(D);
  let inv = inverseSqrt(max(s2[0] / f32(D) - mean * mean, 0.0) + eps);
  for (var d = lid.x; d < D; d += 64u) {
    out[base + d] = (x[base + d] - mean) * inv * gamma[d] + beta[d];
  }
}
