// The row-wise attention kernel with K/V shared through subgroup operations instead of workgroup memory.
//
// Same walk as attention-rowwise.ts: one query row per invocation, key tiles steered by their classes (EMPTY skipped,
// FULL with no predicate and no select, PARTIAL and the ragged last tile with selects), scores private, one exp per
// score, the output accumulated unnormalised and divided once. What changes is how a key row reaches the lanes: the
// lanes of a subgroup split each tile's keys among themselves, every lane reading one key row from storage into
// registers, and each key row is then passed to every lane with `subgroupShuffle`. No workgroup memory, no barriers.
//
// Correct for any subgroup size and any layout of running lanes. The subgroup's size is only known when the kernel
// runs (an adapter reports a range), and a subgroup need not be full: with a workgroup that is not a multiple of the
// subgroup size, or a driver that packs lanes as it likes, some lane ids have no invocation behind them, and
// shuffling from such a lane returns an undefined value. So the kernel takes the ballot of running lanes once, gives
// each running lane its rank among them, lets the lane of rank r load key c + r of a chunk of as many keys as there
// are running lanes, and shuffles from the lane that holds the rank it needs (the rank itself when the subgroup is
// full). Every shuffle sits in control flow that is uniform across the subgroup: the tile loop follows the tile
// classes, which are one value per workgroup, and the chunk loops follow the running-lane count, one value per
// subgroup. WGSL's uniformity analysis need not see the latter (a ballot's result is not provably uniform), so the
// subgroup-uniformity diagnostic is switched off for this module: Dawn in Node accepts the kernel without it too,
// but an implementation that reports the rule as an error would otherwise reject it.
//
// The tuner offers the shape only on adapters whose smallest subgroup has 8 lanes or more (src/tune/variants.ts):
// with 4 lanes a chunk of 32 keys takes 8 rounds of loads and shuffles where workgroup memory takes one.

import { ATTN_NAMES as N, MASK_NAMES } from './names.ts';
import { modifyScoreCall, partialPredicateCheck } from './attention-rowwise.ts';
import type { RowwiseEmitInput } from './attention-rowwise.ts';

/** The builtins the subgroup kernel's entry point takes besides the workgroup id and the local index. */
export const SUBGROUP_BUILTINS = '@builtin(subgroup_invocation_id) sg_id: u32, @builtin(subgroup_size) sg_size: u32';

/**
 * Ranks among the running lanes, from a ballot of them (bit i of the vec4 is lane id i): `attn_sg_rank` is how many
 * running lanes have a lower id, `attn_sg_lane_of_rank` the id of the running lane with a given rank. Pure integer
 * functions of their arguments, so they are tested on any ballot without a subgroup to make it.
 */
export const SUBGROUP_RANK_FUNCTIONS = `fn attn_sg_rank(ballot: vec4<u32>, id: u32) -> u32 {
  var rank = 0u;
  for (var w = 0u; w < 4u; w++) {
    if (w < id / 32u) { rank += countOneBits(ballot[w]); }
    if (w == id / 32u) { rank += countOneBits(ballot[w] & ((1u << (id % 32u)) - 1u)); }
  }
  return rank;
}

fn attn_sg_lane_of_rank(ballot: vec4<u32>, rank: u32) -> u32 {
  var left = rank;
  for (var w = 0u; w < 4u; w++) {
    var bits = ballot[w];
    let n = countOneBits(bits);
    if (left < n) {
      for (var i = 0u; i < left; i++) { bits = bits & (bits - 1u); }
      return w * 32u + firstTrailingBit(bits);
    }
    left = left - n;
  }
  return 0u;
}
`;

