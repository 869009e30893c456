// `mdl import` as a user runs it, for each family: a tiny checkpoint in the family's Hugging Face layout is imported,
// then `mdl run` (WebGPU with the KV cache, and the CPU reference) writes its logits at every step, which must equal
// the family's forward pass written in the test from its published definition (gpt2-reference.ts,
// llama-reference.ts), on the checkpoint's own tensors.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/runtime/safetensors.ts';
import { llama2Config, llama2Json, t5Config as t5TokenizerConfig, t5Json } from '../tokenizer/fixtures.ts';
import { gpt2Forward } from './gpt2-reference.ts';
import { gpt2Config, gpt2Tensors, llamaConfig, llamaTensors, Values, writeHfDirectory, type HfTensors, type LlamaSizes } from './hf-fixtures.ts';
import { marianConfig, marianTensors, t5Config, t5Tensors, whisperConfig, whisperTensors } from './hf-fixtures-seq2seq.ts';
import { llamaForward } from './llama-reference.ts';
import { t5Forward } from './t5-reference.ts';
import { marianForward } from './marian-reference.ts';
import { bartForward } from './bart-reference.ts';
import { bartConfig, bartTensors } from './hf-fixtures-bart.ts';
import { whisperDecoderForward } from './whisper-reference.ts';
import { npyBytes } from '../support/npy.ts';

const root = join(import.meta.dirname, '..', '..');
const mdl = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

interface RunOutcome {
  prompt: number[];
  tokens: number[];
  text: string;
  logits: number[][];
  cache: boolean;
}

/** `mdl run` greedily for `steps` tokens, with its logits file read back. */
function run(spec: string, weights: string, backend: 'gpu' | 'cpu', steps: number, input: string[]): RunOutcome {
  const logits = join(mkdtempSync(join(tmpdir(), 'mdl-import-logits-')), 'logits.safetensors');
  const r = mdl('run', spec, '--weights', weights, ...input, '--max-new', String(steps), '--greedy', '--backend', backend, '--logits', logits, '--json');
  expect(r.status, r.stderr).toBe(0);
  const done = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  const t = readSafetensors(readFileSync(logits)).tensors.get('logits')!;
  const [rows, vocab] = t.shape;
  return { prompt: done.prompt, tokens: done.tokens, text: done.text, cache: done.decoding.cache, logits: Array.from({ length: rows }, (_, i) => Array.from(t.data.subarray(i * vocab, (i + 1) * vocab))) };
}

/** Step i's logits are the reference's at position prompt + i − 1 of the prompt followed by the generated tokens. */
function expectMatches(out: RunOutcome, forward: (ids: number[]) => number[][], tolerance: number): number {
  // No eos among the generated tokens, so every step is compared.
  expect(out.tokens).toHaveLength(STEPS);
  const ids = [...out.prompt, ...out.tokens.slice(0, -1)];
  const ref = forward(ids);
  let worst = 0;
  out.logits.forEach((row, i) => {
    const want = ref[out.prompt.length - 1 + i];
    expect(row).toHaveLength(want.length);
    row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - want[j]) / Math.max(1, Math.abs(want[j])))));
    // Greedy: each token is the reference's argmax.
    expect(out.tokens[i]).toBe(want.indexOf(Math.max(...want)));
  });
  expect(worst).toBeLessThanOrEqual(tolerance);
  return worst;
}

function importDir(dir: string, name: string, ...flags: string[]): { spec: string; weights: string; stdout: string } {
  const out = join(mkdtempSync(join(tmpdir(), 'mdl-imported-')), name);
  const r = mdl('import', dir, '-o', out, ...flags);
  expect(r.status, r.stderr).toBe(0);
  return { spec: `${out}.mdl`, weights: `${out}.safetensors`, stdout: r.stdout };
}

const STEPS = 4;

