// The backward steps of one attention node in the training program: the fused masked-attention backward kernels
// (src/wgsl/attention-backward.ts) over the forward step's own buffers — Q and K as the forward pass left them
// (rotated, with rotary positions), V, the output, the log-sum-exp the forward kernel wrote, the tile classes and
// mask buffers — then, with rotary positions, the inverse rotation of dQ and dK.
//
//   delta   D = rowsum(dO ∘ O)                           [B, H, Lq], after lse in the forward's row-stats buffer
//   dkdv    dK, dV                                        a workgroup per key tile, kv head and batch row
//   dq      dQ (and per-row partial sums of a relative_bias table's gradient, [B, H, Lq, buckets])
//   table   the table's gradient, summed per (bucket, head) in a fixed order
//
// Every buffer is linear in the lengths. The steps write the gradients straight into the `vjp` nodes' buffers (wrt
// 0: dQ, 1: dK, 2: dV, 3: the table), all at the first of those nodes.

import { sym, type Poly } from '../check/sym.ts';
import { rotaryOf, type IrNode, type NodeOf } from '../ir/ir.ts';
import { generateAttentionBackward, type AttentionBackwardKernels } from '../wgsl/attention-backward.ts';
import { ropeUniforms } from './attention-sites.ts';
import { formula } from './formula.ts';
import type { AttentionBackwardPart, AttentionSite, ProgramBuffer, Step } from './program.ts';

/** The backward kernels of a site, generated exactly as the forward kernel's tiles and mask were. */
export function attentionBackwardKernels(a: AttentionSite): AttentionBackwardKernels {
  return generateAttentionBackward({
    headDim: a.headDim,
    heads: a.heads,
    kvHeads: a.kvHeads,
    scale: a.scale,
    mask: a.mask?.wgsl ?? null,
    modifiers: a.modifiers,
    tileQ: a.tiles.q,
    tileK: a.tiles.k,
  });
}

const fc = (n: number) => formula.constant(n);

/** Elements of the relative_bias table the delta step copies into the row-stats buffer after lse and D (0 without one). */
export function rowStatsTableEntries(a: AttentionSite): number {
  const rb = a.modifiers.find((m) => m.kind === 'relative_bias');
  return rb?.kind === 'relative_bias' ? rb.buckets * a.heads : 0;
}
const f = (p: Poly) => formula.of(p);

/**
 * The steps of attention node `fwd`'s backward pass, given its forward step (which wrote `lse`), the upstream
 * gradient `dOut` and the ids of its `vjp` nodes by argument. Adds the buffers it needs to `buffers`.
 */
