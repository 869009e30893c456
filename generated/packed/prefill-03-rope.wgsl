struct Params {
  rows: u32,
  heads: u32,
  hd: u32,
  T: u32,
  start: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let rows = u.rows; let heads = u.heads; let hd = u.hd; let T = u.T;
  let half = hd / 2u;
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= rows * heads * half) { return; }
  let p = i % half;
  let h = (i / half) % heads;
  let r = i / (half * heads);
  let t = f32(r % T + u.start);
  let theta = t * exp(-log(10000.0) * f32(2u * p) / f32(hd));
  let at = r * heads * hd + h * hd + 2u * p;
  let x0 = x[at]; let x1 = x[at + 1u];
  x[at] = x0 * cos(theta) - x1 * sin(theta);
  x[at + 1u] = x0 * sin(theta) + x1 * cos(theta);
}
