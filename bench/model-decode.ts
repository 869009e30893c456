// A whole decode step of a small language model, with the KV cache against full recomputation: after a prompt of
// `position` tokens, the time to produce the next token's logits. With the cache a step runs every kernel over one
// new row and attention over the cached keys; recomputing runs the full pass over all `position + 1` rows.
//
// The cached step runs twice side by side, step after step in turn: with the one-row decode tiles (the decode step's
// default) and with the split-key decode kernel (src/wgsl/attention-split-decode.ts). Each step's host time is
// recorded too: from the call until its work was submitted (inputs, tile classes, buffer writes, bind groups,
// encoding), which is what the decoder spends per token besides waiting for the device.

import { checkSource } from '../src/check/check.ts';
import type { CheckedModel } from '../src/check/model.ts';
import { lower, type Lowered } from '../src/lower/passes.ts';
import { CachedDecoder } from '../src/runtime/cached-decoder.ts';
import type { GpuContext } from '../src/runtime/device.ts';
import { gpuForward, stepInputs } from '../src/runtime/generate.ts';
import { seededWeights } from '../src/runtime/init-weights.ts';
import { measure, summarize, type Timing } from '../src/tune/measure.ts';
import { tuneSitesOf } from '../src/tune/sites.ts';
import { tuneSite } from '../src/tune/tuner.ts';
import { decodeVariants, sameTiles, tileLabel, type TileChoice } from '../src/tune/variants.ts';
import type { Progress } from './progress.ts';

/** Two layers of width 128 with 64-wide heads: small enough for a full pass at 1024 positions on a software adapter. */
export const DECODE_MODEL = `model decode_lm {
  dim vocab = 256, d_model = 128, heads = 2, d_ff = 512
  dim B, T <= 2048
  input ids: tokens[B, T] pad 0
  mask causal_lm = causal(align = bottom_right)
  embed tokens: learned(vocab, d_model), positions: rotary
  stack decoder x 2 on ids (norm = pre rms) {
    attention self heads = heads mask = causal_lm
    ffn d_ff swiglu
  }
  output logits = project(decoder, vocab)
}`;

export interface ModelDecodeRow {
  position: number;
  /** Decode steps with the one-row decode tiles (absent in results from before the split-key kernel). */
  cached: Timing;
  /** The same steps with the split-key kernel, side by side. */
  cachedSplit?: Timing;
  /** Host milliseconds per step (call → submit), with each kernel. */
  hostMs?: Timing;
  hostMsSplit?: Timing;
  /** Milliseconds per step from the submit until the logits were readable (the device's work), with each kernel. */
  waitMs?: Timing;
  waitMsSplit?: Timing;
  recomputed: Timing;
  /** Kernel launches of one decode step (the decode-step program's steps). */
  launches?: number;
}

/** What the tuner measured for the decode step's attention of DECODE_MODEL, and the split-key shape run beside the default. */
export interface DecodeTuning {
  problem: string;
  /** The tuner's pick (it keeps the default unless another shape is at least 5% faster). */
  picked: string;
  /** The split-key shape timed fastest: the one the side-by-side columns run. */
  split: TileChoice;
  variants: { tiles: string; ms?: number; rejected?: string }[];
}

export function decodeModel(): CheckedModel {
  const checked = checkSource(DECODE_MODEL, 'decode_lm.mdl');
  if (!checked.model) throw new Error(`the decode benchmark spec does not check: ${checked.diagnostics.map((d) => d.message).join('; ')}`);
  return checked.model;
}

/** Tunes the decode step's attention of DECODE_MODEL on this adapter: one query row over `keys` cached keys. */
export async function tuneDecodeAttention(gpu: GpuContext, keys: number, repeats: number): Promise<DecodeTuning> {
  const lowered = lower(decodeModel());
  const [group] = tuneSitesOf(lowered.decode!.step.program);
  const variants = decodeVariants(group.site.headDim, gpu.limits);
  const outcome = await tuneSite(gpu, group.site, { batch: 1, lq: 1, lk: keys, decode: true }, { variants, repeats });
  const splits = outcome.results.filter((r) => r.tiles.splitKeys && r.timing && !r.rejected);
  if (!splits.length) throw new Error('no split-key decode shape could be measured');
  const split = splits.reduce((a, b) => (b.timing!.median < a.timing!.median ? b : a)).tiles;
  return {
    problem: `B=1, one query row, ${keys} cached keys, H=${group.site.heads}, D=${group.site.headDim}`,
    picked: tileLabel(outcome.best.tiles),
    split,
    variants: outcome.results.map((r) => ({ tiles: tileLabel(r.tiles), ...(r.timing ? { ms: r.timing.median } : {}), ...(r.rejected ? { rejected: r.rejected } : {}) })),
  };
}

export async function runModelDecode(gpu: GpuContext, positions: number[], repeats: number, progress: Progress, split?: TileChoice): Promise<ModelDecodeRow[]> {
  const m = decodeModel();
  const lowered = lower(m);
  const loweredSplit = split ? lower(m, { decodeTiles: () => split }) : undefined;
  if (split && loweredSplit!.decode!.step.program.steps.some((s) => s.kind === 'attention' && !sameTiles({ ...s.attention!.tiles }, split))) {
    throw new Error('the split-key lowering did not reach every decode-step attention');
  }
  const weights = seededWeights(lowered.ir, 1);
  const forward = gpuForward(gpu, lowered, m, weights);
  const tokens = (n: number) => Array.from({ length: n }, (_, i) => 3 + ((i * 7919) % 250));
  const rows: ModelDecodeRow[] = [];
  for (const position of positions) {
    progress.step(`decode step at position ${position}: whole model, KV cache${split ? ', both decode kernels in turn' : ''}`);
    const decoders = [lowered, loweredSplit].filter((l): l is Lowered => !!l).map((l) => new CachedDecoder(gpu, l, m, weights));
    try {
      for (const d of decoders) await d.next(stepInputs(m, tokens(position), []).run); // prefill
      // Each sample adds one token, so samples are taken at positions position … position + repeats; the first step
      // after the prefill is a warm-up.
      const samples = decoders.map(() => [] as number[]);
      for (let i = 0; i <= repeats; i++) {
        const run = stepInputs(m, tokens(position + 1 + i), []).run;
        for (const [j, d] of decoders.entries()) {
          const t0 = performance.now();
          await d.next(run);
          if (i > 0) samples[j].push(performance.now() - t0);
        }
      }
      const host = decoders.map((d) => summarize(d.hostMs.slice(-repeats)));
      const wait = decoders.map((d) => summarize(d.waitMs.slice(-repeats)));
      progress.step(`decode step at position ${position}: whole model, recomputed`);
      const run = stepInputs(m, tokens(position + 1), []).run;
      const recomputed = await measure(async () => void (await forward(run)), { repeats: position >= 1024 ? 1 : 2 });
      rows.push({
        position,
        cached: summarize(samples[0]),
        hostMs: host[0],
        waitMs: wait[0],
        ...(split ? { cachedSplit: summarize(samples[1]), hostMsSplit: host[1], waitMsSplit: wait[1] } : {}),
        recomputed,
        launches: lowered.decode!.step.program.steps.length,
      });
    } finally {
      for (const d of decoders) d.destroy();
    }
  }
  return rows;
}
