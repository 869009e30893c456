// The row-wise attention kernel: a second shape of the fused kernel, for adapters where the default shape's
// workgroup-memory score tile and its lanes cost more than they share (a CPU implementation of WebGPU, such as
// SwiftShader, runs a workgroup as SIMD lanes on one core: every barrier is a rendezvous, every lane re-reading a
// score row is redundant work).
//
// One query row per invocation. The workgroup stages a K and a V tile (32 keys where workgroup memory allows) and
// each invocation keeps its scores for the tile in a private array: one dot product and one exp per score, two
// barriers per tile, the softmax sum and output accumulated unnormalised and divided once at the end. Tile classes
// steer it as they steer the default shape: EMPTY tiles are skipped before their K/V rows are loaded; a FULL tile
// wholly inside Lk runs with no predicate and no select; a PARTIAL tile, or the ragged last tile, computes every
// score and selects the masked ones away (`select` of the product, so a masked V row holding Inf or NaN never
// reaches the output). Same uniforms, bindings and tile-class layout as the default shape, `kv_rows` included.

import { ATTN_NAMES as N, MASK_NAMES } from './names.ts';

export interface RowwiseEmitInput {
  d4: number;
  maskCode?: string;
  modifierFn?: string;
  perHeadClasses: boolean;
  tileK: number;
  /** The shared header (constants, declarations, mask, modifiers) and entry preamble of the generator. */
  header: string;
  preamble: string;
  /** The log-sum-exp store of the generator, or ''. */
  lseStore: string;
  unrolled: (count: number, indent: string, line: (i: number) => string) => string;
}

/**
 * WGSL that sets kt_first and kt_end to the first non-EMPTY key tile of this query tile and one past the last (an
 * empty range when every tile is EMPTY), from the tile classes at class_base. A staged kernel walks only that range:
 * the scan has no barrier in it, while on a CPU adapter each iteration of the staged loop costs far more than its
 * skip test (every invocation of the workgroup is resumed for it), which dominated a sliding window's time at long
 * lengths. EMPTY tiles inside the range are still skipped one by one.
 */
export function nonEmptyTileRange(indent: string): string {
  return [
    'var kt_first = n_k_tiles;',
    'var kt_end = 0u;',
    'for (var kt = 0u; kt < n_k_tiles; kt++) {',
    `  if (${N.tileClass}[class_base + kt] != ATTN_EMPTY) {`,
    '    kt_first = min(kt_first, kt);',
    '    kt_end = kt + 1u;',
    '  }',
    '}',
  ]
    .map((line) => indent + line)
    .join('\n');
}

/** The score modifier's call on `s` for the pair (q_pos, key), or nothing when the site has no modifier. */
export function modifyScoreCall(modifierFn: string | undefined): string {
  return modifierFn ? `s = ${N.modifyScore}(s, b, h, q_pos + q_offset, key + k_offset, lq + q_offset, lk + k_offset);` : '';
}

/**
 * The mask predicate, asked only in a PARTIAL tile and only for keys inside Lk (a mask's data may not extend past
 * it); nothing when the site has no mask.
 */
export function partialPredicateCheck(maskCode: string | undefined): string {
  return maskCode
    ? `if (visible && cls == ATTN_PARTIAL) { visible = ${MASK_NAMES.predicate}(i32(b), i32(h), i32(q_pos + q_offset), i32(key + k_offset)); }`
    : '';
}

/**
 * WGSL that stages key tile `kt` (from `k_start`) of K and V into workgroup memory, zeros past Lk, then waits for
 * the whole workgroup: the default and the row-wise shape load their tiles the same way.
 */
export function stageKeyTile(): string {
  return `    for (var idx = lid; idx < ATTN_TK * ATTN_D4; idx += ATTN_WG) {
      let key = k_start + idx / ATTN_D4;
      var k_val = vec4<f32>(0.0);
      var v_val = vec4<f32>(0.0);
      if (key < lk) {
        let g = ((b * kv_rows + key) * kv_heads + kvh) * ATTN_D4 + idx % ATTN_D4;
        k_val = ${N.k}[g];
        v_val = ${N.v}[g];
      }
      ${N.kTile}[idx] = k_val;
      ${N.vTile}[idx] = v_val;
    }
    workgroupBarrier();
`;
}

