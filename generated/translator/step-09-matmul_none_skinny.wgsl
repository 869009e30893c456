struct Params {
  M: u32,
  N: u32,
  K: u32,
  pad0: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
fn act(x: f32) -> f32 { return x; }
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let M = u.M; let N = u.N; let K = u.K;
  let col = gid.x;
  let row0 = gid.y * 4u;
  if (col >= N || row0 >= M) { return; }
  var acc = vec4<f32>(0.0);
  let rows = min(M - row0, 4u);
  for (var k = 0u; k < K; k++) {
    let wk = w[col * K + k];
    acc.x = fma(a[row0 * K + k], wk, acc.x);
    if (rows > 1u) { acc.y = fma(a[(row0 + 1u) * K + k], wk, acc.y); }
    if (rows > 2u) { acc.z = fma(a[(row0 + 2u) * K + k], wk, acc.z); }
    if (rows > 3u) { acc.w = fma(a[(row0 + 3u) * K + k], wk, acc.w); }
  }
  for (var i = 0u; i < rows; i++) {
    let row = row0 + i;
    var v = acc[i];
    v = act(v);
    out[row * N + col] = v;
  }
}
