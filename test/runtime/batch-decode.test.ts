// Batched decoding: several sequences through one KV cache. Rows prefill in one program run per prompt length, then
// rows of every length decode in one run per step, each at its own position. At every step, every row's logits equal
// those of decoding that row alone with its own cache (1e-4) and those of the CPU reference interpreter (1e-3), and
// the tokens are the same. Covered: the shipped specs at test size and a dozen masks, rows of different prompt
// lengths (joined after their prefills; the program runs are counted) and of the same length, rows that stop early
// (dropped from the cache on the device), and a mask the cache cannot follow (the group recomputes).

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import type { CheckedModel } from '../../src/check/model.ts';
import { lower } from '../../src/lower/passes.ts';
import { generateBatch, groupRows, type BatchRow } from '../../src/runtime/batch-generate.ts';
import { CachedDecoder } from '../../src/runtime/cached-decoder.ts';
import { cpuForward, generate, gpuForward } from '../../src/runtime/generate.ts';
import { seededWeights } from '../../src/runtime/init-weights.ts';
import { useGpu } from './gpu-harness.ts';

const root = join(import.meta.dirname, '..', '..');

function model(text: string, path = 'spec.mdl'): CheckedModel {
  const r = checkSource(text, path);
  if (!r.model) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.model;
}

const shipped = (f: string) => model(readFileSync(join(root, 'specs', f), 'utf8'), f);

/** A small decoder-only model with the given mask, a segments input and a lengths input (a mask may read either). */
function lm(mask: string, opts: { positions?: string; score?: string; kv?: number } = {}): CheckedModel {
  return model(`model lm {
  dim vocab = 53, d_model = 32, heads = 4, d_ff = 48
  dim B, T <= 96
  input ids: tokens[B, T] pad 0
  input docs: segments[B, T]
  input plen: lengths[B] of T
  ${opts.score ? `score s = ${opts.score}` : ''}
  mask m = ${mask}
  embed tokens: learned(vocab, d_model), positions: ${opts.positions ?? 'sinusoidal'}
  stack decoder x 2 on ids (norm = pre layer) {
    attention self heads = heads kv_heads = ${opts.kv ?? 4} mask = m ${opts.score ? 'score = s' : ''}
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab)
}`);
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m / Math.max(1, maxAbs(b));
}

type Logits = Float32Array[][];

