// Storage buffers per shader stage, against WebGPU's default limit of 8 that every adapter meets: every kernel of every
// program a spec compiles to (the forward pass, prefill and decode step, training, evaluation, accumulation and the
// optimizer step) must fit it, the attention backward included (it reads lse, D, dO and a relative_bias table through
// one row-stats binding).

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { lower } from '../../src/lower/passes.ts';
import { compiledTrainingPrograms } from '../../src/lower/training-programs.ts';
import { LIMITS } from '../../src/lower/verify-program.ts';

const specs = join(import.meta.dirname, '..', '..', 'specs');

function checkedModel(text: string) {
  const r = checkSource(text, 'spec.mdl');
  if (!r.model) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.model;
}

/** Storage buffers each kernel of every program binds, by file, counted from its WGSL's declarations too. */
function bindingsByFile(text: string): Map<string, number> {
  const m = checkedModel(text);
  const lowered = lower(m);
  const kernels = [
    ...lowered.rendered.kernels,
    ...(lowered.decode ? [lowered.decode.prefill, lowered.decode.step].flatMap((d) => d.rendered.kernels) : []),
    ...compiledTrainingPrograms(m, lowered).flatMap((p) => p.rendered.kernels),
  ];
  const out = new Map<string, number>();
  for (const k of kernels) {
    const declared = k.wgsl.match(/var<storage,/g)?.length ?? 0;
    expect(declared, k.file).toBe(k.bindings.length);
    out.set(k.file, k.bindings.length);
  }
  return out;
}

const spec = (mask: string, score: string, kv: number) => `model t {
  dim vocab = 300, d_model = 16, heads = 4, kv = ${kv}, d_ff = 12
  dim B, T <= 16
  input ids: tokens[B, T] pad 0
  input docs: segments[B, T]
  mask m = ${mask}
  ${score ? `score s = ${score}` : ''}
  embed tokens: learned(vocab, d_model), positions: none
  stack decoder x 1 on ids (norm = pre layer) {
    attention self heads = heads kv_heads = kv mask = m${score ? ' score = s' : ''}
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab)
  loss lm = cross_entropy(logits, labels = next(ids))
}`;

function expectWithinDefault(counts: Map<string, number>, what: string): void {
  for (const [f, n] of counts) expect(n, `${what}: ${f}`).toBeLessThanOrEqual(LIMITS.storageBuffers);
}

describe('storage buffers per shader stage: every program fits WebGPU’s default of 8', () => {
  it('the limit the verifier checks every program against is the default', () => expect(LIMITS.storageBuffers).toBe(8));

  it('every shipped spec: forward, decode and, with a loss, the training programs', () => {
    const files = readdirSync(specs).filter((f) => f.endsWith('.mdl'));
    expect(files.length).toBeGreaterThanOrEqual(5);
    let backward = 0;
    for (const file of files) {
      const counts = bindingsByFile(readFileSync(join(specs, file), 'utf8'));
      expectWithinDefault(counts, file);
      backward += [...counts.keys()].filter((f) => f.includes('attention-backward-dkdv')).length;
    }
    expect(backward).toBeGreaterThan(0);
  });

  const cases: [string, string, string, number][] = [
    ['documents (mask data), relative_bias, GQA', 'document(docs) & causal', 'relative_bias(buckets = 4, max_distance = 8, bidirectional = false)', 2],
    ['documents (mask data), softcap then ALiBi, MQA', 'document(docs)', 'softcap(20), alibi', 1],
    ['causal, no score modifier, one head a group', 'causal', '', 4],
  ];
  for (const [name, mask, score, kv] of cases) {
    it(name, () => {
      const counts = bindingsByFile(spec(mask, score, kv));
      expectWithinDefault(counts, name);
      const of = (part: string) => [...counts].filter(([f]) => f.includes(`attention-backward-${part}`)).map(([, n]) => n);
      // Q, K, V, row stats (lse, D, dO, the table), tile classes, the mask's table, then dK, dV (or dQ and the table's partial sums).
      expect(of('dkdv')).toEqual([8]);
      expect(of('dq')).toEqual([7 + (score.includes('relative_bias') ? 1 : 0)]);
      // O, dO, row stats, and the table the delta kernel copies.
      expect(of('delta')).toEqual([3 + (score.includes('relative_bias') ? 1 : 0)]);
    });
  }
});
