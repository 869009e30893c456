// The row-wise attention kernel with K/V shared through subgroup operations (src/wgsl/attention-subgroups.ts), on
// Dawn, against the CPU oracle. The adapter here runs 4-lane subgroups, so a 32-key tile takes 8 chunks, and
// workgroups of 1, 5, 7 and 18 rows leave their last subgroup partly empty: the kernel must then share keys among
// the lanes that exist. The zoo test (attention-zoo.test.ts) runs it on every mask of the shipped zoo.

import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { lower } from '../../src/lower/passes.ts';
import { attentionKernelOf } from '../../src/lower/step-kernels.ts';
import { CachedDecoder } from '../../src/runtime/cached-decoder.ts';
import { interpret } from '../../src/runtime/cpu-interpreter.ts';
import { gpuForward, stepInputs } from '../../src/runtime/generate.ts';
import { seededWeights } from '../../src/runtime/init-weights.ts';
import { runProgram } from '../../src/runtime/program.ts';
import { TileClass } from '../../src/masks/kernel-contract.ts';
import { attentionKernelFor } from '../../src/runtime/attention-run.ts';
import { attentionVariants, subgroupSharingAllowed } from '../../src/tune/variants.ts';
import { SUBGROUP_RANK_FUNCTIONS } from '../../src/wgsl/attention-subgroups.ts';
import { alibiSlopes, type ScoreModifier } from '../../src/wgsl/score-modifiers.ts';
import { runBackwardCase } from './attention-backward-harness.ts';
import { describeCase, runCase, useGpu, type AttentionCase } from './gpu-harness.ts';
import { allFinite, causalBottomRight, causalTopLeft, classifyTiles, envFor, keyPadding, randomFloats, someRowsBlind } from './mask-fixtures.ts';

const TOLERANCE = 1e-4;
const sharing = (q: number, k: number) => ({ q, k, lanes: 1, rowwise: true, subgroups: true });