describe('mdl import: GPT-2', () => {
  const sizes = { vocab: 48, width: 16, heads: 2, layers: 2, positions: 16 };
  const dir = mkdtempSync(join(tmpdir(), 'mdl-hf-gpt2-'));
  const tensors = gpt2Tensors(sizes, 11);
  // bf16 in two shards, as large checkpoints come.
  writeHfDirectory(dir, gpt2Config(sizes), tensors, { dtype: 'BF16', shards: 2 });
  const forward = (ids: number[]) => gpt2Forward(tensors, { width: 16, heads: 2, layers: 2, eps: 1e-5 }, ids);

  it('writes a commented spec and bf16 weights, whose logits on WebGPU with the KV cache equal GPT-2 reference', () => {
    const imported = importDir(dir, 'tiny_gpt2');
    expect(imported.stdout).toContain('GPT-2: ');
    expect(imported.stdout).toContain('(BF16)');
    const spec = readFileSync(imported.spec, 'utf8');
    expect(spec).toMatch(/dim d_model = 16 +\/\/ n_embd\n/);
    // <|endoftext|> (eos_token_id 47 here) ends generation and documents; GPT-2 has no pad token.
    expect(spec).toMatch(/input ids: tokens\[B, T\] eos 47 +\/\/ no pad token; eos_token_id/);
    expect(spec).toMatch(/ffn d_ff gelu +\/\/ activation_function "gelu_new"/);
    const gpu = run(imported.spec, imported.weights, 'gpu', STEPS, ['--tokens', '5,17,3,40,9']);
    expect(gpu.cache).toBe(true);
    expectMatches(gpu, forward, 1e-4);
  });

  it('the CPU reference agrees to 1e-6 (the logits file is f32), and --dtype f32 converts', () => {
    const imported = importDir(dir, 'tiny_gpt2', '--dtype', 'f32');
    expect(imported.stdout).toContain('(F32)');
    expectMatches(run(imported.spec, imported.weights, 'cpu', STEPS, ['--tokens', '5,17,3,40,9']), forward, 1e-6);
  });
});

function llamaCase(type: 'llama' | 'mistral' | 'qwen2', sizes: LlamaSizes, extra: Record<string, unknown>, tensors: HfTensors, cfg: Parameters<typeof llamaForward>[1]) {
  const dir = mkdtempSync(join(tmpdir(), `mdl-hf-${type}-`));
  writeHfDirectory(dir, llamaConfig(type, sizes, extra), tensors);
  return { dir, forward: (ids: number[]) => llamaForward(tensors, cfg, ids) };
}

describe('mdl import: the Llama family', () => {
  const sizes = { vocab: 288, width: 32, heads: 4, kvHeads: 2, layers: 2, ff: 48, positions: 32 };

  it('Llama 3 style (GQA, θ = 500000, untied head) with its tokenizer: a text prompt starts with <s>', () => {
    const tensors = llamaTensors(sizes, 21);
    const { dir, forward } = llamaCase('llama', sizes, {}, tensors, { width: 32, heads: 4, kvHeads: 2, layers: 2, eps: 1e-6, theta: 500000 });
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(llama2Json()));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(llama2Config));
    const imported = importDir(dir, 'tiny_llama');
    const tokenizer = imported.spec.replace(/\.mdl$/, '.tokenizer.json');
    expect(imported.stdout).toContain(`wrote ${tokenizer}`);
    const spec = readFileSync(imported.spec, 'utf8');
    expect(spec).toContain('positions: rotary(style = halves, theta = 500000)');
    const out = run(imported.spec, imported.weights, 'gpu', STEPS, ['--tokenizer', tokenizer, '--input', 'hello world']);
    // <s> from the spec (bos_token_id), then "hello world" as the tokenizer tests work it out.
    expect(out.prompt).toEqual([1, 271, 274, 262, 266]);
    expect(out.cache).toBe(true);
    expectMatches(out, forward, 1e-4);
  });

  it('Mistral with a sliding window shorter than the sequence', () => {
    const tensors = llamaTensors(sizes, 22);
    const { dir, forward } = llamaCase('mistral', sizes, { sliding_window: 4 }, tensors, { width: 32, heads: 4, kvHeads: 2, layers: 2, eps: 1e-6, theta: 10000, window: 4 });
    const imported = importDir(dir, 'tiny_mistral');
    expect(readFileSync(imported.spec, 'utf8')).toContain('mask causal_lm = window(4)');
    // 6 prompt tokens and 4 steps: later positions lose their first keys to the window.
    expectMatches(run(imported.spec, imported.weights, 'gpu', STEPS, ['--tokens', '3,9,27,81,243,200']), forward, 1e-4);
  });

  it('Qwen2 (q, k, v biases without an o_proj bias, tied head) on both backends', () => {
    const tensors = llamaTensors(sizes, 23, { qkvBias: true, tied: true });
    const { dir, forward } = llamaCase('qwen2', sizes, {}, tensors, { width: 32, heads: 4, kvHeads: 2, layers: 2, eps: 1e-6, theta: 1e6 });
    const imported = importDir(dir, 'tiny_qwen2');
    expectMatches(run(imported.spec, imported.weights, 'gpu', STEPS, ['--tokens', '7,70,140,280']), forward, 1e-4);
    expectMatches(run(imported.spec, imported.weights, 'cpu', STEPS, ['--tokens', '7,70,140,280']), forward, 1e-6);
  });
});

