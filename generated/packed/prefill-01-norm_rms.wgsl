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
var<workgroup> part: array<f32, 64>;
fn row_total(v: f32, i: u32) -> f32 {
  part[i] = v;
  workgroupBarrier();
  for (var step = 32u; step > 0u; step /= 2u) {
    if (i < step) { part[i] += part[i + step]; }
    workgroupBarrier();
  }
  let total = part[0];
  workgroupBarrier();
  return total;
}
@compute @workgroup_size(64)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let rows = u.rows; let D = u.D; let eps = u.eps;
  let r = wid.x + wid.y * 65535u;
  if (r >= rows) { return; }
  let base = r * D;
  var mean = 0.0;
  // RMS norm does not centre the row.
  var sq = 0.0;
  for (var d = lid.x; d < D; d += 64u) { let c = x[base + d] - mean; sq += c * c; }
  let inv = inverseSqrt(row_total(sq, lid.x) / f32(D) + eps);
  for (var d = lid.x; d < D; d += 64u) {
    out[base + d] = (x[base + d] - mean) * inv * gamma[d];
  }
}
