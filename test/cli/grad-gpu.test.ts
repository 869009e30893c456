// `mdl grad` on WebGPU (the default backend) as a user runs it: the same spec and data through the real process on
// both backends — a spec without attention and the shipped translator and packed specs — every gradient agreeing
// within 1e-3 relative (norm-wise per parameter), the loss within 1e-5; and `mdl dump --stage train` printing the
// training program.

import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/runtime/safetensors.ts';
import { norm, relativeError } from '../support/gpu-gradients.ts';

const root = join(import.meta.dirname, '..', '..');
const dir = mkdtempSync(join(tmpdir(), 'mdl-grad-gpu-'));

const mdl = (...args: string[]) =>
  new Promise<{ status: number; stdout: string; stderr: string }>((done) => {
    execFile(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } }, (e, stdout, stderr) =>
      done({ status: e ? Number(e.code ?? -1) : 0, stdout, stderr }),
    );
  });

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const MLP = `model mlp {
  dim vocab = 300, d_model = 24, d_ff = 36
  dim B, T <= 32
  input ids: tokens[B, T] pad 0 bos 1 eos 2
  embed tokens: learned(vocab, d_model), positions: learned(32)
  stack decoder x 2 on ids (norm = pre layer) {
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab, tied = tokens)
  loss next_token = cross_entropy(logits, labels = next(ids))
}
`;

/** Runs `mdl grad` on both backends and checks they agree; returns the two files' tensors. */
async function bothBackends(spec: string, data: string, name: string) {
  const files = { gpu: join(dir, `${name}-gpu.safetensors`), cpu: join(dir, `${name}-cpu.safetensors`) };
  const gpu = await mdl('grad', spec, '--data', data, '-o', files.gpu);
  expect(gpu.stderr).not.toContain('error');
  expect(gpu.status, gpu.stderr).toBe(0);
  const cpu = await mdl('grad', spec, '--data', data, '--backend', 'cpu', '-o', files.cpu);
  expect(cpu.status, cpu.stderr).toBe(0);
  const [g, c] = [readSafetensors(readFileSync(files.gpu)), readSafetensors(readFileSync(files.cpu))];
  expect([...g.tensors.keys()]).toEqual([...c.tensors.keys()]);
  expect(Math.abs(Number(g.metadata.loss) - Number(c.metadata.loss))).toBeLessThan(1e-5 * Math.max(1, Math.abs(Number(c.metadata.loss))));
  expect(g.metadata.counted).toBe(c.metadata.counted);
  const floor = 1e-6 * Math.max(...[...c.tensors.values()].map((t) => norm(t.data as Float32Array)));
  for (const [n, t] of c.tensors) {
    const err = relativeError(g.tensors.get(n)!.data as Float32Array, t.data as Float32Array, floor);
    expect(err, `${n}: ${err}`).toBeLessThan(1e-3);
  }
  return { gpu, cpu, g, c };
}

describe('mdl grad on WebGPU', () => {
  it('agrees with --backend cpu on every gradient of a spec without attention (odd line lengths)', async () => {
    const data = file('lines.txt', 'hello world\nthe cat sat on the mat\nab\n');
    const { gpu } = await bothBackends(file('mlp.mdl', MLP), data, 'mlp');
    // bos + bytes + eos, every next token counted: (11 + 1) + (22 + 1) + (2 + 1) = 38.
    expect(gpu.stdout).toMatch(/mlp-gpu\.safetensors: mlp, loss next_token = [0-9.]+ \(mean over 38 tokens of 3 examples\), 16 gradients\n/);
  }, 120_000);

  it('agrees with --backend cpu on the shipped translator (cross-attention, padding) and packed (rotary, documents)', async () => {
    const pairs = file('pairs.tsv', 'ab cd\twx y\nhello\tbonjour le\n');
    const t = await bothBackends('specs/translator.mdl', pairs, 'translator');
    expect(t.gpu.stdout).toMatch(/translator-gpu\.safetensors: translator, loss xent = [0-9.]+ \(mean over \d+ tokens of 2 examples\), \d+ gradients\n/);
    const docs = file('docs.jsonl', '{"documents": ["abc", "de"]}\n{"text": "xyz w"}\n');
    const p = await bothBackends('specs/packed.mdl', docs, 'packed');
    expect(p.g.tensors.size).toBeGreaterThan(10);
  }, 300_000);
});

describe('mdl dump --stage train', () => {
  it('prints the forward pass, the loss and the backward pass as one program of launches', async () => {
    const r = await mdl('dump', file('mlp2.mdl', MLP), '--stage', 'train');
    expect(r.status, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^program mlp: \d+ launches, \d+ buffers$/);
    // The loss, its gradient, the embedding's scatter-add and the tied table's two contributions summed. The token
    // embedding's gradient is the position add's output gradient itself, read where it is (no copy).
    expect(r.stdout).toMatch(/xent_rows +logits=%logits, labels=%next_token\.labels/);
    expect(r.stdout).toMatch(/xent_grad .* dlogits=%d:logits /);
    expect(r.stdout).toMatch(/gather_grad +ids=%ids, dy=%d:decoder\.embed_pos, dtable=%d:embed\.tokens\.weight\/decoder\.embed /);
    expect(r.stdout).not.toMatch(/%d:decoder\.embed\b(?!_pos)/);
    expect(r.stdout).toMatch(/elementwise_add +a=%d:embed\.tokens\.weight\/logits, b=%d:embed\.tokens\.weight\/decoder\.embed, out=%d:embed\.tokens\.weight /);
    expect(existsSync(join(dir, 'mlp2.safetensors'))).toBe(false);
  });
});
