// Runs the attention backward pass (src/wgsl/attention-backward.ts) on the device: uploads Q, K, V, the forward
// output and log-sum-exp, dO, the mask buffers and the forward pass's tile classes, dispatches the delta, dK/dV, dQ
// (and table) kernels in one pass, and reads the gradients back.
//
// Like `prepareAttention`, `prepareAttentionBackward` does everything but the dispatches once, so timings measure the
// kernels alone. It also lists every buffer it allocates, so a test can check that none grows with Lq × Lk.

import { TileClass, type MaskEnv } from '../masks/kernel-contract.ts';
import { attentionUniforms, type AttentionKernel } from '../wgsl/attention.ts';
import { BACKWARD_ROW_GROUP, generateAttentionBackward, rowStatsLayout, type AttentionBackwardConfig, type AttentionBackwardKernels } from '../wgsl/attention-backward.ts';
import { packUniforms, type Kernel } from '../wgsl/kernel.ts';
import { checkAttentionShape } from './attention-cpu.ts';
import { checkTileClasses, maskEnvForRun } from './attention-run.ts';
import type { GpuContext } from './device.ts';
import { outputBuffer, readBack, timedSubmit, uploadBuffer, withErrorScopes } from './gpu-buffers.ts';
import { bindKernel, kernelPipeline } from './kernel-binding.ts';
import { packMaskBuffers } from './mask-buffers.ts';

export interface AttentionBackwardInputs {
  batch: number;
  lq: number;
  lk: number;
  /** [B, Lq, H, D] */
  q: Float32Array;
  /** [B, Lk, kvHeads, D] */
  k: Float32Array;
  /** [B, Lk, kvHeads, D] */
  v: Float32Array;
  /** The forward output, [B, Lq, H, D]. */
  out: Float32Array;
  /** The forward pass's log-sum-exp, [B, H, Lq] (see `lse` in the attention kernel config). */
  lse: Float32Array;
  /** The loss gradient with respect to the output, [B, Lq, H, D]. */
  dOut: Float32Array;
  maskEnv?: MaskEnv;
  /** The forward pass's tile classes; default PARTIAL everywhere with a mask, FULL without. */
  tileClasses?: Uint32Array;
  /** The relative_bias table `[buckets, heads]`, when the modifiers have one. */
  scoreTable?: Float32Array;
}

export interface AttentionGradients {
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
  /** The relative_bias table's gradient, `[buckets, heads]`, when the modifiers have one. */
  dTable?: Float32Array;
}

export interface PreparedAttentionBackward {
  kernels: AttentionBackwardKernels;
  /** Every buffer allocated for the run: its label and bytes. */
  allocations: { label: string; bytes: number }[];
  run(): Promise<void>;
  /** Encodes `count` back-to-back backward passes, submits them at once and waits; milliseconds per pass. */
  time(count?: number): Promise<number>;
  gradients(): Promise<AttentionGradients>;
  destroy(): void;
}

/**
 * The backward kernels matching a forward kernel: its tiles, heads, mask and scale, with the same modifiers; `block`
 * overrides the walks' rows per invocation.
 */
export function attentionBackwardFor(forward: AttentionKernel, modifiers: AttentionBackwardConfig['modifiers'] = [], block?: number): AttentionBackwardKernels {
  const { headDim, heads, kvHeads, scale, tileQ, tileK, mask } = forward;
  return generateAttentionBackward({ headDim, heads, kvHeads, scale, tileQ, tileK, mask, modifiers, ...(block ? { block } : {}) });
}

function checkVector(what: string, data: Float32Array, expected: number, layout: string): void {
  if (data.length !== expected) throw new Error(`${what} has ${data.length} values, expected ${layout} = ${expected}`);
}

