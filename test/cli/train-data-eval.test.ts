// `mdl train` and `mdl eval` around the loop: bad data lines named by file:line (refused, or skipped with
// --skip-bad-lines), files mdl did not write left alone, an unknown backend refused, --init with --freeze, and mdl eval's
// numbers against an independent computation (mdl grad's loss, and argmax accuracy from the forward interpreter).

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { buildIr } from '../../src/ir/build.ts';
import { interpret } from '../../src/runtime/cpu-interpreter.ts';
import { readSafetensors } from '../../src/runtime/safetensors.ts';
import { copySpec, mdl, root, tempDir, writeIn } from './train-support.ts';

const dir = tempDir();
const spec = writeIn(dir, 'copy.mdl', copySpec());
const quick = ['--backend', 'cpu', '--steps', '2', '--batch-tokens', '64'];

describe('bad data lines', () => {
  const jsonl = writeIn(dir, 'bad.jsonl', ['{"text": "ab=ab"}', '{"text": "ab', '', '{"text": "abcdefghijklmnopq"}', '{"text": "cd=cd"}', ''].join('\n'));

  it('are refused with file:line, before anything is written', async () => {
    const r = await mdl('train', spec, '--data', jsonl, ...quick, '-o', join(dir, 'never.safetensors'));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`mdl: ${jsonl}:2: not valid JSON\n`);
    const tsv = writeIn(dir, 'bad.tsv', 'hello\tHallo\nno tab here\n');
    const t = await mdl('train', join(root, 'specs', 'translator.mdl'), '--data', tsv, ...quick, '-o', join(dir, 'never.safetensors'));
    expect(t.status).toBe(1);
    expect(t.stderr).toBe(`mdl: ${tsv}:2: expected source<TAB>target, found no tab\n`);
  });

  it('are reported with file:line and skipped with --skip-bad-lines, and training goes on', async () => {
    const r = await mdl('train', spec, '--data', jsonl, ...quick, '--skip-bad-lines', '-o', join(dir, 'skipped.safetensors'));
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toContain(`mdl: ${jsonl}:2: not valid JSON (line skipped)\n`);
    expect(r.stderr).toContain(`mdl: ${jsonl}:4: 19 tokens, but T is at most 16 in copy (line skipped)\n`);
    expect(r.stdout).toMatch(/skipped\.safetensors: copy after 2 steps, train loss \d/);
  });
});

describe('files mdl did not write', () => {
  const data = writeIn(dir, 'ok.txt', 'ab=ab\ncd=cd\n');

  it('are never replaced: a foreign checkpoint path, optimizer path or curve path is refused in one line', async () => {
    for (const [name, victim] of [
      ['mine.safetensors', 'mine.safetensors'],
      ['other.safetensors', 'other.optim.safetensors'],
      ['third.safetensors', 'third.loss.svg'],
    ]) {
      const path = writeIn(dir, victim, 'my own notes\n');
      const r = await mdl('train', spec, '--data', data, ...quick, '-o', join(dir, name));
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(`mdl: ${path}: already exists and is not ${victim.endsWith('.svg') ? 'a loss curve' : 'a checkpoint'} mdl wrote; mdl leaves it as it is (choose another -o)\n`);
      expect(readFileSync(path, 'utf8')).toBe('my own notes\n');
    }
  });

  it('but a checkpoint mdl wrote is replaced by the next run', async () => {
    const out = join(dir, 'again.safetensors');
    expect((await mdl('train', spec, '--data', data, ...quick, '-o', out)).status).toBe(0);
    const r = await mdl('train', spec, '--data', data, ...quick, '--seed', '9', '-o', out);
    expect(r.status, r.stderr).toBe(0);
  });
});

describe('--backend', () => {
  it('train and eval refuse a backend other than gpu or cpu in one line', async () => {
    const data = writeIn(dir, 'x.txt', 'ab\n');
    const t = await mdl('train', spec, '--data', data, '--backend', 'tpu');
    expect(t.status).toBe(1);
    expect(t.stderr).toBe("mdl: --backend is gpu or cpu, not 'tpu'\n");
    const e = await mdl('eval', spec, '--weights', join(dir, 'none.safetensors'), '--data', data, '--backend', 'metal');
    expect(e.status).toBe(1);
    expect(e.stderr).toBe("mdl: --backend is gpu or cpu, not 'metal'\n");
  });
});

