// A whole forward pass on Dawn against the CPU interpreter of the IR, with seeded weights: the encoder-decoder and
// decoder-only shapes, every norm arrangement, activation, position scheme and several masks.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { lower } from '../../src/lower/passes.ts';
import type { ScheduleOptions } from '../../src/lower/schedule.ts';
import { interpret, type RunInputs } from '../../src/runtime/cpu-interpreter.ts';
import { seededWeights } from '../../src/runtime/init-weights.ts';
import { runProgram } from '../../src/runtime/program.ts';
import { useGpu } from '../runtime/gpu-harness.ts';

const root = join(import.meta.dirname, '..', '..');

function model(text: string) {
  const r = checkSource(text, 'spec.mdl');
  if (!r.model) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.model;
}

/** Deterministic token rows with padding at the end of later rows. */
function tokens(batch: number, length: number, vocab: number, pad: number, seed: number): Int32Array {
  return Int32Array.from({ length: batch * length }, (_, i) => {
    const b = Math.floor(i / length);
    const t = i % length;
    if (b > 0 && t >= length - 2 * b) return pad;
    return 3 + ((i * 7919 + seed * 104729) % (vocab - 3));
  });
}

const decoderOnly = `model lm {
  dim vocab = 61, d_model = 48, heads = 4, d_ff = 80
  dim B, T <= 64
  input ids: tokens[B, T] pad 0
  input docs: segments[B, T]
  score bias = alibi, softcap(20)
  embed tokens: learned(vocab, d_model), positions: rotary
  stack decoder x 2 on ids (norm = pre rms) {
    attention self heads = heads kv_heads = 2 mask = document(docs) & causal score = bias
    ffn d_ff swiglu
  }
  output logits = project(decoder, vocab)
}`;

describe('full forward pass: WebGPU vs the CPU interpreter', () => {
  const gpu = useGpu();

  async function compare(text: string, run: Omit<RunInputs, 'weights'>, tolerance: number, options: ScheduleOptions = {}) {
    const m = model(text);
    const lowered = lower(m, options);
    const weights = seededWeights(lowered.ir, 7);
    const full = { ...run, weights };
    const cpu = interpret(lowered.ir, m, full);
    const gpuOut = await runProgram(gpu(), lowered, m, full);
    for (const id of lowered.program.outputs) {
      const want = cpu.get(id)!;
      const got = gpuOut.get(id)!;
      expect(got.length).toBe(want.length);
      let err = 0;
      let scale = 0;
      for (let i = 0; i < want.length; i++) {
        err = Math.max(err, Math.abs(got[i] - want[i]));
        scale = Math.max(scale, Math.abs(want[i]));
      }
      expect(scale).toBeGreaterThan(0);
      expect(err, `${id}: max abs error ${err}`).toBeLessThanOrEqual(tolerance);
    }
  }

  it('the shipped translator (encoder-decoder, padding, cross-attention)', async () => {
    const text = readFileSync(join(root, 'specs', 'translator.mdl'), 'utf8');
    await compare(text, { dims: { B: 2, S: 9, T: 7 }, inputs: { src: tokens(2, 9, 320, 0, 1), tgt: tokens(2, 7, 320, 0, 2) } }, 1e-3);
  });

  it('an encoder-decoder with post-norm, learned positions, swiglu, GQA and soft-capping', async () => {
    const text = readFileSync(join(root, 'test', 'cases', 'ok_encoder_decoder.mdl'), 'utf8');
    await compare(text, { dims: { B: 2, S: 11, T: 6 }, inputs: { src: tokens(2, 11, 40, 0, 3), tgt: tokens(2, 6, 40, 0, 4) } }, 1e-3);
  });

  it('a decoder-only model with rotary positions, ALiBi, packed documents and an untied head', async () => {
    const docs = Int32Array.from([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    await compare(decoderOnly, { dims: { B: 2, T: 10 }, inputs: { ids: tokens(2, 10, 61, 0, 5), docs } }, 1e-3);
  });

  it('the shipped packed-documents spec (decoder-only, rotary, GQA, rms, swiglu)', async () => {
    const text = readFileSync(join(root, 'specs', 'packed.mdl'), 'utf8');
    const docs = Int32Array.from([0, 0, 0, 0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    await compare(text, { dims: { B: 2, T: 9 }, inputs: { ids: tokens(2, 9, 320, 0, 8), docs } }, 1e-3);
  });

  it('with the norm form tuned on a CPU-backed adapter (an invocation a row): the translator, post-norm and rms specs', async () => {
    const rows: ScheduleOptions = { normForm: 'rows' };
    const translator = readFileSync(join(root, 'specs', 'translator.mdl'), 'utf8');
    const program = lower(model(translator), rows).program;
    const norms = program.steps.filter((s) => s.kind === 'norm');
    expect(norms.length).toBeGreaterThan(0);
    for (const s of norms) expect(s.kernel).toMatchObject({ kind: 'norm', rows: true });
    await compare(translator, { dims: { B: 2, S: 9, T: 7 }, inputs: { src: tokens(2, 9, 320, 0, 1), tgt: tokens(2, 7, 320, 0, 2) } }, 1e-3, rows);
    const postNorm = readFileSync(join(root, 'test', 'cases', 'ok_encoder_decoder.mdl'), 'utf8');
    await compare(postNorm, { dims: { B: 2, S: 11, T: 6 }, inputs: { src: tokens(2, 11, 40, 0, 3), tgt: tokens(2, 6, 40, 0, 4) } }, 1e-3, rows);
    const docs = Int32Array.from([0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]);
    await compare(decoderOnly, { dims: { B: 2, T: 10 }, inputs: { ids: tokens(2, 10, 61, 0, 5), docs } }, 1e-3, rows);
  });

  it('refuses, before dispatch, dims beyond the spec bounds or the adapter limits', async () => {
    const m = model(readFileSync(join(root, 'specs', 'packed.mdl'), 'utf8'));
    const lowered = lower(m);
    const weights = seededWeights(lowered.ir, 1);
    const ids = (n: number) => new Int32Array(n);
    await expect(runProgram(gpu(), lowered, m, { dims: { B: 1, T: 4096 }, inputs: { ids: ids(4096), docs: ids(4096) }, weights })).rejects.toThrow(/exceeds its bound 2048/);
    await expect(runProgram(gpu(), lowered, m, { dims: { B: 1_000_000, T: 2048 }, inputs: {}, weights })).rejects.toThrow(/storage binding limit/);
  });

  it('the shipped streaming spec (features memory, data-dependent cross mask)', async () => {
    const text = readFileSync(join(root, 'specs', 'streaming.mdl'), 'utf8');
    const frames = Float32Array.from({ length: 2 * 12 * 64 }, (_, i) => Math.sin(i * 0.37));
    await compare(text, { dims: { B: 2, F: 12, T: 5 }, inputs: { frames, frame_len: Int32Array.from([12, 7]), text: tokens(2, 5, 96, 0, 6) } }, 1e-3);
  });
});