export function emitRowwiseKernel(e: RowwiseEmitInput): string {
  const { unrolled } = e;
  const dot = (indent: string) => `${indent}let k_base = kk * ATTN_D4;
${indent}var dot4 = q_0 * ${N.kTile}[k_base];
${unrolled(e.d4 - 1, indent, (i) => `dot4 = fma(q_${i + 1}, ${N.kTile}[k_base + ${i + 1}u], dot4);`)}
${indent}var s = dot4.x + dot4.y + dot4.z + dot4.w;`;
  const modify = modifyScoreCall(e.modifierFn);
  const predicate = partialPredicateCheck(e.maskCode);
  // A modifier may push a score in a FULL tile to the floor (a -inf bias): then the plain path must select too.
  const plainSafe = !e.modifierFn;
  return `${e.header}var<workgroup> ${N.kTile}: array<vec4<f32>, ${e.tileK * e.d4}>;
var<workgroup> ${N.vTile}: array<vec4<f32>, ${e.tileK * e.d4}>;

${e.preamble}  let q_pos = qt * ATTN_TQ + lid;
  let q_in = q_pos < lq;
  let kvh = h / ${N.params}.kv_group;

  // The query row, pre-scaled. Rows past Lq read row Lq - 1 (always in bounds) and store nothing.
  let q_base = ((b * lq + min(q_pos, lq - 1u)) * heads + h) * ATTN_D4;
  let scale = ${N.params}.scale;
${unrolled(e.d4, '  ', (i) => `let q_${i} = ${N.q}[q_base + ${i}u] * scale;`)}

${unrolled(e.d4, '  ', (j) => `var acc_${j} = vec4<f32>(0.0);`)}
  var m_run = ATTN_MASKED;
  var l_run = 0.0;
  var sc: array<f32, ATTN_TK>;
  let class_base = ((${e.perHeadClasses ? 'b * heads + h' : 'b'}) * ${N.params}.n_q_tiles + qt) * n_k_tiles;

${nonEmptyTileRange('  ')}
  for (var kt = kt_first; kt < kt_end; kt++) {
    // Uniform across the workgroup (every invocation reads the same entry), so skipping keeps barriers uniform.
    let cls = ${N.tileClass}[class_base + kt];
    if (cls == ATTN_EMPTY) { continue; }
    let k_start = kt * ATTN_TK;

${stageKeyTile()}
    // A FULL tile wholly inside Lk: no predicate, no edge, no select.
    let plain = cls != ATTN_PARTIAL && k_start + ATTN_TK <= lk;
    var m_tile = ATTN_MASKED;
    if (plain) {
      for (var kk = 0u; kk < ATTN_TK; kk++) {
        let key = k_start + kk;
${dot('        ')}
        ${modify}
        sc[kk] = s;
        m_tile = max(m_tile, s);
      }
    } else {
      for (var kk = 0u; kk < ATTN_TK; kk++) {
        let key = k_start + kk;
        var visible = key < lk;
        ${predicate}
${dot('        ')}
        ${modify}
        s = select(ATTN_MASKED, s, visible);
        sc[kk] = s;
        m_tile = max(m_tile, s);
      }
    }

    if (q_in && m_tile > ATTN_VISIBLE_FLOOR) {
      let m_new = max(m_run, m_tile);
      let alpha = exp(m_run - m_new);
      l_run = l_run * alpha;
${unrolled(e.d4, '      ', (j) => `acc_${j} = acc_${j} * alpha;`)}
      if (${plainSafe ? 'plain' : 'false'}) {
        for (var kk = 0u; kk < ATTN_TK; kk++) {
          let p = exp(sc[kk] - m_new);
          l_run = l_run + p;
          let pv = vec4<f32>(p);
          let v_base = kk * ATTN_D4;
${unrolled(e.d4, '          ', (j) => `acc_${j} = fma(pv, ${N.vTile}[v_base + ${j}u], acc_${j});`)}
        }
      } else {
        for (var kk = 0u; kk < ATTN_TK; kk++) {
          let s = sc[kk];
          // A score at the floor is masked: its weight is 0 and its V row's product is selected away, never added.
          let shown = s > ATTN_VISIBLE_FLOOR;
          let p = select(0.0, exp(s - m_new), shown);
          l_run = l_run + p;
          let pv = vec4<f32>(p);
          let v_base = kk * ATTN_D4;
${unrolled(e.d4, '          ', (j) => `acc_${j} = acc_${j} + select(vec4<f32>(0.0), pv * ${N.vTile}[v_base + ${j}u], shown);`)}
        }
      }
      m_run = m_new;
    }
    // The next tile overwrites K and V.
    workgroupBarrier();
  }

  if (q_in) {
    // A row that saw no visible key has l_run = 0 and outputs exact zeros.
    let inv = select(0.0, 1.0 / l_run, l_run > 0.0);
    let o_base = ((b * lq + q_pos) * heads + h) * ATTN_D4;
${unrolled(e.d4, '    ', (j) => `${N.out}[o_base + ${j}u] = acc_${j} * inv;`)}${e.lseStore}
  }
}
`;
}
