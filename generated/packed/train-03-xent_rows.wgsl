struct Params {
  rows: u32,
  V: u32,
  pad0: u32,
  pad1: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> logits: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<i32>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;
@group(0) @binding(4) var<storage, read_write> row_loss: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= u.rows) { return; }
  let V = u.V; let base = i * V;
  var mx = logits[base];
  for (var j = 1u; j < V; j++) { mx = max(mx, logits[base + j]); }
  var s = 0.0;
  for (var j = 0u; j < V; j++) { s += exp(logits[base + j] - mx); }
  let l = log(s) + mx;
  lse[i] = l;
  let label = labels[i];
  row_loss[i] = select(0.0, l - logits[base + u32(max(label, 0))], label >= 0 && u32(label) < V);
}
