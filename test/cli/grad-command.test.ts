// `mdl grad` and `mdl dump --stage grad` as a user runs them. The loss written to the metadata is recomputed here
// independently — the forward interpreter's logits and a log-softmax written in this test, on token ids worked out
// by hand — and a few gradient entries are compared with central differences of that loss.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { buildIr } from '../../src/ir/build.ts';
import { interpret } from '../../src/runtime/cpu-interpreter.ts';
import { DEFAULT_SEED, paramsOf, seededWeights } from '../../src/runtime/init-weights.ts';
import { readSafetensors } from '../../src/runtime/safetensors.ts';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'mdl-grad-'));

interface Ran {
  status: number;
  stdout: string;
  stderr: string;
}

const mdl = (...args: string[]) =>
  new Promise<Ran>((done) => {
    execFile(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } }, (e, stdout, stderr) =>
      done({ status: e ? Number(e.code ?? -1) : 0, stdout, stderr }),
    );
  });

const LM = `model lm {
  dim vocab = 300, d_model = 8, heads = 2, d_ff = 16
  dim B, T <= 32
  input ids: tokens[B, T] pad 0 bos 1 eos 2
  embed tokens: learned(vocab, d_model), positions: learned(32)
  stack decoder x 1 on ids (norm = pre layer) {
    attention self heads = heads mask = causal & key_padding(ids)
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab, tied = tokens)
  loss next_token = cross_entropy(logits, labels = next(ids))
}
`;

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

/** Mean next-token cross-entropy from the forward interpreter's logits, skipping pad labels. */
function referenceLoss(weights: Map<string, Float64Array>, ids: Int32Array, b: number, t: number): number {
  const model = checkSource(LM, 'lm.mdl').model!;
  const logits = interpret(buildIr(model), model, { dims: { B: b, T: t }, inputs: { ids }, weights }).get('%logits') as Float64Array;
  const v = 300;
  let sum = 0;
  let n = 0;
  for (let s = 0; s < b; s++) {
    for (let q = 0; q + 1 < t; q++) {
      const label = ids[s * t + q + 1];
      if (label === 0) continue;
      const row = logits.subarray((s * t + q) * v, (s * t + q + 1) * v);
      const max = Math.max(...row);
      const lse = Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0)) + max;
      sum += lse - row[label];
      n++;
    }
  }
  return sum / n;
}