describe('--init and --freeze', () => {
  it('starts from the given weights and keeps the frozen ones bit for bit', async () => {
    const init = join(dir, 'init.safetensors');
    expect((await mdl('init', spec, '-o', init, '--seed', '4')).status).toBe(0);
    const data = writeIn(dir, 'ft.txt', 'ab=ab\ncd=cd\nbc=bc\n');
    const out = join(dir, 'ft.safetensors');
    const r = await mdl('train', spec, '--data', data, ...quick, '--init', init, '--freeze', 'embed.*', '*.ffn.up_proj.bias', '-o', out);
    expect(r.status, r.stderr).toBe(0);
    const before = readSafetensors(readFileSync(init)).tensors;
    const after = readSafetensors(readFileSync(out)).tensors;
    for (const [name, t] of after) {
      const bytes = (x: Float32Array) => Buffer.from(x.buffer, x.byteOffset, x.byteLength);
      const same = bytes(t.data).equals(bytes(before.get(name)!.data));
      expect(same, name).toBe(name.startsWith('embed.') || name.endsWith('.ffn.up_proj.bias'));
    }
    const bad = await mdl('train', spec, '--data', data, ...quick, '--freeze', 'nothing.*', '-o', join(dir, 'nf.safetensors'));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^mdl: --freeze nothing\.\*: matches no parameter/);
  });
});

describe('mdl eval', () => {
  it("reports per file and in all the loss mdl grad computes, its perplexity, and the interpreter's argmax accuracy", async () => {
    const weights = join(dir, 'eval-w.safetensors');
    expect((await mdl('init', spec, '-o', weights, '--seed', '2')).status).toBe(0);
    const linesA = ['abc=abc', 'a', 'hello there', 'zz'];
    const linesB = ['dd=dd', 'x'];
    const a = writeIn(dir, 'a.txt', linesA.join('\n') + '\n');
    const b = writeIn(dir, 'b.txt', linesB.join('\n') + '\n');
    const r = await mdl('eval', spec, '--weights', weights, '--data', a, b, '--backend', 'cpu', '--batch-tokens', '16', '--json');
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout);
    // mdl grad reads each file as one padded batch; its loss is the same mean over the same counted tokens.
    for (const [i, file] of [a, b].entries()) {
      const g = join(dir, `g${i}.safetensors`);
      expect((await mdl('grad', spec, '--data', file, '--weights', weights, '--backend', 'cpu', '-o', g)).status).toBe(0);
      const meta = readSafetensors(readFileSync(g)).metadata;
      expect(out.files[i].loss).toBeCloseTo(Number(meta.loss), 6);
      expect(out.files[i].tokens).toBe(Number(meta.counted));
      expect(out.files[i].perplexity).toBeCloseTo(Math.exp(Number(meta.loss)), 6);
    }
    // Accuracy: each line alone through the forward interpreter, bos + bytes (+3) + eos, argmax against the next id.
    const model = checkSource(copySpec(), 'copy.mdl').model!;
    const w = readSafetensors(readFileSync(weights)).tensors;
    const accuracy = (lines: string[]) => {
      let right = 0;
      let n = 0;
      for (const line of lines) {
        const ids = Int32Array.from([1, ...Buffer.from(line).map((x) => x + 3), 2]);
        const logits = interpret(buildIr(model), model, { dims: { B: 1, T: ids.length }, inputs: { ids }, weights: new Map([...w].map(([k, t]) => [k, t.data])) }).get('%logits') as Float64Array;
        for (let q = 0; q + 1 < ids.length; q++) {
          const row = logits.subarray(q * 259, (q + 1) * 259);
          right += row.indexOf(Math.max(...row)) === ids[q + 1] ? 1 : 0;
          n++;
        }
      }
      return { right, n };
    };
    const [accA, accB] = [accuracy(linesA), accuracy(linesB)];
    expect(out.files[0].accuracy).toBeCloseTo(accA.right / accA.n, 12);
    expect(out.files[1].accuracy).toBeCloseTo(accB.right / accB.n, 12);
    expect(out.total.tokens).toBe(accA.n + accB.n);
    expect(out.total.accuracy).toBeCloseTo((accA.right + accB.right) / (accA.n + accB.n), 12);
    const text = await mdl('eval', spec, '--weights', weights, '--data', a, b, '--backend', 'cpu');
    expect(text.stdout).toMatch(new RegExp(`^${a}: loss \\d+\\.\\d{6}, perplexity \\d+\\.\\d{4}, accuracy \\d+\\.\\d\\d% over ${accA.n} tokens\\n.*\\nall: loss `));
  }, 60_000);
});