describe('row-wise attention with subgroup-shared K/V', () => {
  const gpu = useGpu();

  it('is generated with the subgroups extension and no workgroup memory, and refused by a device without it', () => {
    const kernel = attentionKernelFor(gpu(), { headDim: 32, heads: 2, kvHeads: 1, tiles: sharing(64, 32) });
    expect(kernel.subgroups).toBe(true);
    expect(kernel.wgsl.startsWith('enable subgroups;\n')).toBe(true);
    expect(kernel.wgsl).toContain('subgroupShuffle(');
    expect(kernel.wgsl).not.toContain('var<workgroup>');
    expect(kernel.wgsl).not.toContain('workgroupBarrier');
    expect(kernel.workgroupStorageBytes).toBe(0);
    const withoutSubgroups = { ...gpu(), subgroups: undefined };
    expect(() => attentionKernelFor(withoutSubgroups, { headDim: 32, heads: 2, kvHeads: 1, tiles: sharing(64, 32) })).toThrow(/needs the 'subgroups' feature/);
  });

  it('is a tuner candidate on this adapter exactly when its smallest subgroup has 8 lanes or more', () => {
    // The device was created with the feature wherever the adapter offers it (SwiftShader does, with 4 lanes).
    const offered = attentionVariants(64, gpu().limits, Infinity, gpu().subgroups).some((t) => t.subgroups);
    expect(offered).toBe(subgroupSharingAllowed(gpu().subgroups));
    // The device holds the feature exactly when its sizes are known, so a kernel that needs it never meets a device
    // created without it.
    expect(gpu().device.features.has('subgroups')).toBe(!!gpu().subgroups);
    if (gpu().subgroups) expect(gpu().subgroups!.minSize).toBeLessThanOrEqual(gpu().subgroups!.maxSize);
  });

  it('ranks running lanes and finds the lane of a rank for any ballot, holes and all four words included', async () => {
    // On this adapter a partly empty subgroup runs lanes 0..n-1, so the kernel tests above never see a ballot with
    // holes; a driver may. The two functions the kernel uses for that are checked here on such ballots.
    const ballots = [[0xf, 0, 0, 0], [0x3, 0, 0, 0], [0b1010, 0, 0, 0], [0xffff0000, 0, 0x80000001, 0xf0], [0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0, 0x10, 0, 0x80000000]];
    const { device } = gpu();
    const module = device.createShaderModule({
      code: `@group(0) @binding(0) var<storage, read> ballots: array<vec4<u32>>;
@group(0) @binding(1) var<storage, read_write> out: array<u32>;
${SUBGROUP_RANK_FUNCTIONS}
@compute @workgroup_size(128)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) i: u32) {
  let ballot = ballots[wg.x];
  out[wg.x * 256u + i] = attn_sg_rank(ballot, i);
  out[wg.x * 256u + 128u + i] = attn_sg_lane_of_rank(ballot, i);
}`,
    });
    const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'main' } });
    const input = device.createBuffer({ size: ballots.length * 16, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
    device.queue.writeBuffer(input, 0, Uint32Array.from(ballots.flat()));
    const size = ballots.length * 256 * 4;
    const out = device.createBuffer({ size, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
    const read = device.createBuffer({ size, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    const encoder = device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: input } }, { binding: 1, resource: { buffer: out } }] }));
    pass.dispatchWorkgroups(ballots.length);
    pass.end();
    encoder.copyBufferToBuffer(out, 0, read, 0, size);
    device.queue.submit([encoder.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const got = new Uint32Array(read.getMappedRange().slice(0));
    read.unmap();
    for (const b of [input, out, read]) b.destroy();
    ballots.forEach((words, n) => {
      const lanes = Array.from({ length: 128 }, (_, id) => id).filter((id) => (words[id >> 5] >>> (id & 31)) & 1);
      for (let id = 0; id < 128; id++) expect(got[n * 256 + id], `ballot ${n}, rank of lane ${id}`).toBe(lanes.filter((l) => l < id).length);
      lanes.forEach((lane, rank) => expect(got[n * 256 + 128 + rank], `ballot ${n}, lane of rank ${rank}`).toBe(lane));
    });
  });

  // Rows per workgroup that fill no subgroup evenly (1, 5, 7, 18) and that do (64); key tiles of 8 and 32.
  for (const [q, k] of [[1, 8], [5, 32], [7, 8], [18, 32], [64, 32], [64, 8]]) {
    for (const fixture of [undefined, causalTopLeft, keyPadding]) {
      it(`${q} rows × ${k} keys, ${fixture?.name ?? 'no mask'}: odd lengths, Lq ≠ Lk, GQA, classified tiles`, async () => {
        const [batch, lq, lk] = [2, 37, 70];
        const c: AttentionCase = {
          batch, lq, lk, heads: 4, kvHeads: 2, headDim: 32, fixture, env: envFor(fixture, batch, lq, lk), kernel: { tiles: sharing(q, k) },
          classes: fixture ? (kernel, mask) => classifyTiles(kernel, batch, lq, lk, mask!) : undefined,
        };
        const r = await runCase(gpu(), c);
        expect(r.kernel.subgroups).toBe(true);
        expect(r.error, describeCase(c)).toBeLessThanOrEqual(TOLERANCE);
      });
    }
  }

  const modifierCases: [string, ScoreModifier[]][] = [
    ['ALiBi', [{ kind: 'alibi', slopes: alibiSlopes(6), form: 'distance' }]],
    ['soft-cap', [{ kind: 'softcap', cap: 2 }]],
    ['ALiBi then soft-cap', [{ kind: 'alibi', slopes: alibiSlopes(6), form: 'distance' }, { kind: 'softcap', cap: 1.5 }]],
  ];
  for (const [name, modifiers] of modifierCases) {
    it(`score modifier: ${name}`, async () => {
      const r = await runCase(gpu(), {
        batch: 2, lq: 37, lk: 53, heads: 6, kvHeads: 3, headDim: 32, fixture: causalBottomRight, kernel: { modifiers, tiles: sharing(18, 32) },
        q: randomFloats(2 * 37 * 6 * 32, 21, 3),
      });
      expect(r.error).toBeLessThanOrEqual(TOLERANCE);
    });
  }

  it('score modifier: a learned relative bias then soft-cap, with and without a mask', async () => {
    const heads = 4;
    const shape = { buckets: 8, maxDistance: 20, bidirectional: true };
    const table = randomFloats(shape.buckets * heads, 5, 2);
    const modifiers: ScoreModifier[] = [{ kind: 'relative_bias', heads, table, ...shape }, { kind: 'softcap', cap: 5 }];
    for (const fixture of [undefined, causalTopLeft]) {
      const r = await runCase(gpu(), { batch: 2, lq: 37, lk: 45, heads, kvHeads: 2, headDim: 32, fixture, kernel: { modifiers, tiles: sharing(7, 32) }, scoreTable: table });
      expect(r.error, fixture?.name ?? 'no mask').toBeLessThan(TOLERANCE);
    }
  });

  it('Inf and NaN in masked V rows of PARTIAL and EMPTY tiles do not reach the output', async () => {
    // Key padding with lengths 21 and 9 over 8-key tiles: keys 21..23 (9..15) share PARTIAL tiles with visible keys,
    // the rest lie in EMPTY tiles. Every masked V row holds Inf or NaN, and a lane loads and shuffles such rows to
    // the others in PARTIAL tiles: a kernel that multiplied them by a weight of 0 would output NaN.
    const [batch, lq, lk, kvHeads, headDim] = [2, 40, 40, 2, 32];
    const env = { dims: { Lq: lq, Lk: lk }, data: { lengths: Int32Array.of(21, 9) } };
    const v = randomFloats(batch * lk * kvHeads * headDim, 6);
    for (const [b, length] of [[0, 21], [1, 9]]) {
      for (let key = length; key < lk; key++) {
        const start = (b * lk + key) * kvHeads * headDim;
        v.fill(key % 2 ? Infinity : NaN, start, start + kvHeads * headDim);
      }
    }
    for (const tiles of [sharing(8, 8), sharing(5, 8)]) {
      const c: AttentionCase = {
        batch, lq, lk, heads: 4, kvHeads, headDim, fixture: keyPadding, env, v, kernel: { tiles },
        classes: (kernel, mask) => classifyTiles(kernel, batch, lq, lk, mask!),
      };
      const r = await runCase(gpu(), c);
      expect(allFinite(r.gpu), `${tiles.q} rows`).toBe(true);
      expect(r.error, `${tiles.q} rows`).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it('a tile marked EMPTY is not loaded, even when the mask would show it', async () => {
    // No mask; key tile 2 (keys 16..23) is declared EMPTY for every query tile and its V rows are NaN.
    const [batch, lq, lk, kvHeads, headDim] = [1, 20, 37, 1, 32];
    const v = randomFloats(lk * kvHeads * headDim, 8);
    v.fill(NaN, 16 * headDim, 24 * headDim);
    const r = await runCase(gpu(), {
      batch, lq, lk, heads: 2, kvHeads, headDim, v, kernel: { tiles: sharing(6, 8) },
      classes: (kernel) => {
        const qTiles = Math.ceil(lq / kernel.tileQ);
        const kTiles = Math.ceil(lk / kernel.tileK);
        const classes = new Uint32Array(qTiles * kTiles).fill(TileClass.Full);
        for (let qt = 0; qt < qTiles; qt++) classes[qt * kTiles + 2] = TileClass.Empty;
        return classes;
      },
      oracleMask: (_b, _h, _q, key) => key < 16 || key >= 24,
    });
    expect(allFinite(r.gpu)).toBe(true);
    expect(r.error).toBeLessThanOrEqual(TOLERANCE);
  });

  it('writes the log-sum-exp the backward pass runs from, with rows that see no key', async () => {
    const [batch, lq, lk] = [2, 17, 17];
    const env = envFor(someRowsBlind, batch, lq, lk);
    const oracleMask = someRowsBlind.predicate({ ...env, dims: { ...env.dims, Lq: lq, Lk: lk } });
    const r = await runBackwardCase(gpu(), {
      batch, lq, lk, heads: 2, kvHeads: 1, headDim: 16, tiles: sharing(5, 8), mask: someRowsBlind.wgsl, env, oracleMask,
      classes: (kernel) => classifyTiles(kernel, batch, lq, lk, oracleMask),
    });
    expect(r.kernel.subgroups).toBe(true);
    for (const [name, e] of Object.entries(r.errors)) if (e !== undefined) expect(e, name).toBeLessThanOrEqual(TOLERANCE);
    r.ref.lse.forEach((x, i) => (x === -Infinity ? expect(r.lse[i]).toBeLessThanOrEqual(-1e38) : expect(Math.abs(r.lse[i] - x), `row ${i}`).toBeLessThan(1e-4)));
  });

  it('runs inside a whole program when chosen for its sites: forward against the interpreter, then KV-cache decoding', async () => {
    const spec = `model sharing {
  dim vocab = 61, d_model = 32, heads = 4, d_ff = 64
  dim B, S <= 40, T <= 40
  input src: tokens[B, S] pad 0
  input tgt: tokens[B, T] pad 0 bos 1 eos 2
  decoder_input dec_in = shift_right(tgt, bos = 1, eos = 2)
  score dec_bias = relative_bias(buckets = 8, max_distance = 16, bidirectional = false)
  embed tokens: learned(vocab, d_model), positions: none
  stack encoder x 1 on src (norm = pre rms) {
    attention self heads = heads mask = key_padding(src)
    ffn d_ff relu
  }
  stack decoder x 1 on dec_in (norm = pre rms) {
    attention self heads = heads mask = causal & key_padding(dec_in) score = dec_bias
    attention cross memory = encoder heads = heads mask = key_padding(src)
    ffn d_ff relu
  }
  output logits = project(decoder, vocab, tied = tokens)
}`;
    const r = checkSource(spec, 'sharing.mdl');
    expect(r.diagnostics.map((d) => d.message)).toEqual([]);
    const m = r.model!;
    const lowered = lower(m, { attentionTiles: () => sharing(18, 32) });
    const steps = lowered.program.steps.filter((s) => s.kind === 'attention');
    expect(steps).toHaveLength(3);
    for (const s of steps) {
      expect(s.attention!.tiles).toMatchObject({ q: 18, k: 32, lanes: 1, rowwise: true, subgroups: true });
      expect(attentionKernelOf(s).wgsl).toContain('subgroupShuffle(');
    }
    const weights = seededWeights(lowered.ir, 4);
    const run = { dims: { B: 2, S: 37, T: 35 }, inputs: { src: Int32Array.from({ length: 74 }, (_, i) => (i < 37 || i % 37 < 20 ? 3 + (i % 50) : 0)), tgt: Int32Array.from({ length: 70 }, (_, i) => 5 + (i % 40)) } };
    const cpu = interpret(lowered.ir, m, { ...run, weights }).get(lowered.ir.outputs[0])!;
    const got = (await runProgram(gpu(), lowered, m, { ...run, weights })).get(lowered.program.outputs[0])!;
    let err = 0;
    for (let i = 0; i < cpu.length; i++) err = Math.max(err, Math.abs(cpu[i] - got[i]));
    expect(err).toBeLessThan(1e-3);

    const cache = new CachedDecoder(gpu(), lowered, m, weights);
    const full = gpuForward(gpu(), lowered, m, weights);
    const tokens: number[] = [];
    const source = [3, 4, 5, 6, 7, 8, 9];
    for (let step = 0; step < 3; step++) {
      const { run: s, length } = stepInputs(m, tokens, source);
      const a = await cache.next(s);
      const b = (await full(s)).subarray((length - 1) * a.length, length * a.length);
      let d = 0;
      for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i] - b[i]));
      expect(d, `step ${step}`).toBeLessThan(1e-4);
      tokens.push(10 + step);
    }
    cache.destroy();
  });
});
