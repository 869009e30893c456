// The generate view: a source or prompt box, the decoding strategy (greedy, sampling with temperature, top-k and
// top-p, or beam search), tokens shown as they come, and the timings of the run. It calls the runtime's own
// generation, sampling and beam-search modules on `navigator.gpu`, with the KV cache where the spec allows it, as
// `mdl run` does.

import type { CheckedModel } from '../src/check/model.ts';
import type { Lowered } from '../src/lower/passes.ts';
import { beamSearch } from '../src/runtime/beam-search.ts';
import { CachedDecoder } from '../src/runtime/cached-decoder.ts';
import type { GpuContext } from '../src/runtime/device.ts';
import { generate, gpuForward, promptOfText, rolesOf } from '../src/runtime/generate.ts';
import type { Tokenizer } from '../src/runtime/tokenizer.ts';

export interface Strategy {
  kind: 'greedy' | 'sample' | 'beam';
  maxNew: number;
  seed: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  beams?: number;
}

export interface Generated {
  tokens: number[];
  text: string;
  decoding: string;
  /** Milliseconds from the start to the first token (for beam search, to the finished hypotheses). */
  firstTokenMs: number;
  totalMs: number;
}

/** What a run needs: the checked model, its lowering, a device, weights and a tokenizer. */
export interface Loaded {
  model: CheckedModel;
  lowered: Lowered;
  gpu: GpuContext;
  weights: Map<string, Float32Array>;
  codec: Tokenizer;
}

/** Runs one generation, calling `onToken` with each id as it is chosen (beam search reports at the end). */
export async function runGeneration(l: Loaded, text: { source?: string; prompt?: string }, s: Strategy, onToken: (id: number, textSoFar: string) => void, interrupted: () => boolean): Promise<Generated> {
  const roles = rolesOf(l.model);
  const source = roles.source ? l.codec.encode(text.source ?? '') : undefined;
  const prompt = roles.source ? [] : promptOfText(l.model, l.codec, text.prompt ?? '');
  const forward = gpuForward(l.gpu, l.lowered, l.model, l.weights);
  let decoding = l.lowered.cache.unsupported ? `recomputing every step (${l.lowered.cache.unsupported})` : 'KV cache';
  const cache = l.lowered.cache.unsupported ? undefined : new CachedDecoder(l.gpu, l.lowered, l.model, l.weights);
  const start = performance.now();
  let first = 0;
  let tokens: number[];
  try {
    if (s.kind === 'beam') {
      const best = await beamSearch(l.model, forward, { prompt, source, maxNew: s.maxNew, beams: s.beams ?? 2, cache, interrupted, onCacheAbandoned: (r) => (decoding = `left the KV cache: ${r}`) });
      tokens = best[0]?.tokens ?? [];
      first = performance.now() - start;
      tokens.forEach((id, i) => onToken(id, l.codec.decode(tokens.slice(0, i + 1))));
      decoding += `, beam search with ${s.beams ?? 2} beams`;
    } else {
      const out: number[] = [];
      tokens = await generate(l.model, forward, {
        prompt,
        source,
        maxNew: s.maxNew,
        greedy: s.kind === 'greedy',
        temperature: s.temperature,
        topK: s.topK,
        topP: s.topP,
        seed: s.seed,
        cache,
        interrupted,
        onCacheAbandoned: (r) => (decoding = `left the KV cache: ${r}`),
        onToken: (id) => {
          if (!first) first = performance.now() - start;
          out.push(id);
          onToken(id, l.codec.decode(out));
        },
      });
    }
  } finally {
    // Freed here whether or not generation abandoned it (destroying a buffer twice is harmless).
    cache?.destroy();
  }
  const totalMs = performance.now() - start;
  return { tokens, text: l.codec.decode(tokens), decoding, firstTokenMs: first, totalMs };
}

/** The timings line: time to the first token, then the rate of the tokens after it. */
export function timingsLine(g: Generated, beam: boolean): string {
  const n = g.tokens.length;
  if (beam) return `beam search: ${n} tokens in ${(g.totalMs / 1000).toFixed(2)} s (${(n / (g.totalMs / 1000)).toFixed(2)} tokens/s overall)`;
  const after = n > 1 ? ((n - 1) / ((g.totalMs - g.firstTokenMs) / 1000)).toFixed(2) : '–';
  return `first token after ${g.firstTokenMs.toFixed(0)} ms · ${after} tokens/s after it · ${n} token${n === 1 ? '' : 's'} in ${(g.totalMs / 1000).toFixed(2)} s`;
}
