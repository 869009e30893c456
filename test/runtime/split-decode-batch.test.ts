// The split-key decode kernel in the decode step of real models: a lowering told to use it (as a tuned choice would)
// puts it in every attention step of the decode-step program and nowhere else, and batched greedy decoding with the
// cache — rows at different positions in one run per step, after prefills of each length are merged — gives every
// row, at every step, the CPU reference interpreter's logits (1e-3) and tokens. Tiles of 8 keys over 4 lanes make
// short prompts span several tiles and lanes; the prompt lengths are not multiples of them.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import type { CheckedModel } from '../../src/check/model.ts';
import { lower } from '../../src/lower/passes.ts';
import { generateBatch, type BatchRow } from '../../src/runtime/batch-generate.ts';
import { CachedDecoder } from '../../src/runtime/cached-decoder.ts';
import { cpuForward, gpuForward } from '../../src/runtime/generate.ts';
import { seededWeights } from '../../src/runtime/init-weights.ts';
import { useGpu } from './gpu-harness.ts';

const root = join(import.meta.dirname, '..', '..');
const SPLIT = { q: 1, k: 8, lanes: 4, splitKeys: true };

function model(text: string, path = 'spec.mdl'): CheckedModel {
  const r = checkSource(text, path);
  if (!r.model) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.model;
}

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

function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  let scale = 1;
  for (let i = 0; i < a.length; i++) (m = Math.max(m, Math.abs(a[i] - b[i]))), (scale = Math.max(scale, Math.abs(b[i])));
  return m / scale;
}

describe('the split-key kernel in the decode step', () => {
  const gpu = useGpu();

  async function compare(m: CheckedModel, rows: BatchRow[], maxNew: number, mixedPositions = true) {
    const lowered = lower(m, { decodeTiles: () => SPLIT });
    const decodeAttention = lowered.decode!.step.program.steps.filter((s) => s.kind === 'attention');
    expect(decodeAttention.length).toBeGreaterThan(0);
    for (const s of decodeAttention) expect(s.attention!.tiles).toMatchObject({ q: 1, k: 8, lanes: 4, splitKeys: true });
    for (const s of [...lowered.program.steps, ...lowered.decode!.prefill.program.steps]) expect(s.attention?.tiles.splitKeys).toBeUndefined();
    const weights = seededWeights(lowered.ir, 11);
    const logits = (into: Float32Array[][]) => (e: { row: number; step: number; logits: ArrayLike<number> }) => void ((into[e.row] ??= [])[e.step] = Float32Array.from(e.logits));
    const batched: Float32Array[][] = [];
    const oracle: Float32Array[][] = [];
    const reasons: string[] = [];
    const each = vi.spyOn(CachedDecoder.prototype, 'nextEach');
    const opts = { rows, maxNew, greedy: true };
    const tokens = await generateBatch(m, gpuForward(gpu(), lowered, m, weights), { ...opts, newCache: () => new CachedDecoder(gpu(), lowered, m, weights), onStep: logits(batched), onCacheAbandoned: (r) => reasons.push(r) });
    // Rows at different positions went through the decode step together.
    const together = each.mock.calls.filter(([r]) => r.length > 1).length;
    each.mockRestore();
    expect(reasons).toEqual([]);
    if (mixedPositions) expect(together).toBeGreaterThan(0);
    const cpuTokens = await generateBatch(m, cpuForward(lowered, m, weights), { ...opts, onStep: logits(oracle) });
    expect(tokens).toEqual(cpuTokens);
    for (const [r] of rows.entries()) {
      for (const [step, l] of batched[r].entries()) expect(relDiff(l, oracle[r][step]), `row ${r} step ${step}`).toBeLessThan(1e-3);
    }
  }

  const mixed: BatchRow[] = [{ prompt: [3, 4, 5] }, { prompt: [7, 8] }, { prompt: [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19] }, { prompt: [12, 13, 14, 15, 16] }];

  it('causal, rotary; bottom-right causal with ALiBi and soft-capping over grouped-query heads', async () => {
    await compare(lm('causal', { positions: 'rotary' }), mixed, 12);
    await compare(lm('causal(align = bottom_right)', { score: 'alibi, softcap(20)', kv: 2 }), mixed.slice(0, 3), 6);
  });

  it('a window that drops keys, sinks, multi-query heads', async () => {
    const long: BatchRow[] = [{ prompt: [3, 4, 5, 6, 7, 8, 9] }, { prompt: [9, 8, 7, 6, 5, 4, 3] }, { prompt: [3, 4] }];
    await compare(lm('window(5)', { kv: 1 }), long, 20);
    await compare(lm('sink(2) | window(3)'), long, 8);
  });

  it('per-row data: prefix-LM lengths, documents with a relative-bias table', async () => {
    const withLen = (prompt: number[], plen: number, docs?: number[]): BatchRow => ({ prompt, data: { values: { plen: Int32Array.of(plen), ...(docs ? { docs: Int32Array.from(docs) } : {}) } } });
    await compare(lm('prefix(plen)'), [withLen([3, 4, 5, 6], 4), withLen([7, 8, 9, 10, 11], 2), withLen([11, 12], 2)], 5);
    await compare(lm('document(docs) & causal', { score: 'relative_bias(buckets = 8, max_distance = 16, bidirectional = false)' }), [withLen([3, 4, 5], 3, [0, 1, 1]), withLen([6, 7, 8, 9], 3, [0, 0, 0, 0]), withLen([9, 10], 2, [4, 5])], 5);
  });

  it('mask zoo (shipped): its decoder masks in the decode step, a batch of one prompt length', async () => {
    const zoo = model(readFileSync(join(root, 'specs', 'mask-zoo.mdl'), 'utf8'), 'mask-zoo.mdl');
    await compare(zoo, [{ prompt: [4, 8, 9], source: [9, 10, 11, 12, 13] }, { prompt: [5, 9, 2], source: [1, 2, 3, 4, 5] }], 5, false);
  });

  it('translator (shipped, encoder-decoder): cross-attention over each row\'s source', async () => {
    const translator = model(readFileSync(join(root, 'specs', 'translator.mdl'), 'utf8'), 'translator.mdl');
    await compare(translator, [{ prompt: [], source: [200, 17, 45, 99, 3, 61, 7, 8, 9, 10, 11] }, { prompt: [40, 41], source: [9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19] }], 5);
  });
});
