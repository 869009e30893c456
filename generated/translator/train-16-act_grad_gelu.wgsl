struct Params {
  count: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> dy: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
fn act_grad(x: f32) -> f32 {
  let raw = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  let t = tanh(clamp(raw, -15.0, 15.0));
  let dc = select(0.0, 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * x * x), abs(raw) < 15.0);
  return 0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * dc;
}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= u.count) { return; }
  dx[i] = act_grad(x[i]) * dy[i];
}