/** Step i's logits are the reference decoder's at position i, reading the start token and the tokens before. */
function expectSeq2SeqMatches(out: RunOutcome, start: number, forward: (decoderIds: number[]) => number[][], tolerance: number): void {
  expect(out.tokens).toHaveLength(STEPS);
  const ref = forward([start, ...out.tokens.slice(0, -1)]);
  let worst = 0;
  out.logits.forEach((row, i) => {
    row.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - ref[i][j]) / Math.max(1, Math.abs(ref[i][j])))));
    expect(out.tokens[i]).toBe(ref[i].indexOf(Math.max(...ref[i])));
  });
  expect(worst).toBeLessThanOrEqual(tolerance);
}

describe('mdl import: T5', () => {
  const sizes = { vocab: 40, width: 16, heads: 4, ff: 32, layers: 2, buckets: 8, maxDistance: 16 };
  const cfg = { width: 16, heads: 4, layers: 2, buckets: 8, maxDistance: 16, eps: 1e-6 };

  it('T5 1.0 layout (ReLU, tied, one shared bias table per stack) with its Unigram tokenizer, on WebGPU with the KV cache', () => {
    const tensors = t5Tensors(sizes, 31);
    const dir = mkdtempSync(join(tmpdir(), 'mdl-hf-t5-'));
    writeHfDirectory(dir, t5Config(sizes), tensors);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(t5Json()));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(t5TokenizerConfig));
    const imported = importDir(dir, 'tiny_t5');
    const spec = readFileSync(imported.spec, 'utf8');
    expect(spec).toContain('score dec_rel = relative_bias(buckets = 8, max_distance = 16, bidirectional = false, shared = true)');
    const tokenizer = imported.spec.replace(/\.mdl$/, '.tokenizer.json');
    const out = run(imported.spec, imported.weights, 'gpu', STEPS, ['--tokenizer', tokenizer, '--source', 'the cats 我喜欢']);
    expect(out.cache).toBe(true);
    // The source as the tokenizer tests work it out: ▁the ▁ca ts ▁我 喜欢.
    const source = [4, 9, 10, 14, 15];
    expectSeq2SeqMatches(out, 0, (ids) => t5Forward(tensors, { ...cfg, ff: 'relu', tied: true }, source, ids), 1e-4);
  });

  it('T5 1.1 layout (gated GELU, untied lm_head) on the CPU reference', () => {
    const tensors = t5Tensors(sizes, 32, { gated: true, tied: false });
    const dir = mkdtempSync(join(tmpdir(), 'mdl-hf-t5-'));
    writeHfDirectory(dir, t5Config(sizes, { feed_forward_proj: 'gated-gelu', dense_act_fn: 'gelu_new', is_gated_act: true, tie_word_embeddings: false }), tensors);
    const imported = importDir(dir, 'tiny_t5_v1_1');
    const source = [5, 9, 13, 20, 33, 7, 2];
    const out = run(imported.spec, imported.weights, 'cpu', STEPS, ['--source-tokens', source.join(',')]);
    expectSeq2SeqMatches(out, 0, (ids) => t5Forward(tensors, { ...cfg, ff: 'gated-gelu', tied: false }, source, ids), 1e-6);
  });
});

describe('mdl import: Marian', () => {
  it('post-norm, √d_model embeddings, sines-then-cosines positions (checked against the saved tables), on both backends', () => {
    const sizes = { vocab: 40, width: 16, heads: 4, ff: 32, layers: 2, positions: 24 };
    const tensors = marianTensors(sizes, 41);
    const dir = mkdtempSync(join(tmpdir(), 'mdl-hf-marian-'));
    writeHfDirectory(dir, marianConfig(sizes), tensors);
    const imported = importDir(dir, 'tiny_marian');
    expect(readFileSync(imported.spec, 'utf8')).toContain('positions: sinusoidal(layout = concatenated)');
    const source = [5, 9, 13, 20, 33, 7, 0];
    const forward = (ids: number[]) => marianForward(tensors, { width: 16, heads: 4, layers: 2 }, source, ids);
    // decoder_start_token_id is the pad id, 39.
    const gpu = run(imported.spec, imported.weights, 'gpu', STEPS, ['--source-tokens', source.join(',')]);
    expect(gpu.cache).toBe(true);
    expectSeq2SeqMatches(gpu, 39, forward, 1e-4);
    expectSeq2SeqMatches(run(imported.spec, imported.weights, 'cpu', STEPS, ['--source-tokens', source.join(',')]), 39, forward, 1e-6);
  });
});

