// `--tokenizer FILE` as a user runs it: `mdl run`, `eval`, `grad` and `train` with GPT-2's real tokenizer.json (rebuilt from
// gpt-tokenizer's ranks), the ids and text checked against gpt-tokenizer's own encoder and decoder.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decode as gptDecode, encode as gptEncode } from 'gpt-tokenizer/encoding/r50k_base';
import { beforeAll, describe, expect, it } from 'vitest';
import { gpt2TokenizerConfig, gpt2TokenizerJson } from '../support/gpt2-tokenizer-json.ts';

const root = join(import.meta.dirname, '..', '..');
const mdl = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

// GPT-2's vocabulary on a model small enough for the CPU reference; end-of-text (50256) pads, as is usual for GPT-2.
const SPEC = `model lm {
  dim vocab = 50257, d_model = 8, heads = 2, d_ff = 16
  dim B, T <= 64
  input ids: tokens[B, T] pad 50256
  mask look = causal
  embed tokens: learned(vocab, d_model), positions: sinusoidal
  stack decoder x 1 on ids (norm = pre layer) {
    attention self heads = heads mask = look
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab, tied = tokens)
  loss next_token = cross_entropy(logits, labels = next(ids))
}
`;

describe('mdl run, eval, grad and train with --tokenizer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mdl-tokenizer-'));
  const spec = join(dir, 'lm.mdl');
  const tokenizer = join(dir, 'tokenizer.json');

  beforeAll(() => {
    writeFileSync(spec, SPEC);
    writeFileSync(tokenizer, JSON.stringify(gpt2TokenizerJson()));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(gpt2TokenizerConfig));
  });

  it('mdl run encodes the prompt with GPT-2 BPE and prints the generated ids as GPT-2 text', () => {
    const prompt = 'Hello world, 我喜欢吃苹果';
    const r = mdl('run', spec, '--tokenizer', tokenizer, '--input', prompt, '--max-new', '4', '--backend', 'cpu', '--json');
    expect(r.stderr).not.toContain('error');
    expect(r.status).toBe(0);
    const done = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(done.prompt).toEqual(gptEncode(prompt));
    expect(done.tokens).toHaveLength(4);
    expect(done.text).toBe(gptDecode(done.tokens));
    // The streamed pieces add up to the same text.
    expect(done.steps.map((s: { piece: string }) => s.piece).join('')).toBe(done.text);
  });

  it('every row of --input-file is decoded with the tokenizer', () => {
    const rows = join(dir, 'rows.txt');
    writeFileSync(rows, 'Hello world\n我喜欢吃苹果\n');
    const r = mdl('run', spec, '--tokenizer', tokenizer, '--input-file', rows, '--max-new', '2', '--backend', 'cpu', '--json');
    expect(r.status, r.stderr).toBe(0);
    const done = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.event === 'row');
    expect(done).toHaveLength(2);
    for (const row of done) expect(row.text).toBe(gptDecode(row.tokens));
  });

  it('mdl eval, grad and train count GPT-2 tokens, not bytes', () => {
    const lines = ['Hello world', '我喜欢吃苹果', 'The quick brown fox.'];
    const data = join(dir, 'dev.txt');
    writeFileSync(data, `${lines.join('\n')}\n`);
    const weights = join(dir, 'w.safetensors');
    expect(mdl('init', spec, '-o', weights).status).toBe(0);
    const r = mdl('eval', spec, '--weights', weights, '--tokenizer', tokenizer, '--data', data, '--backend', 'cpu', '--json');
    expect(r.status, r.stderr).toBe(0);
    // Next-token loss counts every position but the last of each line.
    const counted = lines.reduce((n, l) => n + gptEncode(l).length - 1, 0);
    const evaluated = JSON.parse(r.stdout).total;
    expect(evaluated.tokens).toBe(counted);

    // mdl grad counts the same tokens, and mdl train's first step (same seeded weights, one batch) has the same loss.
    const grad = mdl('grad', spec, '--data', data, '--tokenizer', tokenizer, '--backend', 'cpu', '-o', join(dir, 'g.safetensors'));
    expect(grad.status, grad.stderr).toBe(0);
    expect(grad.stdout).toContain(`(mean over ${counted} tokens of 3 examples)`);
    const train = mdl('train', spec, '--data', data, '--tokenizer', tokenizer, '--backend', 'cpu', '--steps', '1', '-o', join(dir, 'trained.safetensors'), '--json');
    expect(train.status, train.stderr).toBe(0);
    expect(JSON.parse(train.stdout).train_loss).toBeCloseTo(evaluated.loss, 9);
  });

  it('refuses --vocab with --tokenizer, and a tokenizer larger than the spec, in one line', () => {
    const both = mdl('run', spec, '--tokenizer', tokenizer, '--vocab', tokenizer, '--input', 'x', '--backend', 'cpu');
    expect(both.status).toBe(1);
    expect(both.stderr).toBe('mdl: --vocab and --tokenizer both choose the tokenizer: give one\n');
    const small = join(dir, 'small.mdl');
    writeFileSync(small, SPEC.replace('vocab = 50257', 'vocab = 1000').replace('pad 50256', 'pad 0'));
    const r = mdl('run', small, '--tokenizer', tokenizer, '--input', 'x', '--backend', 'cpu');
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`mdl: ${tokenizer}: the tokenizer has ids up to 50256 but the model's vocabulary has 1000 ids\n`);
  });
});
