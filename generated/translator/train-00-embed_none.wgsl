struct Params {
  rows: u32,
  D: u32,
  T: u32,
  vocab: u32,
  scale: f32,
  start: u32,
  pad0: u32,
  pad1: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let rows = u.rows; let D = u.D; let T = u.T; let vocab = u.vocab;
  let scale = u.scale;
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= rows * D) { return; }
  let r = i / D; let d = i % D;
  let t = r % T + u.start;
  var id = ids[r];
  if (id < 0 || u32(id) >= vocab) { id = 0; }
  var v = table[u32(id) * D + d] * scale;
  
  out[i] = v;
}