describe('mdl import: BART', () => {
  it('its own position table per stack (offset 2), embedding norm, post-norm, erf GELU, final_logits_bias, on both backends', () => {
    const sizes = { vocab: 40, width: 16, heads: 4, ff: 32, layers: 2, positions: 20 };
    const tensors = bartTensors(sizes, 61);
    const dir = mkdtempSync(join(tmpdir(), 'mdl-hf-bart-'));
    writeHfDirectory(dir, bartConfig(sizes), tensors);
    const imported = importDir(dir, 'tiny_bart');
    const spec = readFileSync(imported.spec, 'utf8');
    expect(spec).toContain('positions = learned(22, offset = 2)');
    expect(spec).toMatch(/ffn enc_ff gelu_erf +\/\/ activation_function "gelu"/);
    const source = [5, 9, 13, 20, 33, 7, 2];
    const forward = (ids: number[]) => bartForward(tensors, { width: 16, heads: 4, layers: 2, scaleEmbedding: false }, source, ids);
    // decoder_start_token_id is 2 (eos).
    const gpu = run(imported.spec, imported.weights, 'gpu', STEPS, ['--source-tokens', source.join(',')]);
    expect(gpu.cache).toBe(true);
    expectSeq2SeqMatches(gpu, 2, forward, 1e-4);
    expectSeq2SeqMatches(run(imported.spec, imported.weights, 'cpu', STEPS, ['--source-tokens', source.join(',')]), 2, forward, 1e-6);
  });
});

describe("mdl import: Whisper's text decoder", () => {
  it('reads the audio encoder output as a features input; erf GELU, zero k_proj bias, on both backends', () => {
    const sizes = { vocab: 40, width: 16, heads: 4, ff: 32, layers: 2, positions: 16, frames: 12 };
    const tensors = whisperTensors(sizes, 51);
    const dir = mkdtempSync(join(tmpdir(), 'mdl-hf-whisper-'));
    writeHfDirectory(dir, whisperConfig(sizes), tensors);
    const imported = importDir(dir, 'tiny_whisper');
    expect(readFileSync(imported.spec, 'utf8')).toMatch(/ffn d_ff gelu_erf +\/\/ activation_function "gelu"/);
    // Seven frames of the encoder's output.
    const audio = new Values(99).tensor([7, 16]);
    const file = join(dir, 'audio.npy');
    writeFileSync(file, npyBytes([7, 16], audio.data));
    const rows = Array.from({ length: 7 }, (_, i) => Array.from(audio.data.subarray(i * 16, (i + 1) * 16)));
    const forward = (ids: number[]) => whisperDecoderForward(tensors, { width: 16, heads: 4, layers: 2 }, rows, ids);
    // <|startoftranscript|> (38), then two text tokens.
    const input = ['--features', `audio=${file}`, '--tokens', '38,5,9'];
    const gpu = run(imported.spec, imported.weights, 'gpu', STEPS, input);
    expect(gpu.cache).toBe(true);
    expectMatches(gpu, forward, 1e-4);
    expectMatches(run(imported.spec, imported.weights, 'cpu', STEPS, input), forward, 1e-6);
  });
});

describe('mdl import refusals, as the user sees them', () => {
  const sizes = { vocab: 48, width: 16, heads: 2, layers: 1, positions: 16 };
  const dir = mkdtempSync(join(tmpdir(), 'mdl-hf-refusals-'));
  writeHfDirectory(dir, gpt2Config(sizes, { activation_function: 'gelu_fast' }), gpt2Tensors(sizes, 3));

  it('one line naming the config key, status 1, nothing written', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'mdl-imported-')), 'g');
    const r = mdl('import', dir, '-o', out);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`mdl: ${dir}/config.json: activation_function "gelu_fast" is not supported (mdl imports "gelu_new", "gelu_pytorch_tanh", "gelu", "relu", "silu", "swish")\n`);
    expect(mdl('check', `${out}.mdl`).status).toBe(1);
  });

  it('a missing directory, a bad --dtype, and outputs that exist without --force', () => {
    expect(mdl('import', join(dir, 'nope'), '-o', join(dir, 'x')).stderr).toBe(`mdl: ${join(dir, 'nope')}: not a directory (mdl import reads a Hugging Face model directory)\n`);
    expect(mdl('import', dir, '-o', join(dir, 'x'), '--dtype', 'f8').stderr).toBe("mdl: --dtype: expected keep, f32, f16 or bf16, got 'f8'\n");
    const good = mkdtempSync(join(tmpdir(), 'mdl-hf-good-'));
    writeHfDirectory(good, gpt2Config(sizes), gpt2Tensors(sizes, 3));
    const out = join(mkdtempSync(join(tmpdir(), 'mdl-imported-')), 'g');
    writeFileSync(`${out}.safetensors`, 'mine');
    const r = mdl('import', good, '-o', out);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`mdl: ${out}.safetensors: already exists; mdl replaces a file only with --force\n`);
    // Nothing was written, not even the spec, and the user's file is untouched.
    expect(mdl('check', `${out}.mdl`).status).toBe(1);
    expect(readFileSync(`${out}.safetensors`, 'utf8')).toBe('mine');
    expect(mdl('import', good, '-o', out, '--force').status).toBe(0);
  });
});