describe('batched decoding with a KV cache', () => {
  const gpu = useGpu();

  /**
   * Greedy decoding of `rows` three ways: batched on the device with caches, each row alone on the device with its
   * own cache, and batched on the CPU reference (a full pass at every step). Returns the batched result.
   */
  async function compare(m: CheckedModel, rows: BatchRow[], maxNew: number, extra: { stopIds?: number[]; expectCache?: boolean; sampleSeed?: number; runs?: { prefill: number; each: number } } = {}) {
    const lowered = lower(m);
    const weights = seededWeights(lowered.ir, 11);
    const forward = gpuForward(gpu(), lowered, m, weights);
    const record = (logits: Logits) => (e: { row: number; step: number; logits: ArrayLike<number> }) => {
      (logits[e.row] ??= [])[e.step] = Float32Array.from(e.logits);
    };
    const reasons: string[] = [];
    const batched: Logits = [];
    const cached = !lowered.cache.unsupported;
    expect(cached).toBe(extra.expectCache ?? true);
    const newCache = cached ? () => new CachedDecoder(gpu(), lowered, m, weights) : undefined;
    // Sampling: row r draws from seed + r, as it would alone with that seed.
    const sampled = extra.sampleSeed !== undefined;
    const opts = { rows, maxNew, greedy: !sampled, temperature: sampled ? 1.5 : undefined, seed: extra.sampleSeed, stopIds: extra.stopIds };
    // Program runs of the batched decoding: one per prompt length to prefill, then one per step for all rows.
    const prefills = vi.spyOn(CachedDecoder.prototype, 'nextRows');
    const each = vi.spyOn(CachedDecoder.prototype, 'nextEach');
    const tokens = await generateBatch(m, forward, { ...opts, newCache, onStep: record(batched), onCacheAbandoned: (r) => reasons.push(r) });
    const runs = { prefill: prefills.mock.calls.length, each: each.mock.calls.length, rows: each.mock.calls.map(([r]) => r.length) };
    prefills.mockRestore();
    each.mockRestore();
    if (extra.runs) {
      expect({ prefill: runs.prefill, each: runs.each }).toEqual(extra.runs);
      // Every row in every per-step run while none has stopped.
      expect(runs.rows.filter((n) => n !== rows.length)).toEqual([]);
    }
    expect(reasons).toEqual([]);
    const oracle: Logits = [];
    const cpuTokens = await generateBatch(m, cpuForward(lowered, m, weights), { ...opts, onStep: record(oracle) });
    expect(tokens).toEqual(cpuTokens);
    for (const [r, row] of rows.entries()) {
      const alone: Float32Array[] = [];
      const cache = newCache?.();
      const seed = sampled ? extra.sampleSeed! + r : undefined;
      const single = await generate(m, forward, { ...row, maxNew, greedy: opts.greedy, temperature: opts.temperature, seed, stopIds: extra.stopIds, cache, onStep: (e) => (alone[e.step] = Float32Array.from(e.logits)) });
      cache?.destroy();
      expect(single, `row ${r} alone`).toEqual(tokens[r]);
      expect(batched[r]).toHaveLength(tokens[r].length);
      for (const [step, logits] of batched[r].entries()) {
        expect(relDiff(logits, alone[step]), `row ${r} step ${step}: batch vs alone`).toBeLessThan(1e-4);
        expect(relDiff(logits, oracle[r][step]), `row ${r} step ${step}: batch vs CPU`).toBeLessThan(1e-3);
      }
    }
    return tokens;
  }

  /** Rows of different lengths, two of them the same length (those share a group). */
  const mixed: BatchRow[] = [{ prompt: [3, 4, 5] }, { prompt: [7, 8] }, { prompt: [9, 10, 11] }, { prompt: [12, 13, 14, 15, 16] }, { prompt: [20, 4, 9] }];

  it('rows group by length: equal lengths share a call, others decode side by side', () => {
    const m = lm('causal');
    expect(groupRows(m, mixed).map((g) => g.rows)).toEqual([[0, 2, 4], [1], [3]]);
    // Random bits hash the batch index: a row keeps its bits only where it would be alone.
    expect(groupRows(lm('causal & random(0.3, 5)'), mixed).map((g) => g.rows)).toEqual([[0], [1], [2], [3], [4]]);
  });

  it('rows of different lengths at learned, sinusoidal and rotary positions decode in one run per step', async () => {
    const rows: BatchRow[] = [{ prompt: [3] }, { prompt: [4, 5, 6, 7, 8, 9, 10] }, { prompt: [11, 12, 13] }, { prompt: [14, 15] }];
    for (const positions of ['learned(96)', 'sinusoidal', 'rotary']) await compare(lm('causal', { positions }), rows, 4, { runs: { prefill: 4, each: 3 } });
  });

  it('a data mask and a score table leave a binding for per-row windows: rows of different lengths share each run', async () => {
    // Q, K, V, out, tile classes, the mask's one table, the score table: seven, so the row window is the eighth.
    const m = lm('document(docs) & causal', { score: 'relative_bias(buckets = 8, max_distance = 16, bidirectional = false)' });
    const step = lower(m).decode!.step.program;
    expect(step.buffers.filter((b) => b.role === 'row_positions').length).toBeGreaterThan(0);
    const attention = step.steps.filter((s) => s.kind === 'attention');
    expect(attention.length).toBe(2);
    for (const s of attention) expect(Object.keys(s.bind).sort()).toEqual(['k', 'mask', 'out', 'q', 'rowWindow', 'scoreTable', 'tileClass', 'v']);
    const rows: BatchRow[] = [
      { prompt: [3, 4, 5], data: { values: { docs: Int32Array.of(0, 1, 1) } } },
      { prompt: [7, 8], data: { values: { docs: Int32Array.of(2, 2) } } },
      { prompt: [9, 10, 11], data: { values: { docs: Int32Array.of(0, 0, 0) } } },
    ];
    // Lengths 3, 2, 3: two prefills, then all three rows in one run for each of the 2 later steps.
    await compare(m, rows, 3, { runs: { prefill: 2, each: 2 } });
  });

  it('packed documents (shipped): rotary positions, grouped-query attention, per-row segment ids', async () => {
    const rows: BatchRow[] = [
      { prompt: [5, 9, 14, 30], data: { values: { docs: Int32Array.of(0, 0, 1, 1) } } },
      { prompt: [6, 2, 11, 40], data: { values: { docs: Int32Array.of(0, 1, 1, 1) } } },
      { prompt: [7, 3], data: { values: { docs: Int32Array.of(2, 2) } } },
    ];
    await compare(shipped('packed.mdl'), rows, 5);
  });

  it('translator (shipped, encoder-decoder): per-row sources, cross K/V kept per row', async () => {
    const rows: BatchRow[] = [
      { prompt: [], source: [200, 17, 45, 99, 3, 61, 7] },
      { prompt: [], source: [201, 18, 46, 98, 4, 60, 8] },
      { prompt: [], source: [5, 6, 7] },
      { prompt: [40, 41], source: [9, 10, 11] },
    ];
    await compare(shipped('translator.mdl'), rows, 5);
  });

  it('gpt2-small (shipped), shrunk to test size', async () => {
    const text = readFileSync(join(root, 'specs', 'gpt2-small.mdl'), 'utf8')
      .replace(/dim vocab = 50257, d_model = 768, heads = 12, layers = 12, d_ff = 3072, context = 1024/, 'dim vocab = 300, d_model = 48, heads = 4, layers = 2, d_ff = 96, context = 64')
      .replace(/T <= 1024/, 'T <= 64')
      .replace(/pad 50256/, 'pad 299');
    expect(text).toContain('d_model = 48');
    await compare(model(text, 'gpt2-small.mdl'), [{ prompt: [20, 21, 22] }, { prompt: [30, 31, 32] }, { prompt: [40, 41] }], 4);
  });

  it('mask zoo (shipped, encoder-decoder without a decoder input)', async () => {
    await compare(shipped('mask-zoo.mdl'), [{ prompt: [4, 8], source: [9, 10, 11, 12, 13] }, { prompt: [5, 9], source: [1, 2, 3, 4, 5] }], 3);
  });

  it('streaming (shipped): the cache cannot follow its mask, so each group recomputes, batched', async () => {
    const m = shipped('streaming.mdl');
    const frames = (n: number, seed: number) => Float32Array.from({ length: n * 64 }, (_, i) => Math.sin(i * 0.37 + seed));
    const row = (prompt: number[], F: number, len: number, seed: number): BatchRow => ({ prompt, data: { values: { frames: frames(F, seed), frame_len: Int32Array.of(len) }, dims: { F } } });
    await compare(m, [row([5, 6], 6, 6, 1), row([7, 8], 6, 4, 2), row([9], 4, 3, 3)], 3, { expectCache: false });
  });

  it('causal, and causal aligned bottom-right with ALiBi and soft-capping', async () => {
    // Lengths 3, 2, 3, 5, 3: three prefills, then all five rows in one run for each of the 4 later steps.
    await compare(lm('causal'), mixed, 5, { runs: { prefill: 3, each: 4 } });
    await compare(lm('causal(align = bottom_right)', { score: 'alibi, softcap(20)', kv: 2 }), mixed.slice(0, 3), 4);
  });

  it('a sliding window that drops keys, and sinks or a window', async () => {
    const long: BatchRow[] = [{ prompt: [3, 4, 5, 6, 7, 8] }, { prompt: [9, 8, 7, 6, 5, 4] }, { prompt: [3, 4] }];
    // Lengths 6, 6, 2: two prefills, then one run per step with keys dropped per row as the window moves on.
    await compare(lm('window(4)', { positions: 'rotary' }), long, 24, { runs: { prefill: 2, each: 23 } });
    await compare(lm('sink(2) | window(3)'), long, 8);
  });

  it('prefix-LM over each row\'s own prompt (lengths per row), padding by lengths, documents per row', async () => {
    const withLen = (prompt: number[], plen: number, docs?: number[]): BatchRow => ({ prompt, data: { values: { plen: Int32Array.of(plen), ...(docs ? { docs: Int32Array.from(docs) } : {}) } } });
    await compare(lm('prefix(plen)'), [withLen([3, 4, 5, 6], 4), withLen([7, 8, 9, 10], 2), withLen([11, 12], 2)], 4);
    await compare(lm('causal & key_padding(plen)'), [withLen([3, 4, 5, 6], 3), withLen([7, 8, 9, 10], 4)], 3);
    await compare(lm('document(docs) & causal'), [withLen([3, 4, 5], 3, [0, 1, 1]), withLen([6, 7, 8], 3, [0, 0, 0]), withLen([9, 10], 2, [4, 5])], 4);
  });

  it('chunks, dilation, every third key, random bits per head', async () => {
    const rows = mixed.slice(0, 4);
    await compare(lm('chunked(4) & causal'), rows, 5);
    await compare(lm('dilated(8, 2)'), rows, 4);
    await compare(lm('causal & (q - k) % 3 == 0'), rows, 4);
    await compare(lm('causal & random(0.3, 5)'), rows, 4);
  });

  it('rows that stop early leave the batch; the others go on exactly', async () => {
    const m = lm('causal');
    const rows: BatchRow[] = [{ prompt: [3, 4, 5] }, { prompt: [6, 7, 8] }, { prompt: [9, 10, 11] }, { prompt: [12, 13, 14] }];
    // Sampled, so that rows differ (greedy decoding of seeded weights tends to one sequence whatever the prompt).
    const free = await compare(m, rows, 6, { sampleSeed: 5 });
    // Stop at row 0's second token: row 0 stops after two steps, every other row where it first produces that token.
    const early = free[0][1];
    const stopped = await compare(m, rows, 6, { stopIds: [early], sampleSeed: 5 });
    const cut = (t: number[]) => (t.includes(early) ? t.slice(0, t.indexOf(early) + 1) : t);
    expect(stopped).toEqual(free.map(cut));
    expect(stopped[0]).toHaveLength(2);
    expect(Math.max(...stopped.map((t) => t.length)), JSON.stringify(free)).toBeGreaterThan(2);
  });

  it('a mask that turns inexact mid-generation: the group leaves its cache and recomputes', async () => {
    const m = lm('steps(4)');
    const lowered = lower(m);
    const weights = seededWeights(lowered.ir, 11);
    const forward = gpuForward(gpu(), lowered, m, weights);
    const reasons: string[] = [];
    const rows: BatchRow[] = [{ prompt: [3, 4, 5, 6] }, { prompt: [7, 8, 9, 10] }];
    const opts = { rows, maxNew: 5, greedy: true };
    const cached = await generateBatch(m, forward, { ...opts, newCache: () => new CachedDecoder(gpu(), lowered, m, weights), onCacheAbandoned: (r) => reasons.push(r) });
    expect(reasons).toHaveLength(1);
    expect(cached).toEqual(await generateBatch(m, cpuForward(lowered, m, weights), opts));
  });

  it('selecting rows gathers them on the device: duplicates continue as copies', async () => {
    const m = lm('causal');
    const lowered = lower(m);
    const weights = seededWeights(lowered.ir, 11);
    const forward = gpuForward(gpu(), lowered, m, weights);
    const cache = new CachedDecoder(gpu(), lowered, m, weights);
    const { stackRuns } = await import('../../src/runtime/batch-generate.ts');
    const { stepInputs } = await import('../../src/runtime/generate.ts');
    try {
      const seqs = [[3, 4, 5], [6, 7, 8], [9, 10, 11]];
      await cache.nextRows(stackRuns(seqs.map((s) => stepInputs(m, s, []).run)));
      cache.select([2, 0, 2]);
      expect(cache.rows).toBe(3);
      const next = [[9, 10, 11, 1], [3, 4, 5, 2], [9, 10, 11, 3]];
      const got = await cache.nextRows(stackRuns(next.map((s) => stepInputs(m, s, []).run)));
      for (const [i, s] of next.entries()) {
        const want = (await forward(stepInputs(m, s, []).run)).subarray(3 * 53, 4 * 53);
        expect(relDiff(got[i], want), `row ${i}`).toBeLessThan(1e-4);
      }
    } finally {
      cache.destroy();
    }
  });
});