describe('mdl grad', () => {
  it('writes the loss and every gradient of a decoder-only spec from JSONL; both match an independent computation', async () => {
    const spec = file('lm.mdl', LM);
    const data = file('lm.jsonl', '{"text": "ab"}\n\n{"text": "xyz!"}\n');
    const out = join(dir, 'lm-grads.safetensors');
    const r = await mdl('grad', spec, '--data', data, '--backend', 'cpu', '-o', out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/lm-grads\.safetensors: lm, loss next_token = \d+\.\d{6} \(mean over 8 tokens of 2 examples\), \d+ gradients/);
    const f = readSafetensors(readFileSync(out));
    const model = checkSource(LM, 'lm.mdl').model!;
    const ir = buildIr(model);
    expect([...f.tensors.keys()].sort()).toEqual(paramsOf(ir).map((p) => p.name).sort());
    for (const p of paramsOf(ir)) expect(f.tensors.get(p.name)!.shape).toEqual(p.shape);
    // Bytes are id b + 3 (pad 0, bos 1, eos 2): <bos> a b <eos> <pad> <pad> and <bos> x y z ! <eos>.
    const ids = Int32Array.from([1, 100, 101, 2, 0, 0, 1, 123, 124, 125, 36, 2]);
    const weights = new Map([...seededWeights(ir, DEFAULT_SEED)].map(([k, w]) => [k, Float64Array.from(w)]));
    const loss = referenceLoss(weights, ids, 2, 6);
    expect(Number(f.metadata.loss)).toBeCloseTo(loss, 12);
    expect(f.metadata.counted).toBe('8'); // a, b, eos and x, y, z, !, eos
    // Three entries of two weights against central differences of the reference loss.
    for (const [name, index] of [['decoder.layers.0.ffn.up_proj.weight', 5], ['embed.tokens.weight', 100 * 8 + 3], ['decoder.layers.0.self_attn.k_proj.weight', 17]] as const) {
      const w = weights.get(name)!;
      const keep = w[index];
      w[index] = keep + 1e-5;
      const up = referenceLoss(weights, ids, 2, 6);
      w[index] = keep - 1e-5;
      const down = referenceLoss(weights, ids, 2, 6);
      w[index] = keep;
      const numeric = (up - down) / 2e-5;
      expect(Math.abs(f.tensors.get(name)!.data[index] - numeric), name).toBeLessThanOrEqual(1e-4 * Math.max(Math.abs(numeric), 1e-3));
    }
  }, 60_000);

  it('reads source<TAB>target for the translator and counts every target token with its eos', async () => {
    const data = file('pairs.tsv', '我喜欢吃苹果\tI like to eat apples\n你好\thello\n');
    const out = join(dir, 'translator-grads.safetensors');
    const r = await mdl('grad', 'specs/translator.mdl', '--data', data, '--backend', 'cpu', '-o', out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain('no --weights given, using seeded weights (seed 1)');
    expect(r.stdout).toContain('mean over 27 tokens of 2 examples'); // 20 + 1 and 5 + 1
    const f = readSafetensors(readFileSync(out));
    expect(f.metadata.loss_name).toBe('xent');
    expect(f.tensors.has('embed.tokens.weight')).toBe(true);
    expect(f.tensors.has('lm_head.weight')).toBe(false); // tied: the table's gradient has both uses summed
  }, 60_000);

  it('packs {"documents": […]} into one row with segment ids, and fills a prompt length from {"prompt", "text"}', async () => {
    const packed = await mdl('grad', 'specs/packed.mdl', '--data', file('docs.jsonl', '{"documents": ["ab", "c"]}\n{"text": "xyz"}\n'), '--backend', 'cpu', '-o', join(dir, 'packed.safetensors'));
    expect(packed.status, packed.stderr).toBe(0);
    // Row 1: a→b counts, b→c crosses into the next document, c ends the row; row 2: x→y and y→z.
    expect(packed.stdout).toContain('mean over 3 tokens of 2 examples');
    const chatSpec = file('chat.mdl', readFileSync(join(root, 'test', 'cases', 'ok_instruction_loss.mdl'), 'utf8').replace('vocab = 64', 'vocab = 300'));
    const chat = await mdl('grad', chatSpec, '--data', file('chat.jsonl', '{"prompt": "ab", "text": "c"}\n'), '--backend', 'cpu', '-o', join(dir, 'chat.safetensors'));
    expect(chat.status, chat.stderr).toBe(0);
    // <bos> a b c <eos>, prompt length 3: only the positions predicting c and <eos> count.
    expect(chat.stdout).toContain('mean over 2 tokens of 1 examples');
    const noPrompt = await mdl('grad', chatSpec, '--data', file('plain.txt', 'abc\n'), '--backend', 'cpu', '-o', join(dir, 'plain.safetensors'));
    expect(noPrompt.status).toBe(1);
    expect(noPrompt.stderr).toContain(`the spec's lengths input 'prompt' needs a "prompt" on every line`);
  }, 60_000);

  it('refuses a backend other than gpu or cpu in one line, writing nothing', async () => {
    const out = join(dir, 'none.safetensors');
    const r = await mdl('grad', 'specs/translator.mdl', '--data', file('x.tsv', 'a\tb\n'), '--backend', 'tpu', '-o', out);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe("mdl: --backend is gpu or cpu, not 'tpu'\n");
    expect(existsSync(out)).toBe(false);
  });

  it('reports a bad data line with file:line, and a spec without a loss, writing nothing', async () => {
    const out = join(dir, 'bad.safetensors');
    const bad = file('bad.tsv', 'ok\tfine\nno tab here\n');
    const r = await mdl('grad', 'specs/translator.mdl', '--data', bad, '--backend', 'cpu', '-o', out);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`mdl: ${bad}:2: expected source<TAB>target, found no tab`);
    const json = file('bad.jsonl', '{"text": "a"}\n{"text": 3}\n');
    const r2 = await mdl('grad', file('lm2.mdl', LM), '--data', json, '--backend', 'cpu', '-o', out);
    expect(r2.stderr).toContain(`${json}:2: expected {"text": "…"}`);
    const r3 = await mdl('grad', 'specs/streaming.mdl', '--data', bad, '--backend', 'cpu', '-o', out);
    expect(r3.status).toBe(1);
    expect(r3.stderr).toContain("specs/streaming.mdl: model 'streaming' declares no loss");
    // An output of 100 classes cannot be trained to emit byte 'a' (id 97 + 3 = 100).
    const narrow = file('narrow.mdl', LM.replace('project(decoder, vocab, tied = tokens)', 'project(decoder, 100)'));
    const r4 = await mdl('grad', narrow, '--data', file('a.txt', 'AA\nBa\n'), '--backend', 'cpu', '-o', out);
    expect(r4.status).toBe(1);
    expect(r4.stderr).toContain('a.txt:2: token id 100 is outside the output vocabulary (0..99)');
    expect(existsSync(out)).toBe(false);
  }, 60_000);

  it('keeps an existing output file unless --force', async () => {
    const out = file('kept.safetensors', 'not mdl output');
    const data = file('one.jsonl', '{"text": "hi"}\n');
    const spec = file('lm3.mdl', LM);
    const r = await mdl('grad', spec, '--data', data, '--backend', 'cpu', '-o', out);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('already exists; mdl replaces a file only with --force');
    expect(readFileSync(out, 'utf8')).toBe('not mdl output');
    const forced = await mdl('grad', spec, '--data', data, '--backend', 'cpu', '-o', out, '--force');
    expect(forced.status, forced.stderr).toBe(0);
    expect(readSafetensors(readFileSync(out)).metadata.model).toBe('lm');
  }, 60_000);
});

describe('mdl dump --stage grad', () => {
  it('prints the forward graph, the loss and the backward graph, with the tied table’s two uses summed', async () => {
    const r = await mdl('dump', 'specs/gpt2-small.mdl', '--stage', 'grad');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('%next_token.labels = labels(%ids) {loss = next_token, next, pad = 50256} : i32[B, T]');
    expect(r.stdout).toContain('%next_token = cross_entropy(%logits, %next_token.labels) : f32[]');
    expect(r.stdout).toContain('%d:embed.tokens.weight = add(%d:embed.tokens.weight/logits, %d:embed.tokens.weight/decoder.embed) : f32[50257, 768]');
    expect(r.stdout).toMatch(/return %next_token, %d:embed\.tokens\.weight, %d:embed\.positions\.weight, /);
  }, 60_000);
});