export async function prepareAttentionBackward(gpu: GpuContext, kernels: AttentionBackwardKernels, inputs: AttentionBackwardInputs): Promise<PreparedAttentionBackward> {
  gpu.checkHealthy();
  const { batch, lq, lk } = inputs;
  const { heads, kvHeads, headDim, tileQ, tileK } = kernels;
  checkAttentionShape({ batch, lq, lk, heads, kvHeads, headDim }, inputs.q, inputs.k, inputs.v);
  checkVector('O', inputs.out, inputs.q.length, 'B·Lq·H·D');
  checkVector('dO', inputs.dOut, inputs.q.length, 'B·Lq·H·D');
  checkVector('lse', inputs.lse, batch * heads * lq, 'B·H·Lq');

  const steps: Kernel[] = [kernels.delta, kernels.dkdv, kernels.dq, ...(kernels.table ? [kernels.table] : [])];
  const { maxComputeInvocationsPerWorkgroup: maxInvocations, maxComputeWorkgroupsPerDimension: maxGroups } = gpu.limits;
  for (const k of steps) {
    if (k.workgroupSize > maxInvocations) throw new Error(`${k.family} needs ${k.workgroupSize} invocations per workgroup; the device allows ${maxInvocations}`);
  }
  const qTiles = Math.ceil(lq / tileQ);
  const kTiles = Math.ceil(lk / tileK);
  const grid = { qTiles, kTiles, tileClassCount: batch * kernels.tileHeads * qTiles * kTiles };
  const rows = batch * lq * heads;
  const tableEntries = kernels.buckets * heads;
  const dispatch = new Map<Kernel, [number, number, number]>([
    [kernels.delta, [Math.ceil(rows / BACKWARD_ROW_GROUP), 1, 1]],
    [kernels.dkdv, [Math.ceil(kTiles / kernels.keyTilesPerGroup), kvHeads, batch]],
    [kernels.dq, [qTiles, heads, batch]],
  ]);
  if (kernels.table) dispatch.set(kernels.table, [Math.ceil(tableEntries / BACKWARD_ROW_GROUP), 1, 1]);
  for (const [k, d] of dispatch) {
    const over = d.find((n) => n > maxGroups);
    if (over !== undefined) throw new Error(`${k.family} needs ${over} workgroups along one axis, above the device limit of ${maxGroups}`);
  }
  const classes = inputs.tileClasses ?? new Uint32Array(grid.tileClassCount).fill(kernels.mask ? TileClass.Partial : TileClass.Full);
  checkTileClasses(classes, grid, kernels);

  const layout = rowStatsLayout(headDim);
  const rowStats = new Float32Array(layout.elements(rows, tableEntries));
  rowStats.set(inputs.lse);
  const created: GPUBuffer[] = [];
  const allocations: { label: string; bytes: number }[] = [];
  const track = (label: string, bytes: number, buffer: GPUBuffer) => (created.push(buffer), allocations.push({ label, bytes }), buffer);
  const upload = (label: string, data: Float32Array | Uint32Array | Int32Array, usage: 'storage' | 'uniform' = 'storage') =>
    track(label, data.byteLength, uploadBuffer(gpu, label, data, usage));
  const output = (label: string, bytes: number) => track(label, bytes, outputBuffer(gpu, label, bytes));
  try {
    const qBytes = inputs.q.byteLength;
    const kBytes = inputs.k.byteLength;
    const byRole: Record<string, GPUBuffer> = {
      q: upload('Q', inputs.q),
      k: upload('K', inputs.k),
      v: upload('V', inputs.v),
      out: upload('O', inputs.out),
      // lse, then D, dO's copy and the table's copy written by the delta kernel.
      rowStats: upload('row stats', rowStats),
      dOut: upload('dO', inputs.dOut),
      tileClass: upload('tile classes', classes),
      dQ: output('dQ', qBytes),
      dK: output('dK', kBytes),
      dV: output('dV', kBytes),
    };
    if (kernels.mask) {
      const packed = packMaskBuffers(kernels.mask, maskEnvForRun(inputs.maskEnv, lq, lk), batch);
      byRole.mask = upload('mask table', packed.table);
    }
    if (kernels.table) {
      if (!inputs.scoreTable) throw new Error('these kernels apply relative_bias: give its table as scoreTable');
      checkVector('the relative_bias table', inputs.scoreTable, tableEntries, 'buckets·heads');
      byRole.scoreTable = upload('score table', inputs.scoreTable);
      byRole.tablePartial = output('table partial sums', 4 * rows * kernels.buckets);
      byRole.dTable = output('table gradient', 4 * tableEntries);
    }

    const table: Record<string, number> = kernels.table ? { table_offset: layout.table(rows) } : {};
    const attn = { ...attentionUniforms(kernels, grid, lq, lk), delta_offset: layout.delta(rows), dout_offset: layout.dOut4(rows), ...table };
    const uniformValues = new Map<Kernel, Record<string, number>>([
      [kernels.delta, { rows, lq, heads, delta_offset: layout.delta(rows), dout_copy_offset: 4 * layout.dOut4(rows), ...table }],
      [kernels.dkdv, attn],
      [kernels.dq, attn],
    ]);
    if (kernels.table) uniformValues.set(kernels.table, { batch, lq, heads });

    const bound: { pipeline: GPUComputePipeline; group: GPUBindGroup; dispatch: [number, number, number] }[] = [];
    for (const k of steps) {
      const uniforms = upload(`${k.family} params`, packUniforms(k.uniforms, uniformValues.get(k)!), 'uniform');
      const pipeline = await kernelPipeline(gpu, k);
      const group = await withErrorScopes(gpu, `binding ${k.family} buffers`, () => bindKernel(gpu, k, pipeline, uniforms, (role) => byRole[role]));
      bound.push({ pipeline, group, dispatch: dispatch.get(k)! });
    }
    const encode = (count: number) => {
      const encoder = gpu.device.createCommandEncoder({ label: 'attention backward' });
      const pass = encoder.beginComputePass();
      // Each dispatch of a compute pass sees the writes of the ones before it.
      for (let i = 0; i < count; i++) {
        for (const s of bound) {
          pass.setPipeline(s.pipeline);
          pass.setBindGroup(0, s.group);
          pass.dispatchWorkgroups(...s.dispatch);
        }
      }
      pass.end();
      return encoder;
    };
    return {
      kernels,
      allocations,
      async run() {
        await withErrorScopes(gpu, 'dispatching attention backward', () => gpu.device.queue.submit([encode(1).finish()]));
      },
      time: (count = 1) => timedSubmit(gpu, encode(count), count),
      async gradients() {
        const read = async (role: string, bytes: number) => new Float32Array(await readBack(gpu, byRole[role], bytes));
        const grads: AttentionGradients = { dq: await read('dQ', qBytes), dk: await read('dK', kBytes), dv: await read('dV', kBytes) };
        if (kernels.table) grads.dTable = await read('dTable', 4 * tableEntries);
        gpu.checkHealthy();
        return grads;
      },
      destroy() {
        for (const b of created) b.destroy();
      },
    };
  } catch (error) {
    for (const b of created) b.destroy();
    throw error;
  }
}

