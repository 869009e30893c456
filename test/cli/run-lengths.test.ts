// A prefix LM under `mdl run`: `prefix(prompt_len)` is bidirectional over the prompt and causal after it, because a
// lengths input along the generated axis is the prompt's length unless --set gives another, and it does not grow
// with the generated text. Both backends agree, and on WebGPU such a prefix LM decodes with the KV cache.

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
const dir = mkdtempSync(join(tmpdir(), 'mdl-lengths-'));
const spec = join(dir, 'prefix-lm.mdl');
writeFileSync(
  spec,
  `model prefix_lm {
  dim vocab = 300, d_model = 32, heads = 2, d_ff = 64
  dim B, T <= 32
  input ids: tokens[B, T] pad 0
  input prompt_len: lengths[B] of T
  mask lm = prefix(prompt_len)
  embed tokens: learned(vocab, d_model), positions: sinusoidal
  stack decoder x 2 on ids (norm = pre layer) {
    attention self heads = heads mask = lm
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab)
}
`,
);

// Seeded weights (N(0, 0.02²)) barely let one position change another; weights 40 times larger make the text
// depend on what each position may see.
const weights = join(dir, 'prefix-lm.safetensors');
{
  const model = checkSource(readFileSync(spec, 'utf8'), spec).model!;
  const file = readSafetensors(seededWeightsFile(buildIr(model), 4));
  const scaled = new Map([...file.tensors].map(([name, t]) => [name, { shape: t.shape, data: name.includes('norm') ? t.data : t.data.map((x) => 40 * x) }]));
  writeFileSync(weights, writeSafetensors(scaled));
}

interface Result {
  tokens: number[];
  decoding: { cache: boolean; reason?: string };
}

function result(...extra: string[]): Result {
  const r = mdl('run', spec, '--weights', weights, '--input', 'abcd', '--max-new', '8', '--temperature', '1', '--seed', '2', '--json', ...extra);
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split("\n").at(-1)!) as Result;
}
const tokens = (...extra: string[]) => result(...extra).tokens;

describe('lengths under mdl run', () => {
  it('prompt_len defaults to the prompt (4 tokens), not the growing length', () => {
    const byDefault = tokens('--backend', 'cpu');
    expect(byDefault).toHaveLength(8);
    expect(tokens('--backend', 'cpu', '--set', 'prompt_len=4')).toEqual(byDefault);
    // A prefix as long as the bound sees every position, as the old growing length did: different text.
    expect(tokens('--backend', 'cpu', '--set', 'prompt_len=32')).not.toEqual(byDefault);
    // On WebGPU the prompt is prefilled once and each new token is decoded with the KV cache: the prefix is fixed.
    const gpu = result('--backend', 'gpu');
    expect(gpu.decoding.cache).toBe(true);
    expect(gpu.tokens).toEqual(byDefault);
  });

  it('a prefix longer than the prompt lets earlier positions see new ones: the cache steps aside, the text is the same', () => {
    const gpu = result('--backend', 'gpu', '--set', 'prompt_len=6');
    expect(gpu.decoding).toMatchObject({ cache: false, reason: 'mask lm lets position 0 see the later position 4' });
    expect(gpu.tokens).toEqual(tokens('--backend', 'cpu', '--set', 'prompt_len=6'));
  });

  it('refuses a length beyond the axis bound', () => {
    const r = mdl('run', spec, '--input', 'ab', '--set', 'prompt_len=33', '--backend', 'cpu');
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe("mdl: --set prompt_len: lengths of T take one whole number from 0 to 32, not '33'");
  });
});
