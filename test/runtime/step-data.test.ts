// What generation feeds a model besides its tokens, step by step: lengths along the generated axis stay at the
// prompt's positions (so `prefix(prompt_len)` is the prompt, not the whole text so far), lengths along other axes
// are those axes' lengths, given values win, segment ids continue with the last document, features pass through.

import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { generate, type Forward } from '../../src/runtime/generate.ts';

const spec = (decoderInput: boolean) => `model m {
  dim vocab = 300, d_model = 8, heads = 2
  dim B, T <= 32, F <= 16
  input frames: features[B, F, d_model]
  input frame_len: lengths[B] of F
  input ${decoderInput ? 'text' : 'ids'}: tokens[B, T] pad 0 bos 1
  input prompt_len: lengths[B] of T
  input docs: segments[B, T]
  ${decoderInput ? 'decoder_input ids = shift_right(text, bos = 1)' : ''}
  mask lm = prefix(prompt_len) & document(docs)
  embed tokens: learned(vocab, d_model), positions: sinusoidal
  stack encoder x 1 on frames { attention self heads = heads mask = key_padding(frame_len)
    ffn 8 relu }
  stack decoder x 1 on ids { attention self heads = heads mask = lm
    attention cross memory = encoder heads = heads
    ffn 8 relu }
  output logits = project(decoder, vocab)
}`;

const model = (decoderInput: boolean) => {
  const r = checkSource(spec(decoderInput), 'm.mdl');
  if (!r.model) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.model;
};

/** A forward pass that records its inputs and always predicts token 7. */
function recorder() {
  const seen: { dims: Record<string, number>; inputs: Record<string, Int32Array | Float32Array> }[] = [];
  const forward: Forward = async (run) => {
    seen.push({ dims: { ...run.dims }, inputs: { ...run.inputs } });
    const length = run.dims.T;
    const out = new Float32Array(length * 300);
    for (let t = 0; t < length; t++) out[t * 300 + 7] = 1;
    return out;
  };
  return { seen, forward };
}

const features = new Float32Array(5 * 8).fill(0.5);

describe('inputs other than tokens while generating', () => {
  it('decoder-only: prompt_len stays at the prompt length, frame_len is F, documents continue', async () => {
    const { seen, forward } = recorder();
    const tokens = await generate(model(false), forward, {
      prompt: [3, 4, 5],
      maxNew: 3,
      greedy: true,
      data: { values: { frames: features, docs: Int32Array.of(0, 0, 1) }, dims: { F: 5 }, promptPositions: 3 },
    });
    expect(tokens).toEqual([7, 7, 7]);
    expect(seen.map((s) => s.dims.T)).toEqual([3, 4, 5]);
    expect(seen.map((s) => [...s.inputs.prompt_len])).toEqual([[3], [3], [3]]);
    expect(seen.map((s) => [...s.inputs.frame_len])).toEqual([[5], [5], [5]]);
    expect(seen.map((s) => [...s.inputs.docs])).toEqual([[0, 0, 1], [0, 0, 1, 1], [0, 0, 1, 1, 1]]);
    expect(seen.every((s) => s.inputs.frames === features && s.dims.F === 5)).toBe(true);
  });

  it('given lengths win over the defaults', async () => {
    const { seen, forward } = recorder();
    await generate(model(false), forward, {
      prompt: [3, 4, 5],
      maxNew: 2,
      greedy: true,
      data: { values: { frames: features, prompt_len: Int32Array.of(1), frame_len: Int32Array.of(2) }, dims: { F: 5 }, promptPositions: 3 },
    });
    expect(seen.map((s) => [s.inputs.prompt_len[0], s.inputs.frame_len[0]])).toEqual([[1, 2], [1, 2]]);
    expect(seen.map((s) => [...s.inputs.docs])).toEqual([[0, 0, 0], [0, 0, 0, 0]]);
  });

  it('with a decoder input, the start token is one of the prompt positions', async () => {
    const { seen, forward } = recorder();
    await generate(model(true), forward, { prompt: [3, 4], maxNew: 2, greedy: true, data: { values: { frames: features }, dims: { F: 5 }, promptPositions: 3 } });
    expect(seen.map((s) => s.dims.T)).toEqual([3, 4]);
    expect(seen.map((s) => s.inputs.prompt_len[0])).toEqual([3, 3]);
  });

  it('without promptPositions, generate takes the prompt\'s', async () => {
    const { seen, forward } = recorder();
    await generate(model(true), forward, { prompt: [3, 4, 5], maxNew: 2, greedy: true, data: { values: { frames: features }, dims: { F: 5 } } });
    expect(seen.map((s) => s.inputs.prompt_len[0])).toEqual([4, 4]);
  });

  it('features must be given', async () => {
    await expect(generate(model(false), recorder().forward, { prompt: [3], maxNew: 1, greedy: true })).rejects.toThrow("m reads features 'frames', and none were given");
  });
});
