// `mdl run --input-file` through the real process: every row's line is what a single run of that row prints, on
// both backends; --json streams token events with their row; --logits writes [rows, steps, vocab] whose rows are the
// single runs' logits; bad lines are reported as FILE:LINE with what is wrong.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseNpy } from '../../src/runtime/tensor-file.ts';

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'bin', 'mdl.js');
const mdl = (...args: string[]) => spawnSync(process.execPath, [bin, 'run', ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
const dir = mkdtempSync(join(tmpdir(), 'mdl-run-batch-'));
const ok = (r: ReturnType<typeof mdl>) => (expect(r.status, r.stderr).toBe(0), r);
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
/** Lines `ROW<TAB>TEXT`, by row. */
const byRow = (stdout: string) => Object.fromEntries(stdout.trim().split('\n').map((l) => [Number(l.split('\t')[0]), l.slice(l.indexOf('\t') + 1)]));

describe('mdl run --input-file', () => {
  const prompts = file('prompts.txt', 'mdl\nab\n\nxyz\n');

  it('one line per row, ROW<TAB>TEXT, each what a run of that row alone prints; the same on the GPU', () => {
    const cpu = ok(mdl('specs/packed.mdl', '--input-file', prompts, '--max-new', '4', '--backend', 'cpu'));
    const rows = byRow(cpu.stdout);
    expect(Object.keys(rows)).toEqual(['0', '1', '2']);
    for (const [r, text] of ['mdl', 'ab', 'xyz'].entries()) {
      const alone = ok(mdl('specs/packed.mdl', '--input', text, '--max-new', '4', '--backend', 'cpu'));
      expect(rows[r].replace(/\\n/g, '\n').replace(/\\t/g, '\t').replace(/\\\\/g, '\\'), `row ${r}`).toBe(alone.stdout.replace(/\n$/, ''));
    }
    expect(cpu.stderr).toMatch(/3 row\(s\) in 2 group\(s\) of equal length \(2, 1 rows\)/);
    const gpu = ok(mdl('specs/packed.mdl', '--input-file', prompts, '--max-new', '4', '--backend', 'gpu'));
    expect(byRow(gpu.stdout)).toEqual(rows);
    expect(gpu.stderr).toMatch(/prefilled together with a KV cache per group/);
    // Rows of the two lengths then share every decode run.
    expect(gpu.stderr).toMatch(/after the prefill, 2 groups \(2, 1 rows\) decode on as one batch, one run per step, each row at its own position/);
  }, 120_000);

  it('JSONL rows with ids and segment ids; --json streams tokens with their row; --logits has a row dimension', () => {
    const jsonl = file('rows.jsonl', '{"ids": [110, 101, 109], "docs": [0, 0, 1]}\n{"ids": [97, 98], "docs": [2, 2]}\n');
    const npy = join(dir, 'batch.npy');
    const r = ok(mdl('specs/packed.mdl', '--input-file', jsonl, '--max-new', '3', '--backend', 'cpu', '--json', '--logits', npy));
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const tokens = events.filter((e) => e.event === 'token');
    expect(tokens.map((e) => [e.row, e.step])).toEqual([[0, 0], [1, 0], [0, 1], [1, 1], [0, 2], [1, 2]]);
    const done = events.filter((e) => e.event === 'row');
    expect(done.map((e) => e.row).sort()).toEqual([0, 1]);
    for (const d of done) expect(d.tokens).toEqual(tokens.filter((e) => e.row === d.row).map((e) => e.id));
    expect(events.at(-1).event).toBe('done');
    expect(events.at(-1).groups).toEqual([[0], [1]]);
    const t = parseNpy(readFileSync(npy), npy);
    expect(t.shape).toEqual([2, 3, 320]);
    // Each row's logits are those of a single run of it.
    for (const [row, args] of [[0, ['--ids', '110,101,109', '--set', 'docs=0,0,1']], [1, ['--ids', '97,98', '--set', 'docs=2,2']]] as const) {
      const single = join(dir, `single-${row}.npy`);
      ok(mdl('specs/packed.mdl', ...args, '--max-new', '3', '--backend', 'cpu', '--logits', single));
      const s = parseNpy(readFileSync(single), single);
      expect(Array.from(t.data.subarray(row * 3 * 320, (row + 1) * 3 * 320))).toEqual(Array.from(s.data));
    }
  }, 120_000);

  it('a row that stops early leaves NaN in the logits after its last step', () => {
    // eos of packed.mdl is not declared: stop at the first token row 0 generates.
    const first = ok(mdl('specs/packed.mdl', '--ids', '110,101,109', '--max-new', '1', '--backend', 'cpu', '--json'));
    const id = JSON.parse(first.stdout.trim().split('\n')[0]).id;
    const jsonl = file('stop.jsonl', `{"ids": [110, 101, 109]}\n{"ids": [1, 2, 3, 4]}\n`);
    const npy = join(dir, 'stop.npy');
    const r = ok(mdl('specs/packed.mdl', '--input-file', jsonl, '--max-new', '3', '--backend', 'cpu', '--stop-id', String(id), '--json', '--logits', npy));
    const rows = r.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((e) => e.event === 'row');
    const row0 = rows.find((e) => e.row === 0);
    const row1 = rows.find((e) => e.row === 1);
    expect(row0.tokens).toEqual([id]);
    const t = parseNpy(readFileSync(npy), npy);
    const steps = Math.max(1, row1.tokens.length);
    expect(t.shape).toEqual([2, steps, 320]);
    if (steps > 1) expect(Number.isNaN(t.data[1 * 320])).toBe(true);
    expect(Number.isNaN(t.data[0])).toBe(false);
  }, 120_000);

  it('an encoder-decoder: a plain line is the source; JSON rows give source text or ids and a target prefix', () => {
    const rows = file('sources.jsonl', 'ab\n{"source_ids": [200, 17, 45], "ids": [40]}\n{"source": "xy"}\n');
    const r = ok(mdl('specs/translator.mdl', '--input-file', rows, '--max-new', '3', '--backend', 'cpu'));
    const got = byRow(r.stdout);
    const alone = [['--source', 'ab'], ['--source-ids', '200,17,45', '--ids', '40'], ['--source', 'xy']];
    for (const [i, args] of alone.entries()) expect(got[i], `row ${i}`).toBe(ok(mdl('specs/translator.mdl', ...args, '--max-new', '3', '--backend', 'cpu')).stdout.replace(/\n$/, ''));
  }, 120_000);

  it('Ctrl-C ends every row with what it generated: a row line each, the done line, exit status 130', async () => {
    const child = spawn(process.execPath, [bin, 'run', 'specs/packed.mdl', '--input-file', prompts, '--max-new', '400', '--backend', 'cpu', '--json'], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    await new Promise<void>((resolve) => child.stdout.on('data', (d) => ((stdout += d), stdout.split('\n').length > 4 && resolve())));
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(130);
    const events = stdout.trim().split('\n').map((l) => JSON.parse(l));
    const rows = events.filter((e) => e.event === 'row');
    expect(rows.map((e) => e.row).sort()).toEqual([0, 1, 2]);
    for (const r of rows) {
      expect(r.tokens.length).toBeLessThan(400);
      expect(r.tokens).toEqual(events.filter((e) => e.event === 'token' && e.row === r.row).map((e) => e.id));
    }
    expect(events.at(-1)).toMatchObject({ event: 'done', interrupted: true });
    expect(stderr).toContain('mdl: interrupted');
  }, 60_000);

  it('bad lines are reported as FILE:LINE with the reason, before anything runs', () => {
    const cases: [string, RegExp][] = [
      ['{"ids": [1, 2]}\n{"ids": [1, 2}\n', /:2: not a JSON object/],
      ['{"ids": [1, 2], "docs": [0]}\n', /:1: --set docs: give one segment id per position of T known before generating \(2\), not 1/],
      ['{"ids": [1, 99999]}\n', /:1: --tokens: '99999' is not a token id of the vocabulary \(0\.\.319\)/],
      ['ok\n{"colour": 3}\n', /:2: "colour" is neither text, ids, source, source_ids nor an input of packed/],
      ['\n\n', /no rows/],
    ];
    for (const [i, [text, want]] of cases.entries()) {
      const path = file(`bad-${i}.jsonl`, text);
      const r = mdl('specs/packed.mdl', '--input-file', path, '--backend', 'cpu');
      expect(r.status, text).toBe(1);
      expect(r.stderr, text).toMatch(want);
      expect(r.stderr).toContain(path);
    }
    const both = mdl('specs/packed.mdl', '--input-file', prompts, '--input', 'x', '--backend', 'cpu');
    expect(both.stderr.trim()).toBe('mdl: --input-file gives every row\'s inputs: --input does not apply with it');
  }, 120_000);

  it('features inline, checked against the declared shape (streaming, encoder of frames)', () => {
    const frames = (n: number) => JSON.stringify(Array.from({ length: n }, (_, i) => Array.from({ length: 64 }, (_, j) => Math.sin(i + j / 7))));
    const good = file('frames.jsonl', `{"ids": [5], "frames": ${frames(5)}, "frame_len": 4}\n{"ids": [6, 7], "frames": ${frames(5)}, "frame_len": 5}\n`);
    const r = ok(mdl('specs/streaming.mdl', '--input-file', good, '--max-new', '2', '--backend', 'cpu'));
    expect(Object.keys(byRow(r.stdout))).toEqual(['0', '1']);
    const bad = file('frames-bad.jsonl', `{"ids": [5], "frames": [[1, 2, 3]], "frame_len": 1}\n`);
    const b = mdl('specs/streaming.mdl', '--input-file', bad, '--backend', 'cpu');
    expect(b.stderr).toMatch(/frames-bad\.jsonl:1: features 'frames' need shape \[F, 64\] or \[1, F, 64\] \(declared \[B, F, 64\]\), found \[1, 3\]/);
  }, 120_000);
});
