// Beam search over forward passes with designed logits: a toy model where greedy decoding and beam search choose
// differently and the best sequence is known, an exhaustive search over every sequence (which beam search with
// enough beams must equal), and a plain reference beam search written here over the same random logits.

import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { beamSearch } from '../../src/runtime/beam-search.ts';
import { generate, type Forward } from '../../src/runtime/generate.ts';

const V = 6; // pad 0, bos 1, eos 2, then 3, 4, 5
const model = (() => {
  const r = checkSource(`model toy {
  dim vocab = ${V}, d_model = 8, heads = 2
  dim B, T <= 32
  input ids: tokens[B, T] pad 0 bos 1 eos 2
  embed tokens: learned(vocab, d_model), positions: sinusoidal
  stack decoder x 1 on ids { attention self heads = heads mask = causal
    ffn 8 relu }
  output logits = project(decoder, vocab)
}`, 'toy.mdl');
  if (!r.model) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.model;
})();

/**
 * A forward pass whose last row, for each of the batch's sequences, is `next(sequence)` as log-probabilities (ln p;
 * pad gets a large logit it must never win with). Beam search runs its live beams as one batch, [B, T] ids in.
 */
function forwardOf(next: (seq: number[]) => number[]): Forward {
  return async (run) => {
    const ids = [...(run.inputs.ids as Int32Array)];
    const B = run.dims.B ?? 1;
    const T = ids.length / B;
    const out = new Float32Array(ids.length * V);
    for (let b = 0; b < B; b++) out.set(next(ids.slice(b * T, (b + 1) * T)), (b * T + T - 1) * V);
    return out;
  };
}

const ln = Math.log;
/** Prompt [3]: 4 is likelier first (0.5) but every continuation is then 0.25; 5 (0.4) is followed by eos at 0.9. */
const designed = forwardOf((seq) => {
  const last = seq.at(-1)!;
  const probs = seq.length === 1 ? [0, 0, 0.05, 0.05, 0.5, 0.4] : last === 5 ? [0, 0, 0.9, 0.04, 0.03, 0.03] : [0, 0, 0.25, 0.25, 0.25, 0.25];
  const row = probs.map((p) => (p === 0 ? -1e9 : ln(p)));
  row[0] = 50; // pad is never emitted, however likely
  return row;
});

/** Logits that depend on the whole sequence through a hash: a fixed, irregular tree of distributions. */
const hashed = (salt: number) =>
  forwardOf((seq) =>
    Array.from({ length: V }, (_, id) => {
      let h = salt;
      for (const t of [...seq, id]) h = Math.imul(h ^ t, 2654435761) >>> 0;
      return id === 0 ? 9 : ((h % 1000) / 1000) * 4;
    }),
  );

/** Softmax over the ids other than pad, as log-probabilities. */
function logprobs(row: ArrayLike<number>): number[] {
  const ids = Array.from({ length: V }, (_, i) => i).filter((i) => i !== 0);
  const m = Math.max(...ids.map((i) => row[i]));
  const z = ids.reduce((a, i) => a + Math.exp(row[i] - m), 0);
  return Array.from({ length: V }, (_, i) => (i === 0 ? -Infinity : row[i] - m - Math.log(z)));
}

async function rowAfter(forward: Forward, seq: number[]): Promise<number[]> {
  const out = await forward({ dims: { B: 1, T: seq.length }, inputs: { ids: Int32Array.from(seq) } });
  return [...out.subarray((seq.length - 1) * V)];
}

/** Every sequence up to maxNew tokens that ends with eos or has maxNew tokens, best score first. */
async function exhaustive(forward: Forward, prompt: number[], maxNew: number, penalty: number) {
  const all: { tokens: number[]; score: number }[] = [];
  const walk = async (tokens: number[], sum: number) => {
    const lp = logprobs(await rowAfter(forward, [...prompt, ...tokens]));
    for (let id = 1; id < V; id++) {
      const t = [...tokens, id];
      const s = sum + lp[id];
      if (id === 2 || t.length === maxNew) all.push({ tokens: t, score: s / t.length ** penalty });
      else await walk(t, s);
    }
  };
  await walk([], 0);
  return all.sort((a, b) => b.score - a.score);
}

