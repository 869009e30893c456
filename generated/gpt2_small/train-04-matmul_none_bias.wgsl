struct Params {
  M: u32,
  N: u32,
  K: u32,
  pad0: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> out: array<f32>;
fn act(x: f32) -> f32 { return x; }
var<workgroup> ta: array<array<f32, 16>, 32>;
var<workgroup> tw: array<array<f32, 16>, 32>;
@compute @workgroup_size(8, 8)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let M = u.M; let N = u.N; let K = u.K;
  let row0 = wid.y * 32u;
  let col0 = wid.x * 32u;
  let tid = lid.y * 8u + lid.x;
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = 0u; k0 < K; k0 += 16u) {
    // 64 threads stage 32 rows × 16 columns of each operand: 8 elements apiece.
    for (var i = 0u; i < 8u; i++) {
      let e = tid + i * 64u;
      let r = e / 16u;
      let kk = e % 16u;
      let gk = k0 + kk;
      let ar = row0 + r;
      ta[r][kk] = select(0.0, a[min(ar, M - 1u) * K + min(gk, K - 1u)], ar < M && gk < K);
      let wr = col0 + r;
      tw[r][kk] = select(0.0, w[min(wr, N - 1u) * K + min(gk, K - 1u)], wr < N && gk < K);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < 16u; kk++) {
      var av: array<f32, 4>;
      var wv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        av[i] = ta[lid.y * 4u + i][kk];
        wv[i] = tw[lid.x * 4u + i][kk];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] += av[i] * wv[j]; }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let row = row0 + lid.y * 4u + i;
    for (var j = 0u; j < 4u; j++) {
      let col = col0 + lid.x * 4u + j;
      if (row < M && col < N) {
        var v = acc[i][j] + bias[col];
        v = act(v);
        out[row * N + col] = v;
      }
    }
  }
}
