// The storage buffers the training programs' kernels bind per shader stage, against what adapters allow: WebGPU's
// default is 8, Chromium's SwiftShader adapter allows 10 (where the page trains in the browser test). Only the attention
// backward's dK/dV kernel is past 8.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { trainingPrograms } from '../../src/lower/training-programs.ts';
import { LIMITS, TRAINING_LIMITS } from '../../src/lower/verify-program.ts';

const specs = join(import.meta.dirname, '..', '..', 'specs');

function checkedModel(text: string) {
  const r = checkSource(text, 'spec.mdl');
  if (!r.model) throw new Error(r.diagnostics.map((d) => d.message).join('\n'));
  return r.model;
}

/** Storage buffers each kernel of the four training programs binds, counted from its WGSL's declarations. */
function bindingsByFile(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const p of trainingPrograms(checkedModel(text))) {
    for (const k of p.rendered.kernels) {
      const declared = k.wgsl.match(/var<storage,/g)?.length ?? 0;
      expect(declared, k.file).toBe(k.bindings.length);
      out.set(k.file, k.bindings.length);
    }
  }
  return out;
}

const withTable = `model t {
  dim vocab = 300, d_model = 16, heads = 4, kv = 2, d_ff = 12
  dim B, T <= 16
  input ids: tokens[B, T] pad 0
  input docs: segments[B, T]
  mask m = document(docs) & causal
  score s = relative_bias(buckets = 4, max_distance = 8, bidirectional = false)
  embed tokens: learned(vocab, d_model), positions: none
  stack decoder x 1 on ids (norm = pre layer) {
    attention self heads = heads kv_heads = kv mask = m score = s
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab)
  loss lm = cross_entropy(logits, labels = next(ids))
}`;

describe('storage buffers per shader stage in the training programs', () => {
  it('every shipped spec with a loss binds at most 9 (the attention backward with a mask: lse and D in one buffer, the mask in one table)', () => {
    const withLoss = readdirSync(specs).filter((f) => f.endsWith('.mdl') && /^\s*loss /m.test(readFileSync(join(specs, f), 'utf8')));
    expect(withLoss.length).toBe(3);
    for (const file of withLoss) {
      const counts = bindingsByFile(readFileSync(join(specs, file), 'utf8'));
      const dkdv = [...counts].filter(([f]) => f.includes('attention-backward-dkdv'));
      expect(dkdv.length, file).toBeGreaterThan(0);
      // Q, K, V, dO, row stats, tile classes, the mask's table, dK, dV.
      for (const [f, n] of dkdv) expect(n, f).toBe(9);
      // Everything else fits WebGPU's default.
      for (const [f, n] of counts) if (!f.includes('attention-backward-dkdv')) expect(n, f).toBeLessThanOrEqual(LIMITS.storageBuffers);
    }
  });

  it('a relative_bias table adds none (the walks read its copy in the row-stats buffer): 9, the training limit', () => {
    const counts = bindingsByFile(withTable);
    expect(Math.max(...counts.values())).toBe(9);
    expect(counts.get([...counts.keys()].find((f) => f.includes('attention-backward-delta'))!)).toBe(4);
    // The forward attention with a mask, a score table and lse: Q, K, V, out, tile classes, mask table, table, lse.
    const forward = [...counts].filter(([f]) => /-attention\.wgsl$/.test(f));
    expect(forward.length).toBeGreaterThan(0);
    for (const [f, n] of forward) expect(n, f).toBe(8);
    expect(TRAINING_LIMITS.storageBuffers).toBe(9);
    expect(LIMITS.storageBuffers).toBe(8);
  });
});
