// The split-key decode kernel: the fused attention kernel's shape for a call with a few new query rows (a decode
// step with a key/value cache), where a query tile of 32 rows would leave all but one idle and the default decode
// tiles (one row, its lanes across the head dim) make every lane read the whole score row and exp all of it.
//
// One query row per workgroup. Its `lanes` invocations split the row's key tiles between them (tile kt goes to lane
// kt mod lanes; with fewer tiles than lanes, each tile's keys are dealt out in interleaved slices to several lanes),
// and each lane walks its share as the row-wise kernel (attention-rowwise.ts) walks all the tiles: the
// query row in registers, K and V read straight from storage (one row sees each key once, so staging them in
// workgroup memory would share nothing), the tile's scores in a private array, one exp per score, the sum and output
// accumulated unnormalised. EMPTY tiles are skipped; a FULL tile wholly inside Lk runs with no predicate and no
// select; a PARTIAL tile, or the ragged last tile, computes every score at an in-bounds key row and selects the masked
// ones away (`select` of the product, so a masked V row holding Inf or NaN never reaches the output).
//
// The lanes' partial (max, sum, output) triples are then combined in workgroup memory, the flash-decoding way: each
// lane rescales its own triple to the workgroup's max, and the sums run over the lanes in lane order, so the result
// does not depend on scheduling. A long prompt's keys are spread over all lanes instead of walked by one.
// Same uniforms, bindings and tile-class layout as the other shapes, `kv_rows` and per-row windows included.

import { ATTN_NAMES as N } from './names.ts';
import { modifyScoreCall, partialPredicateCheck, type RowwiseEmitInput } from './attention-rowwise.ts';

/** What the generator hands the split-key emitter: the row-wise kernel's inputs, with a flag for the lse store. */
export interface SplitDecodeEmitInput extends Omit<RowwiseEmitInput, 'lseStore'> {
  /** Whether to store the row's log-sum-exp (`lse`). */
  lse: boolean;
}

const PART_M = 'attn_part_m';
const PART_L = 'attn_part_l';
const PART_ACC = 'attn_part_acc';

