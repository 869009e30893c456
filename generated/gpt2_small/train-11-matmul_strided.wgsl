struct Params {
  rows: u32,
  cols: u32,
  inner: u32,
  a_row: u32,
  a_inner: u32,
  b_col: u32,
  b_inner: u32,
  pad0: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= u.rows * u.cols) { return; }
  let r = i / u.cols; let c = i % u.cols;
  var acc = 0.0;
  for (var p = 0u; p < u.inner; p++) { acc += a[r * u.a_row + p * u.a_inner] * b[c * u.b_col + p * u.b_inner]; }
  out[i] = acc;
}