/** The textbook procedure, step by step: expand, rank, retire finished, keep n; stop when n have finished. */
async function referenceBeams(forward: Forward, prompt: number[], maxNew: number, n: number, penalty: number) {
  let beams = [{ tokens: [] as number[], sum: 0 }];
  const done: { tokens: number[]; score: number }[] = [];
  for (let step = 0; step < maxNew; step++) {
    const expanded: { tokens: number[]; sum: number }[] = [];
    for (const b of beams) {
      const lp = logprobs(await rowAfter(forward, [...prompt, ...b.tokens]));
      for (let id = 1; id < V; id++) expanded.push({ tokens: [...b.tokens, id], sum: b.sum + lp[id] });
    }
    expanded.sort((a, b) => b.sum - a.sum);
    beams = [];
    for (let rank = 0; rank < 2 * n && beams.length < n; rank++) {
      const c = expanded[rank];
      if (c.tokens.at(-1) === 2) {
        if (rank < n) done.push({ tokens: c.tokens, score: c.sum / c.tokens.length ** penalty });
      } else beams.push(c);
    }
    if (done.length >= n) break;
  }
  for (const b of beams) done.push({ tokens: b.tokens, score: b.sum / b.tokens.length ** penalty });
  return done.sort((a, b) => b.score - a.score).slice(0, n);
}

describe('beam search', () => {
  it('finds the known best sequence where greedy decoding does not', async () => {
    const greedy = await generate(model, designed, { prompt: [3], maxNew: 2, greedy: true });
    expect(greedy).toEqual([4, 2]); // 0.5 · 0.25: log-probability ≈ -2.08
    const [best, second] = await beamSearch(model, designed, { prompt: [3], maxNew: 2, beams: 2 });
    expect(best.tokens).toEqual([5, 2]); // 0.4 · 0.9: ≈ -1.02
    expect(best.logprob).toBeCloseTo(ln(0.4) + ln(0.9), 5);
    expect(best.logprobs[0]).toBeCloseTo(ln(0.4), 5);
    expect(best.logprobs[1]).toBeCloseTo(ln(0.9), 5);
    expect(best.score).toBeCloseTo((ln(0.4) + ln(0.9)) / 2, 5);
    expect(second.tokens).toEqual([4, 2]);
    // One beam is greedy decoding.
    expect((await beamSearch(model, designed, { prompt: [3], maxNew: 2, beams: 1 }))[0].tokens).toEqual([4, 2]);
  });

  it('with enough beams, equals an exhaustive search over every sequence, for several length penalties', async () => {
    for (const [salt, penalty] of [[1, 1], [2, 0], [3, 2], [4, -0.5]] as const) {
      const forward = hashed(salt);
      const want = await exhaustive(forward, [3], 3, penalty);
      const got = await beamSearch(model, forward, { prompt: [3], maxNew: 3, beams: 200, lengthPenalty: penalty });
      expect(got[0].tokens, `salt ${salt}`).toEqual(want[0].tokens);
      expect(got[0].score).toBeCloseTo(want[0].score, 5);
    }
  });

  it('equals the reference procedure over the same logits (early stopping)', async () => {
    for (const [salt, n, penalty] of [[5, 2, 1], [6, 3, 1], [7, 4, 0.5], [8, 2, 2]] as const) {
      const forward = hashed(salt);
      const want = await referenceBeams(forward, [3, 4], 5, n, penalty);
      const got = await beamSearch(model, forward, { prompt: [3, 4], maxNew: 5, beams: n, lengthPenalty: penalty, earlyStopping: true });
      expect(got.map((h) => h.tokens), `salt ${salt}`).toEqual(want.map((h) => h.tokens));
      for (const [i, h] of got.entries()) expect(h.score).toBeCloseTo(want[i].score, 5);
      for (const h of got) expect(h.tokens).not.toContain(0);
    }
  });
});

describe('sampled generation over the same toy model', () => {
  it('the repetition penalty counts the prompt: 4 (in the prompt) loses to 5 once penalised', async () => {
    // First step after [4]: logits 4 → 2.0, 5 → 1.5; a penalty of 2 halves 4's to 1.0.
    const forward = forwardOf(() => [-9, -9, -9, -9, 2.0, 1.5]);
    expect(await generate(model, forward, { prompt: [4], maxNew: 1, greedy: true })).toEqual([4]);
    expect(await generate(model, forward, { prompt: [4], maxNew: 1, greedy: true, repetitionPenalty: 2 })).toEqual([5]);
  });

  it('stop ids replace eos; a stop string ends generation once the text holds it', async () => {
    const forward = forwardOf((seq) => Array.from({ length: V }, (_, id) => (id === 3 + (seq.length % 3) ? 5 : 0)));
    expect(await generate(model, forward, { prompt: [3], maxNew: 6, greedy: true })).toEqual([4, 5, 3, 4, 5, 3]);
    expect(await generate(model, forward, { prompt: [3], maxNew: 6, greedy: true, stopIds: [3] })).toEqual([4, 5, 3]);
    const decode = (ids: number[]) => ids.map((i) => 'xyz'[i - 3]).join('');
    expect(await generate(model, forward, { prompt: [3], maxNew: 6, greedy: true, stopStrings: ['xy'], decode })).toEqual([4, 5, 3, 4]);
  });
});

