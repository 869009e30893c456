struct Params { w: array<vec4<u32>, 1> }
@group(0) @binding(0) var<uniform> u: Params;
fn word(i: u32) -> u32 { return u.w[i / 4u][i % 4u]; }
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= word(0u)) { return; }
  out[i] = a[i] / (1.0 + exp(-a[i])) * b[i];
}