export function attentionBackwardSteps(fwd: NodeOf<'attention'>, forward: Step, dOut: string, vjps: Map<number, string>, byId: Map<string, IrNode>, buffers: ProgramBuffer[]): Step[] {
  const a = forward.attention!;
  const kernels = attentionBackwardKernels(a);
  const [qNode, kNode] = [byId.get(fwd.args[0])!, byId.get(fwd.args[1])!];
  const rowsQ = sym.mul(sym.mul(a.batch, a.lq), sym.constant(a.heads));
  const scratch = (wrt: number, name: string, elements: Poly): string => {
    const got = vjps.get(wrt);
    if (got) return got;
    const id = `${fwd.id}#${name}`;
    buffers.push({ id, role: 'value', dtype: 'f32', elements: f(elements) });
    return id;
  };
  const qSize = qNode.shape.reduce((p, d) => sym.mul(p, d), sym.constant(1));
  const kSize = kNode.shape.reduce((p, d) => sym.mul(p, d), sym.constant(1));
  const dQ = scratch(0, 'dq', qSize);
  const dK = scratch(1, 'dk', kSize);
  const dV = scratch(2, 'dv', kSize);
  // The forward step wrote lse into the first [B, H, Lq] of this buffer; D follows it.
  const b = forward.bind;
  const rowStats = b.lse;
  const inputs: Record<string, string> = { q: b.q, k: b.k, v: b.v, rowStats, tileClass: b.tileClass };
  if (b.mask) inputs.mask = b.mask;
  // With a table, the delta step copies it into the row-stats buffer after D, where the walks read it.
  // The row-stats layout (attention-backward.ts `rowStatsLayout`): lse, D, two rows of padding, dO's copy, the table.
  const table: Step['uniforms'] = kernels.table ? { table_offset: f(sym.mul(rowsQ, sym.constant(4 + a.headDim))) } : {};
  const deltaBind: Record<string, string> = { out: b.out, dOut, rowStats, ...(kernels.table ? { scoreTable: b.scoreTable } : {}) };
  const step = (part: AttentionBackwardPart, bind: Record<string, string>, uniforms: Step['uniforms'], grid: Step['grid']): Step => ({
    node: fwd.id,
    kind: 'attention_backward',
    kernel: { kind: 'attention_backward', part },
    bind,
    uniforms,
    grid,
    attention: a,
  });
  // The backward kernels read K and V with Lk rows per batch row: the forward's kv_rows (always Lk in a training
  // pass) is not one of their fields.
  const { kv_rows: _kvRows, ...forwardUniforms } = forward.uniforms;
  const attentionUniforms = { ...forwardUniforms, delta_offset: f(rowsQ), dout_offset: f(rowsQ), ...table };
  const qTiles = forward.uniforms.n_q_tiles;
  const kTiles = forward.uniforms.n_k_tiles;
  if (!('factors' in qTiles) || !('factors' in kTiles)) throw new Error(`${fwd.id}: tile counts are formulas`);
  const steps: Step[] = [
    step('delta', deltaBind, { rows: f(rowsQ), lq: f(a.lq), heads: fc(a.heads), delta_offset: f(rowsQ), dout_copy_offset: f(sym.mul(rowsQ, sym.constant(4))), ...table }, [formula.ceilDiv(f(rowsQ), 64), fc(1), fc(1)]),
    step('dkdv', { ...inputs, dK, dV }, attentionUniforms, [formula.ceilDiv(kTiles, kernels.keyTilesPerGroup), fc(a.kvHeads), f(a.batch)]),
  ];
  const dqBind: Record<string, string> = { ...inputs, dQ };
  if (kernels.table) {
    const partial = `${fwd.id}#table_partial`;
    buffers.push({ id: partial, role: 'value', dtype: 'f32', elements: f(sym.mul(rowsQ, sym.constant(kernels.buckets))) });
    dqBind.tablePartial = partial;
    steps.push(step('dq', dqBind, attentionUniforms, [qTiles, fc(a.heads), f(a.batch)]));
    const dTable = scratch(3, 'dtable', sym.constant(kernels.buckets * a.heads));
    const uniforms = { batch: f(a.batch), lq: f(a.lq), heads: fc(a.heads) };
    steps.push(step('table', { tablePartial: partial, dTable }, uniforms, [fc(Math.ceil((kernels.buckets * a.heads) / 64)), fc(1), fc(1)]));
  } else {
    steps.push(step('dq', dqBind, attentionUniforms, [qTiles, fc(a.heads), f(a.batch)]));
  }
  const rotary = rotaryOf(fwd.attrs);
  if (rotary) {
    // The gradient with respect to the projections: the rotation's transpose applied to the rotated gradients.
    for (const [x, node, h] of [[dQ, qNode, a.heads], [dK, kNode, a.kvHeads]] as const) {
      const rows = sym.mul(node.shape[0], node.shape[1]);
      const uniforms = { rows: f(rows), ...ropeUniforms(rotary, h, a.headDim, node.shape[1]) };
      const count = f(sym.mul(rows, sym.constant((h * rotary.dims) / 2)));
      steps.push({ node: fwd.id, kind: 'train', kernel: { kind: 'train', op: { name: 'rope_inverse', style: rotary.style } }, bind: { x }, uniforms, grid: [formula.ceilDiv(count, 64), fc(1), fc(1)] });
    }
  }
  return steps;
}