export function emitSubgroupRowwiseKernel(e: RowwiseEmitInput): string {
  const { unrolled, d4 } = e;
  const modify = modifyScoreCall(e.modifierFn);
  // The predicate is called only for keys inside Lk: a mask's data may not extend past it.
  const predicate = e.maskCode
    ? `if (visible) { visible = ${MASK_NAMES.predicate}(i32(b), i32(h), i32(q_pos + q_offset), i32(key + k_offset)); }`
    : '';
  // A modifier may push a score in a FULL tile to the floor (a -inf bias): then the plain path must select too.
  const plainSafe = !e.modifierFn;

  // One pass over a tile's keys in chunks of `n_lanes`: the lane of rank r loads row c + r of `source` into `reg_*`,
  // then every lane takes each row of the chunk in turn, shuffled from the lane that loaded it.
  const chunked = (source: string, reg: string, indent: string, body: string) => `${indent}for (var c = 0u; c < ATTN_TK; c += n_lanes) {
${indent}  let my_key = k_start + c + rank;
${unrolled(d4, `${indent}  `, (j) => `var ${reg}_${j} = vec4<f32>(0.0);`)}
${indent}  if (c + rank < ATTN_TK && my_key < lk) {
${indent}    let g = ((b * kv_rows + my_key) * kv_heads + kvh) * ATTN_D4;
${unrolled(d4, `${indent}    `, (j) => `${reg}_${j} = ${source}[g + ${j}u];`)}
${indent}  }
${indent}  let count = min(n_lanes, ATTN_TK - c);
${indent}  for (var t = 0u; t < count; t++) {
${indent}    var src = t;
${indent}    if (!full) { src = attn_sg_lane_of_rank(ballot, t); }
${indent}    let kk = c + t;
${body}
${indent}  }
${indent}}`;

  const dot = (indent: string) => `${indent}var dot4 = q_0 * subgroupShuffle(kr_0, src);
${unrolled(d4 - 1, indent, (i) => `dot4 = fma(q_${i + 1}, subgroupShuffle(kr_${i + 1}, src), dot4);`)}
${indent}var s = dot4.x + dot4.y + dot4.z + dot4.w;`;
  const plainScores = chunked(N.k, 'kr', '      ', `      let key = k_start + kk;
${dot('      ')}
      ${modify}
      sc[kk] = s;
      m_tile = max(m_tile, s);`);
  const maskedScores = chunked(N.k, 'kr', '      ', `      let key = k_start + kk;
      var visible = key < lk;
      ${predicate}
${dot('      ')}
      ${modify}
      s = select(ATTN_MASKED, s, visible);
      sc[kk] = s;
      m_tile = max(m_tile, s);`);
  const plainValues = chunked(N.v, 'vr', '      ', `      let p = exp(sc[kk] - m_use);
      l_run = l_run + p;
      let pv = vec4<f32>(p);
${unrolled(d4, '      ', (j) => `acc_${j} = fma(pv, subgroupShuffle(vr_${j}, src), acc_${j});`)}`);
  const maskedValues = chunked(N.v, 'vr', '      ', `      let s = sc[kk];
      // A score at the floor is masked: its weight is 0 and its V row's product is selected away, never added.
      let shown = take && s > ATTN_VISIBLE_FLOOR;
      let p = select(0.0, exp(s - m_use), shown);
      l_run = l_run + p;
      let pv = vec4<f32>(p);
${unrolled(d4, '      ', (j) => `acc_${j} = acc_${j} + select(vec4<f32>(0.0), pv * subgroupShuffle(vr_${j}, src), shown);`)}`);

  return `enable subgroups;
diagnostic(off, subgroup_uniformity);
${e.header}${SUBGROUP_RANK_FUNCTIONS}
${e.preamble}  let q_pos = qt * ATTN_TQ + lid;
  let q_in = q_pos < lq;
  let kvh = h / ${N.params}.kv_group;

  // The query row, pre-scaled. Rows past Lq read row Lq - 1 (always in bounds), take part in every shuffle (their
  // lane may hold a key row others need) and store nothing.
  let q_base = ((b * lq + min(q_pos, lq - 1u)) * heads + h) * ATTN_D4;
  let scale = ${N.params}.scale;
${unrolled(d4, '  ', (i) => `let q_${i} = ${N.q}[q_base + ${i}u] * scale;`)}

${unrolled(d4, '  ', (j) => `var acc_${j} = vec4<f32>(0.0);`)}
  var m_run = ATTN_MASKED;
  var l_run = 0.0;
  var sc: array<f32, ATTN_TK>;
  let class_base = ((${e.perHeadClasses ? 'b * heads + h' : 'b'}) * ${N.params}.n_q_tiles + qt) * n_k_tiles;

  // The running lanes of this subgroup, this lane's rank among them, and whether they are all there.
  let ballot = subgroupBallot(true);
  let n_lanes = countOneBits(ballot.x) + countOneBits(ballot.y) + countOneBits(ballot.z) + countOneBits(ballot.w);
  let full = n_lanes == sg_size;
  let rank = attn_sg_rank(ballot, sg_id);

  for (var kt = 0u; kt < n_k_tiles; kt++) {
    // Uniform across the workgroup (every invocation reads the same entry), so every lane of a subgroup skips alike.
    let cls = ${N.tileClass}[class_base + kt];
    if (cls == ATTN_EMPTY) { continue; }
    let k_start = kt * ATTN_TK;

    // A FULL tile wholly inside Lk: no predicate, no edge, no select.
    let plain = cls != ATTN_PARTIAL && k_start + ATTN_TK <= lk;
    var m_tile = ATTN_MASKED;
    if (plain) {
${plainScores}
    } else {
${maskedScores}
    }

    // Lanes with nothing visible in this tile (and rows past Lq) still run the value pass for the others' sake; they
    // subtract a huge maximum, so their weights are 0 and their state stays as it was.
    let take = q_in && m_tile > ATTN_VISIBLE_FLOOR;
    var m_use = 3.0e38;
    if (take) {
      let m_new = max(m_run, m_tile);
      let alpha = exp(m_run - m_new);
      l_run = l_run * alpha;
${unrolled(d4, '      ', (j) => `acc_${j} = acc_${j} * alpha;`)}
      m_run = m_new;
      m_use = m_new;
    }
    if (${plainSafe ? 'plain' : 'false'}) {
${plainValues}
    } else {
${maskedValues}
    }
  }

  if (q_in) {
    // A row that saw no visible key has l_run = 0 and outputs exact zeros.
    let inv = select(0.0, 1.0 / l_run, l_run > 0.0);
    let o_base = ((b * lq + q_pos) * heads + h) * ATTN_D4;
${unrolled(d4, '    ', (j) => `${N.out}[o_base + ${j}u] = acc_${j} * inv;`)}${e.lseStore}
  }
}
`;
}
