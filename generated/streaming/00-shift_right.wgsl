struct Params {
  B: u32,
  T: u32,
  bos: u32,
  pad: u32,
  eos: u32,
  pad0: u32,
  pad1: u32,
  pad2: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> tokens: array<i32>;
@group(0) @binding(2) var<storage, read_write> dec: array<i32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let B = u.B; let T = u.T;
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= B * T) { return; }
  let t = i % T;
  let pad = i32(u.pad);
  if (t == 0u) { dec[i] = i32(u.bos); return; }
  let prev = tokens[i - 1u];
  let is_eos = u.eos != 0xffffffffu && prev == i32(u.eos);
  dec[i] = select(prev, pad, prev == pad || is_eos);
}
