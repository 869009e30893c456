// Problems only the run can see, reported in one line with exit status 1: a mask size that the run's dims make too
// small (in `mdl run` on both backends and in `mdl mask`), a weights file with a NaN or an infinity, and a
// vocabulary file whose ids fall outside the model's vocabulary.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { buildIr } from '../../src/ir/build.ts';
import { readSafetensors, writeSafetensors } from '../../src/runtime/safetensors.ts';
import { seededWeightsFile } from '../../src/runtime/weights.ts';

const root = join(import.meta.dirname, '..', '..');
const mdl = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
const dir = mkdtempSync(join(tmpdir(), 'mdl-run-checks-'));

function oneLine(r: ReturnType<typeof mdl>): string {
  expect(r.status, r.stderr).toBe(1);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  return r.stderr.trim().split('\n').at(-1)!;
}

const spec = join(dir, 'sizes.mdl');
writeFileSync(
  spec,
  `model sizes {
  dim vocab = 300, d_model = 16, heads = 2, d_ff = 32
  dim B, S <= 64, T <= 64
  input src: tokens[B, S] pad 0
  input tgt: tokens[B, T] pad 0 bos 1
  decoder_input dec = shift_right(tgt, bos = 1)
  mask quarters = chunked(S / 4)
  mask recent = window(Lk - Lq + 1)
  embed tokens: learned(vocab, d_model), positions: sinusoidal
  stack encoder x 1 on src (norm = pre layer) {
    attention self heads = heads mask = quarters
    ffn d_ff gelu
  }
  stack decoder x 1 on dec (norm = pre layer) {
    attention self heads = heads mask = causal
    attention cross memory = encoder heads = heads mask = recent
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab, tied = tokens)
}
`,
);

describe('mask sizes from run-time dims', () => {
  it('mdl run refuses chunked(S / 4) at S = 3 on both backends, and runs at S = 4', () => {
    const want = "mdl: mask 'quarters': chunked(S / 4) has size S / 4 = 0 at S = 3, but the size must be at least 1; choose lengths that make it so, or change the mask";
    // Known from the source before any weights: a missing weights file is not what is reported.
    const absent = join(dir, 'absent.safetensors');
    for (const backend of ['cpu', 'gpu']) expect(oneLine(mdl('run', spec, '--source-tokens', '5,6,7', '--max-new', '1', '--backend', backend, '--weights', absent))).toBe(want);
    // With S = 4 the encoder runs; the cross-attention's window(Lk - Lq + 1) then needs T <= S: 2 positions are fine…
    const ok = mdl('run', spec, '--source-tokens', '5,6,7,8', '--tokens', '9', '--max-new', '1', '--backend', 'cpu');
    expect(ok.status, ok.stderr).toBe(0);
    // …and at the step where T reaches 5 > S = 4 the window is empty: refused, naming both lengths.
    expect(oneLine(mdl('run', spec, '--source-tokens', '5,6,7,8', '--tokens', '9,10,11', '--max-new', '3', '--backend', 'gpu'))).toBe(
      "mdl: mask 'recent': window(Lk - Lq + 1) has size Lk - Lq + 1 = 0 at Lk = 4, Lq = 5, but the size must be at least 1; choose lengths that make it so, or change the mask",
    );
  });

  it('mdl mask refuses the same sizes when drawing', () => {
    expect(oneLine(mdl('mask', spec, '--mask', 'quarters', '--dims', 'S=3,T=2'))).toMatch(/^mdl: mask 'quarters': chunked\(S \/ 4\) has size S \/ 4 = 0 at S = 3/);
    expect(oneLine(mdl('mask', spec, '--mask', 'recent', '--dims', 'S=3,T=5'))).toMatch(/^mdl: mask 'recent': window\(Lk - Lq \+ 1\) has size Lk - Lq \+ 1 = -1 at Lk = 3, Lq = 5/);
    const drawn = mdl('mask', spec, '--mask', 'recent', '--dims', 'S=5,T=3');
    expect(drawn.status, drawn.stderr).toBe(0);
  });
});

describe('weights and vocabulary files', () => {
  const translator = checkSource(readFileSync(join(root, 'specs', 'translator.mdl'), 'utf8'), 'translator.mdl').model!;
  const good = readSafetensors(seededWeightsFile(buildIr(translator), 1));

  function poisoned(name: string, index: number, value: number): string {
    const tensors = new Map([...good.tensors].map(([n, t]) => [n, { shape: t.shape, data: n === name ? t.data.map((x, i) => (i === index ? value : x)) : t.data }]));
    const path = join(dir, `${name}-${index}.safetensors`);
    writeFileSync(path, writeSafetensors(tensors));
    return path;
  }

  it('a NaN or an infinity in a weight is refused with the tensor and the first bad index', () => {
    const nan = poisoned('decoder.layers.1.ffn.up_proj.weight', 130, NaN); // [d_ff, d_model] = [256, 64]: 130 = 2 · 64 + 2
    expect(oneLine(mdl('run', 'specs/translator.mdl', '--weights', nan, '--source', 'x', '--backend', 'cpu'))).toBe(
      `mdl: ${nan}: tensor decoder.layers.1.ffn.up_proj.weight holds NaN at index 130 ([2, 2]); every value must be finite`,
    );
    const inf = poisoned('embed.tokens.weight', 7, -Infinity);
    expect(oneLine(mdl('run', 'specs/translator.mdl', '--weights', inf, '--source', 'x'))).toBe(`mdl: ${inf}: tensor embed.tokens.weight holds -Infinity at index 7 ([0, 7]); every value must be finite`);
  });

  it('a vocabulary file id outside the vocabulary is refused', () => {
    const vocab = join(dir, 'vocab.json');
    writeFileSync(vocab, JSON.stringify({ apples: 300, far: 480 }));
    const r = mdl('run', 'specs/translator.mdl', '--vocab', vocab, '--source', 'apples', '--backend', 'cpu');
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`mdl: ${vocab}: 1 bad entry:\n  token "far" → 480: not an id in [0, 480)`);
  });
});
