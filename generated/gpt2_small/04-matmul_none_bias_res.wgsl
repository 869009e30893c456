struct Params { w: array<vec4<u32>, 1> }
@group(0) @binding(0) var<uniform> u: Params;
fn word(i: u32) -> u32 { return u.w[i / 4u][i % 4u]; }
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read> res: array<f32>;
@group(0) @binding(5) var<storage, read_write> out: array<f32>;
fn act(x: f32) -> f32 { return x; }
var<workgroup> ta: array<array<f32, 16>, 16>;
var<workgroup> tw: array<array<f32, 16>, 16>;
@compute @workgroup_size(16, 16)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = word(0u); let N = word(1u); let K = word(2u);
  let row = wid.y * 16u + lid.y;
  let col = wid.x * 16u + lid.x;
  var acc = 0.0;
  let tiles = (K + 15u) / 16u;
  for (var t = 0u; t < tiles; t++) {
    let ka = t * 16u + lid.x;
    ta[lid.y][lid.x] = select(0.0, a[min(row, M - 1u) * K + min(ka, K - 1u)], row < M && ka < K);
    let wrow = wid.x * 16u + lid.y;
    tw[lid.y][lid.x] = select(0.0, w[min(wrow, N - 1u) * K + min(ka, K - 1u)], wrow < N && ka < K);
    workgroupBarrier();
    for (var i = 0u; i < 16u; i++) { acc += ta[lid.y][i] * tw[lid.x][i]; }
    workgroupBarrier();
  }
  if (row < M && col < N) {
    var v = acc + bias[col];
    v = act(v);
    v += res[row * N + col];
    out[row * N + col] = v;
  }
}