export function emitSplitDecodeKernel(e: SplitDecodeEmitInput): string {
  const { unrolled } = e;
  // `row` is a key row known to be in bounds: the key itself in a plain tile, else the key clamped to the last row.
  const dot = (indent: string) => `${indent}let kv_base = ((b * kv_rows + row) * kv_heads + kvh) * ATTN_D4;
${indent}var dot4 = q_0 * ${N.k}[kv_base];
${unrolled(e.d4 - 1, indent, (i) => `dot4 = fma(q_${i + 1}, ${N.k}[kv_base + ${i + 1}u], dot4);`)}
${indent}var s = dot4.x + dot4.y + dot4.z + dot4.w;`;
  const modify = modifyScoreCall(e.modifierFn);
  const predicate = partialPredicateCheck(e.maskCode);
  // A modifier may push a score in a FULL tile to the floor (a -inf bias): then the plain path must select too.
  const plainSafe = !e.modifierFn;
  const vRow = (indent: string) => `${indent}let v_base = ((b * kv_rows + row) * kv_heads + kvh) * ATTN_D4;`;
  return `${e.header}var<workgroup> ${PART_M}: array<f32, ATTN_WG>;
var<workgroup> ${PART_L}: array<f32, ATTN_WG>;
var<workgroup> ${PART_ACC}: array<vec4<f32>, ${`ATTN_WG * ATTN_D4`}>;

${e.preamble}  // One query row per workgroup (the query tile is 1): every lane holds it.
  let q_pos = qt;
  let kvh = h / ${N.params}.kv_group;
  let q_base = ((b * lq + q_pos) * heads + h) * ATTN_D4;
  let scale = ${N.params}.scale;
${unrolled(e.d4, '  ', (i) => `let q_${i} = ${N.q}[q_base + ${i}u] * scale;`)}

${unrolled(e.d4, '  ', (j) => `var acc_${j} = vec4<f32>(0.0);`)}
  var m_run = ATTN_MASKED;
  var l_run = 0.0;
  var sc: array<f32, ATTN_TK>;
  // Masked keys past Lk are still read (then selected away): at the last key row, always in bounds.
  let last_row = max(lk, 1u) - 1u;
  let class_base = ((${e.perHeadClasses ? 'b * heads + h' : 'b'}) * ${N.params}.n_q_tiles + qt) * n_k_tiles;

  // Work units are (key tile, part): with fewer tiles than lanes (a short prompt) each tile is cut into \`parts\`
  // interleaved slices of its keys, so the lanes still share the keys; with as many tiles as lanes, one unit per tile.
  // No barrier inside the walk: each lane skips its EMPTY tiles on its own.
  let parts = max(1u, ATTN_WG / max(n_k_tiles, 1u));
  for (var unit = lid; unit < n_k_tiles * parts; unit += ATTN_WG) {
    let kt = unit / parts;
    let part = unit % parts;
    let cls = ${N.tileClass}[class_base + kt];
    if (cls == ATTN_EMPTY) { continue; }
    let k_start = kt * ATTN_TK;
    // A FULL tile wholly inside Lk: no predicate, no edge, no select.
    let plain = cls != ATTN_PARTIAL && k_start + ATTN_TK <= lk;
    var m_tile = ATTN_MASKED;
    if (plain) {
      for (var kk = part; kk < ATTN_TK; kk += parts) {
        let key = k_start + kk;
        let row = key;
${dot('        ')}
        ${modify}
        sc[kk] = s;
        m_tile = max(m_tile, s);
      }
    } else {
      for (var kk = part; kk < ATTN_TK; kk += parts) {
        let key = k_start + kk;
        var visible = key < lk;
        ${predicate}
        let row = min(key, last_row);
${dot('        ')}
        ${modify}
        s = select(ATTN_MASKED, s, visible);
        sc[kk] = s;
        m_tile = max(m_tile, s);
      }
    }

    if (m_tile > ATTN_VISIBLE_FLOOR) {
      let m_new = max(m_run, m_tile);
      let alpha = exp(m_run - m_new);
      l_run = l_run * alpha;
${unrolled(e.d4, '      ', (j) => `acc_${j} = acc_${j} * alpha;`)}
      if (${plainSafe ? 'plain' : 'false'}) {
        for (var kk = part; kk < ATTN_TK; kk += parts) {
          let row = k_start + kk;
          let p = exp(sc[kk] - m_new);
          l_run = l_run + p;
          let pv = vec4<f32>(p);
${vRow('          ')}
${unrolled(e.d4, '          ', (j) => `acc_${j} = fma(pv, ${N.v}[v_base + ${j}u], acc_${j});`)}
        }
      } else {
        for (var kk = part; kk < ATTN_TK; kk += parts) {
          let row = min(k_start + kk, last_row);
          let s = sc[kk];
          // A score at the floor is masked: its weight is 0 and its V row's product is selected away, never added.
          let shown = s > ATTN_VISIBLE_FLOOR;
          let p = select(0.0, exp(s - m_new), shown);
          l_run = l_run + p;
          let pv = vec4<f32>(p);
${vRow('          ')}
${unrolled(e.d4, '          ', (j) => `acc_${j} = acc_${j} + select(vec4<f32>(0.0), pv * ${N.v}[v_base + ${j}u], shown);`)}
        }
      }
      m_run = m_new;
    }
  }

  // Combine the lanes' partials. First the workgroup's max; then each lane rescales its own triple to it (a lane that
  // saw no visible key holds l = 0 and a zero row, whatever its weight); then fixed-order sums over the lanes.
  ${PART_M}[lid] = m_run;
  workgroupBarrier();
  var m_all = ATTN_MASKED;
  for (var i = 0u; i < ATTN_WG; i++) { m_all = max(m_all, ${PART_M}[i]); }
  let w = exp(m_run - m_all);
  ${PART_L}[lid] = l_run * w;
  let part_base = lid * ATTN_D4;
${unrolled(e.d4, '  ', (j) => `${PART_ACC}[part_base + ${j}u] = acc_${j} * w;`)}
  workgroupBarrier();
  var l_all = 0.0;
  for (var i = 0u; i < ATTN_WG; i++) { l_all = l_all + ${PART_L}[i]; }
  // A row that saw no visible key has l = 0 and outputs exact zeros.
  let inv = select(0.0, 1.0 / l_all, l_all > 0.0);
  let o_base = ((b * lq + q_pos) * heads + h) * ATTN_D4;
  for (var j = lid; j < ATTN_D4; j += ATTN_WG) {
    var sum = vec4<f32>(0.0);
    for (var i = 0u; i < ATTN_WG; i++) { sum = sum + ${PART_ACC}[i * ATTN_D4 + j]; }
    ${N.out}[o_base + j] = sum * inv;
  }${e.lse ? `\n  if (lid == 0u) { ${N.lse}[(b * heads + h) * lq + q_pos] = select(ATTN_MASKED, m_all + log(l_all), l_all > 0.0); }` : ''}
}
`;
}
