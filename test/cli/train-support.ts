// Shared by the `mdl train` / `mdl eval` tests: running the real mdl, a tiny decoder-only spec and a copying task.

import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const root = join(import.meta.dirname, '..', '..');

export interface Ran {
  status: number;
  stdout: string;
  stderr: string;
}

export const mdl = (...args: string[]) =>
  new Promise<Ran>((done) => {
    execFile(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } }, (e, stdout, stderr) =>
      done({ status: e ? Number(e.code ?? -1) : 0, stdout, stderr }),
    );
  });

/** Starts mdl and sends SIGINT once `when` matches its stderr; resolves with what it printed and its exit status. */
export const mdlInterrupted = (when: RegExp, ...args: string[]) =>
  new Promise<Ran & { signalled: boolean }>((done) => {
    const child = spawn(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1' } });
    let stdout = '';
    let stderr = '';
    let signalled = false;
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      if (!signalled && when.test(stderr)) {
        signalled = true;
        child.kill('SIGINT');
      }
    });
    child.on('close', (code) => done({ status: code ?? -1, stdout, stderr, signalled }));
  });

export const tempDir = () => mkdtempSync(join(tmpdir(), 'mdl-train-'));

/** A one-layer decoder over the byte tokenizer (pad 0, bos 1, eos 2, bytes from 3: vocab 259). */
export function copySpec(d = 16, heads = 2): string {
  return `model copy {
  dim vocab = 259, d_model = ${d}, heads = ${heads}, d_ff = ${2 * d}
  dim B, T <= 16
  input ids: tokens[B, T] pad 0 bos 1 eos 2
  embed tokens: learned(vocab, d_model), positions: learned(16)
  stack decoder x 1 on ids (norm = pre layer) {
    attention self heads = heads mask = causal & key_padding(ids)
    ffn d_ff gelu
  }
  output logits = project(decoder, vocab, tied = tokens)
  loss next_token = cross_entropy(logits, labels = next(ids))
}
`;
}

/** Lines `xyz=xyz` of three letters from abcd, from a fixed linear congruential sequence. */
export function copyLines(count: number, seed: number): string[] {
  let s = seed;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648;
  };
  return Array.from({ length: count }, () => {
    let w = '';
    for (let i = 0; i < 3; i++) w += 'abcd'[Math.floor(next() * 4)];
    return `${w}=${w}`;
  });
}

export function writeIn(dir: string, name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}
