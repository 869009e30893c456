struct Params {
  rows: u32,
  heads: u32,
  hd: u32,
  rd: u32,
  T: u32,
  start: u32,
  rate_lo: u32,
  rate_hi: u32,
}
@group(0) @binding(0) var<uniform> u: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
fn wide_mul(a: u32, b: u32) -> vec2<u32> {
  let a0 = a & 0xffffu; let a1 = a >> 16u; let b0 = b & 0xffffu; let b1 = b >> 16u;
  let p00 = a0 * b0; let p01 = a0 * b1; let p10 = a1 * b0;
  let mid = (p00 >> 16u) + (p01 & 0xffffu) + (p10 & 0xffffu);
  return vec2<u32>((p00 & 0xffffu) | (mid << 16u), a1 * b1 + (p01 >> 16u) + (p10 >> 16u) + (mid >> 16u));
}
fn fixed_mul(a: vec2<u32>, b: vec2<u32>) -> vec2<u32> {
  let ll = wide_mul(a.x, b.x); let lh = wide_mul(a.x, b.y); let hl = wide_mul(a.y, b.x); let hh = wide_mul(a.y, b.y);
  let m1 = ll.y + lh.x; let m2 = m1 + hl.x;
  let up = select(0u, 1u, m1 < lh.x) + select(0u, 1u, m2 < hl.x);
  let l1 = hh.x + lh.y; let l2 = l1 + hl.y; let l3 = l2 + up;
  let carry = select(0u, 1u, l1 < lh.y) + select(0u, 1u, l2 < hl.y) + select(0u, 1u, l3 < up);
  return vec2<u32>(l3, hh.y + carry);
}
fn position_sin_cos(t: u32, p: u32, rate: vec2<u32>) -> vec2<f32> {
  var f = vec2<u32>(0x9391054au, 0x28be60dbu);
  var base = rate;
  var e = p;
  loop {
    if (e == 0u) { break; }
    if ((e & 1u) == 1u) { f = fixed_mul(f, base); }
    e = e >> 1u;
    if (e != 0u) { base = fixed_mul(base, base); }
  }
  let low = wide_mul(t, f.x);
  let turns = vec2<u32>(low.x, t * f.y + low.y);
  let n = (turns.y + 0x20000000u) >> 30u;
  let rest = bitcast<i32>(turns.y - (n << 30u));
  let x = (f32(rest) + f32(turns.x) * 2.3283064365386963e-10) * 1.4629180792671596e-9;
  let x2 = x * x;
  let s = x * (1.0 + x2 * (-0.16666666666666666 + x2 * (0.008333333333333333 + x2 * (-0.0001984126984126984 + x2 * 2.755731922398589e-6))));
  let c = 1.0 + x2 * (-0.5 + x2 * (0.041666666666666664 + x2 * (-0.001388888888888889 + x2 * (2.48015873015873e-5 + x2 * -2.755731922398589e-7))));
  switch (n & 3u) {
    case 0u: { return vec2<f32>(s, c); }
    case 1u: { return vec2<f32>(c, -s); }
    case 2u: { return vec2<f32>(-s, -c); }
    default: { return vec2<f32>(-c, s); }
  }
}
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x + gid.y * 65535u * 64u;
  if (i >= u.rows * u.heads * (u.rd / 2u)) { return; }
  let half = u.rd / 2u;
  let p = i % half;
  let h = (i / half) % u.heads;
  let r = i / (half * u.heads);
  let sc = position_sin_cos(r % u.T + u.start, p, vec2<u32>(u.rate_lo, u.rate_hi));
  let at = r * u.heads * u.hd + h * u.hd;
  let i0 = at + 2u * p; let i1 = i0 + 1u;
  let x0 = x[i0]; let x1 = x[i1];
  x[i0] = x0 * sc.y + x1 * sc.x;
  x[i1] = x1 * sc.y - x0 * sc.x;
}
