struct MdlMaskGrid {
  lq: u32,
  lk: u32,
  n_q_tiles: u32,
  n_k_tiles: u32,
  tile_q: u32,
  tile_k: u32,
  heads: u32,
  total: u32,
  q_offset: u32,
  k_offset: u32,
  pad0: u32,
  pad1: u32,
}
@group(0) @binding(0) var<uniform> grid: MdlMaskGrid;
@group(0) @binding(1) var<storage, read_write> mdl_out: array<u32>;
@group(0) @binding(2) var<storage, read> mask_table: array<i32>;
fn mask_params(i: u32) -> i32 { return mask_table[i]; }
fn mask_data(i: u32) -> i32 { return mask_table[2u + i]; }
fn mdl_mask(b: i32, h: i32, q: i32, k: i32) -> bool {
  return (mask_data(u32(mask_params(0u) + b * mask_params(1u) + k)) != 0);
}
@compute @workgroup_size(64)
fn mdl_classify(@builtin(global_invocation_id) gid: vec3<u32>) {
  let i = gid.x;
  if (i >= grid.total) { return; }
  let kt = i % grid.n_k_tiles;
  let qt = (i / grid.n_k_tiles) % grid.n_q_tiles;
  let hb = i / (grid.n_k_tiles * grid.n_q_tiles);
  let h = hb % grid.heads;
  let b = hb / grid.heads;
  let q0 = qt * grid.tile_q;
  let q1 = min(q0 + grid.tile_q, grid.lq);
  let k0 = kt * grid.tile_k;
  let k1 = min(k0 + grid.tile_k, grid.lk);
  var seen_visible = false;
  var seen_hidden = false;
  for (var q = q0; q < q1; q++) {
    for (var k = k0; k < k1; k++) {
      if (mdl_mask(i32(b), i32(h), i32(q + grid.q_offset), i32(k + grid.k_offset))) { seen_visible = true; } else { seen_hidden = true; }
    }
    if (seen_visible && seen_hidden) { break; }
  }
  // 0 EMPTY, 1 PARTIAL, 2 FULL (TileClass in kernel-contract.ts).
  var class_id = 1u;
  if (!seen_visible) { class_id = 0u; }
  if (!seen_hidden) { class_id = 2u; }
  mdl_out[i] = class_id;
}
