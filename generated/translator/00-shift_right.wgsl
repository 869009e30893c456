struct Params { w: array<vec4<u32>, 2> }
@group(0) @binding(0) var<uniform> u: Params;
fn word(i: u32) -> u32 { return u.w[i / 4u][i % 4u]; }
@group(0) @binding(1) var<storage, read> tokens: array<i32>;
@group(0) @binding(2) var<storage, read_write> dec: array<i32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let B = word(0u); let T = word(1u);
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= B * T) { return; }
  let t = i % T;
  let pad = i32(word(3u));
  if (t == 0u) { dec[i] = i32(word(2u)); return; }
  let prev = tokens[i - 1u];
  let is_eos = word(4u) != 0xffffffffu && prev == i32(word(4u));
  dec[i] = select(prev, pad, prev == pad || is_eos);
}