describe('gradient accumulation', () => {
  it('two batches accumulated make the step one batch of both makes (token-weighted mean)', async () => {
    // Lines of different lengths, so the two micro-batches count different numbers of tokens.
    // At 8 tokens a batch: [ab, cd] (4 + 4 with bos and eos) and [abcdef] (8).
    const data = writeIn(dir, 'acc.txt', 'ab\ncd\nabcdef\n');
    const one = join(dir, 'acc-one.safetensors');
    const two = join(dir, 'acc-two.safetensors');
    // A large ε keeps Adam's first step (about lr·g/|g|) smooth in g, so rounding in the sums cannot flip a sign.
    const base = ['--backend', 'cpu', '--steps', '1', '--lr', '1e-2', '--schedule', 'constant', '--clip', '0', '--eps', '1e-3'];
    const r1 = await mdl('train', spec, '--data', data, ...base, '--batch-tokens', '64', '-o', one);
    const r2 = await mdl('train', spec, '--data', data, ...base, '--batch-tokens', '8', '--accumulate', '2', '-o', two);
    expect(r1.status, r1.stderr).toBe(0);
    expect(r2.status, r2.stderr).toBe(0);
    const a = readSafetensors(readFileSync(one)).tensors;
    const b = readSafetensors(readFileSync(two)).tensors;
    for (const [name, t] of a) {
      const u = b.get(name)!.data;
      t.data.forEach((x, i) => expect(Math.abs(x - u[i]), name).toBeLessThan(1e-6));
    }
    // Without accumulation a step sees one of the two batches only, and lands elsewhere.
    const solo = join(dir, 'acc-solo.safetensors');
    expect((await mdl('train', spec, '--data', data, ...base, '--batch-tokens', '8', '-o', solo)).status).toBe(0);
    const c = readSafetensors(readFileSync(solo)).tensors.get('embed.tokens.weight')!.data;
    expect(c.some((x, i) => Math.abs(x - a.get('embed.tokens.weight')!.data[i]) > 1e-6)).toBe(true);
  }, 60_000);
});

describe('steps, epochs and the default checkpoint', () => {
  // At 8 tokens a batch, three short lines make two batches: one epoch is two steps.
  const data = writeIn(dir, 'epochs.txt', 'ab\ncd\nabcdef\n');

  it('trains one epoch by default and N with --epochs; writes MODEL.safetensors where it runs, which mdl run loads', async () => {
    const work = tempDir();
    const run = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: work, encoding: 'utf8' });
    const first = run('train', spec, '--data', data, '--backend', 'cpu', '--batch-tokens', '8');
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toBe('copy.safetensors: copy after 2 steps, train loss ' + first.stdout.split('train loss ')[1]);
    expect(existsSync(join(work, 'copy.safetensors'))).toBe(true);
    expect(existsSync(join(work, 'copy.optim.safetensors'))).toBe(true);
    const three = run('train', spec, '--data', data, '--backend', 'cpu', '--batch-tokens', '8', '--epochs', '3', '-o', 'e3.safetensors');
    expect(three.stdout).toMatch(/^e3\.safetensors: copy after 6 steps/);
    const gen = run('run', spec, '--weights', 'copy.safetensors', '--backend', 'cpu', '--input', 'ab', '--max-new', '2');
    expect(gen.status, gen.stderr).toBe(0);
  }, 60_000);
});

