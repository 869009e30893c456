struct Params { w: array<vec4<u32>, 2> }
@group(0) @binding(0) var<uniform> u: Params;
fn word(i: u32) -> u32 { return u.w[i / 4u][i % 4u]; }
@group(0) @binding(1) var<storage, read> table: array<f32>;
@group(0) @binding(2) var<storage, read> ids: array<i32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let rows = word(0u); let D = word(1u); let T = word(2u); let vocab = word(3u);
  let scale = bitcast<f32>(word(4u));
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= rows * D) { return; }
  let r = i / D; let d = i % D;
  let t = r % T + word(7u);
  var id = ids[r];
  if (id < 0 || u32(id) >= vocab) { id = 0; }
  var v = table[u32(id) * D + d] * scale;
  
  out[i] = v;
}
