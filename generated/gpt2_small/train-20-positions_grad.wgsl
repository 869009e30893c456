struct Params {
  T: u32,
  D: u32,
  table_rows: u32,
  offset: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> dtable: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= u.table_rows * u.D) { return; }
  let first = u.offset * u.D;
  let inside = i >= first && i - first < u.T * u.D;
  dtable[i] = select(0.0, dy[min(i - min(i, first), u.T * u.D - 1u)], inside);
}