describe('JSONL with fields named after the inputs', () => {
  it('feeds any input: the same loss as TSV for the translator, and as {"documents"} with segments for packed', async () => {
    const loss = async (specPath: string, name: string, text: string) => {
      const out = join(dir, `${name}.grads.safetensors`);
      const r = await mdl('grad', specPath, '--data', writeIn(dir, name, text), '--backend', 'cpu', '-o', out);
      expect(r.status, r.stderr).toBe(0);
      return readSafetensors(readFileSync(out)).metadata;
    };
    const translator = join(root, 'specs', 'translator.mdl');
    const tsv = await loss(translator, 'pairs.tsv', '我喜欢\tI like\n苹果\tapples\n');
    const named = await loss(translator, 'pairs.jsonl', '{"src": "我喜欢", "tgt": "I like"}\n{"tgt": "apples", "src": "苹果"}\n');
    expect(named.loss).toBe(tsv.loss);
    expect(named.counted).toBe(tsv.counted);
    const packed = join(root, 'specs', 'packed.mdl');
    const docs = await loss(packed, 'docs.jsonl', '{"documents": ["ab", "cde"]}\n');
    // No bos/eos in packed's ids: the documents are the bytes as they are (byte b is id b + 1 after pad 0).
    const ids = [...Buffer.from('abcde')].map((b) => b + 1);
    const fields = await loss(packed, 'fields.jsonl', `{"ids": ${JSON.stringify(ids)}, "docs": [0, 0, 1, 1, 1]}\n`);
    expect(fields.loss).toBe(docs.loss);
    expect(fields.counted).toBe('3');
    const bad = await mdl('train', packed, '--data', writeIn(dir, 'typo.jsonl', '{"ids": "ab", "doc": [0, 0]}\n'), '--backend', 'cpu');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe(`mdl: ${join(dir, 'typo.jsonl')}:1: unknown field "doc" (the spec's inputs are ids, docs)\n`);
  }, 60_000);
});

describe('--pack', () => {
  it('packs text lines into rows of documents, as {"documents"} does, and is refused without a segments input', async () => {
    // Learned absolute positions and plain causal attention: a packed row reads differently from separate rows.
    const packed = writeIn(dir, 'packdocs.mdl', copySpec().replace('input ids: tokens[B, T] pad 0 bos 1 eos 2', 'input ids: tokens[B, T] pad 0 bos 1 eos 2\n  input docs: segments[B, T]').replace('next(ids)', 'next(ids, within = docs)'));
    const weights = join(dir, 'packed-w.safetensors');
    expect((await mdl('init', packed, '-o', weights)).status).toBe(0);
    const grads = join(dir, 'packed-docs.safetensors');
    const g = await mdl('grad', packed, '--data', writeIn(dir, 'pk.jsonl', '{"documents": ["ab", "cde"]}\n'), '--weights', weights, '--backend', 'cpu', '-o', grads);
    expect(g.status, g.stderr).toBe(0);
    const meta = readSafetensors(readFileSync(grads)).metadata;
    const lines = writeIn(dir, 'pk.txt', 'ab\ncde\n');
    const r = await mdl('eval', packed, '--weights', weights, '--data', lines, '--pack', '--backend', 'cpu', '--json');
    expect(r.status, r.stderr).toBe(0);
    const file = JSON.parse(r.stdout).files[0];
    // bos a b eos | bos c d e eos: 3 + 4 predictions inside the documents.
    expect(file.tokens).toBe(Number(meta.counted));
    expect(file.tokens).toBe(7);
    expect(file.loss).toBeCloseTo(Number(meta.loss), 10);
    const unpacked = JSON.parse((await mdl('eval', packed, '--weights', weights, '--data', lines, '--backend', 'cpu', '--json')).stdout).files[0];
    expect(unpacked.tokens).toBe(7);
    expect(Math.abs(unpacked.loss - file.loss)).toBeGreaterThan(1e-6);
    const refused = await mdl('train', spec, '--data', lines, '--pack', '--backend', 'cpu', '-o', join(dir, 'np.safetensors'));
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe('mdl: copy: packing needs a decoder-only spec with a segments input to mark the documents\n');
    const trained = await mdl('train', packed, '--data', lines, '--pack', '--backend', 'cpu', '--steps', '1', '-o', join(dir, 'pk.safetensors'));
    expect(trained.status, trained.stderr).toBe(0);
  }, 60_000);
});
