struct Params {
  rows: u32,
  D: u32,
  vocab: u32,
  scale: f32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> ids: array<i32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dtable: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= u.vocab) { return; }
  let D = u.D; let out = i * D;
  for (var d = 0u; d < D; d++) { dtable[out + d] = 0.0; }
  for (var r = 0u; r < u.rows; r++) {
    var id = ids[r];
    if (id < 0 || u32(id) >= u.vocab) { id = 0; }
    if (u32(id) == i) {
      for (var d = 0u; d < D; d++) { dtable[out + d] += dy[r * D + d] * u.scale; }
    }
  }
}
