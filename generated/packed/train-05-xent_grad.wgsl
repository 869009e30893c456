struct Params {
  rows: u32,
  V: u32,
  pad0: u32,
  pad1: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read> lse: array<f32>;
@group(0) @binding(4) var<storage, read> count: array<f32>;
@group(0) @binding(5) var<storage, read_write> dlogits: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= u.rows * u.V) { return; }
  let r = i / u.V; let j = i % u.V;
  let label = labels[r];
  if (label < 0 || count[0] == 0.0) { dlogits[i] = 0.0; return; }
  let hot = select(0.0, 1.0, u32(label) == j);
  dlogits[i] = (exp(logits[i] - lse[r]) - hot) / count[0];
}
