// The mdl command as a user runs it: exit codes, where output goes, and that no stack trace ever reaches the user.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const mdl = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

describe('mdl check', () => {
  it('passes every shipped spec', () => {
    const r = mdl('check', 'specs/translator.mdl', 'specs/gpt2-small.mdl', 'specs/mask-zoo.mdl', 'specs/streaming.mdl', 'specs/packed.mdl');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(5);
  });

  it('exits 1 with every diagnostic of a bad file, and no stack trace', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdl-cli-'));
    const file = join(dir, 'bad.mdl');
    writeFileSync(file, 'model m {\n  dim d = 6, heads = 4\n  dim B, T\n  input x: tokens[B, T] pad 0\n  embed tokens: learned(10, d)\n  stack s x 1 on x { attention self heads = heads\n ffn 8 swish }\n}\n');
    const r = mdl('check', file);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${file}:6:`);
    expect(r.stderr).toContain('error[E301]');
    expect(r.stderr).toContain('error[E503]');
    expect(r.stderr).toContain('^');
    expect(r.stderr).not.toMatch(/\n\s+at .*:\d+:\d+/);
  });

  it('explains a missing file in one line', () => {
    const r = mdl('check', 'no/such/file.mdl');
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('mdl: no/such/file.mdl: no such file');
  });
});

describe('mdl dump', () => {
  const dumped = (file: string, stage: string) => {
    const r = mdl('dump', file, '--stage', stage);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    return r.stdout;
  };
  const pinned = (path: string) => readFileSync(join(root, path), 'utf8');

  it('prints the AST and the IR exactly as the reviewed golden files of the case', () => {
    expect(dumped('test/cases/ok_small_lm.mdl', 'ast')).toBe(pinned('test/cases/ok_small_lm.ast.txt'));
    expect(dumped('test/cases/ok_small_lm.mdl', 'ir')).toBe(pinned('test/cases/ok_small_lm.ir.txt'));
    expect(dumped('test/cases/ok_encoder_decoder.mdl', 'ir')).toBe(pinned('test/cases/ok_encoder_decoder.ir.txt'));
  });

  it('prints the fused IR as the reviewed fusion golden, with each node’s place in the spec', () => {
    const fused = dumped('test/cases/ok_small_lm.mdl', 'fuse');
    expect(fused).toMatch(/ {2,}@\d+:\d+$/m);
    expect(fused.replace(/ +@\d+:\d+$/gm, '')).toBe(pinned('test/lower/fuse-small-lm.expected.txt'));
  });

  it('prints the WGSL kernels and the manifest exactly as mdl compile writes them, however long', () => {
    const dir = join(root, 'generated', 'translator');
    // The full pass's kernels are the numbered files; prefill-* and step-* are the decode programs' (`--stage decode`),
    // train-*, eval-*, accumulate-* and optimizer-* the training programs'.
    const kernels = readdirSync(dir).filter((f) => /^\d+-.*\.wgsl$/.test(f)).sort();
    expect(dumped('specs/translator.mdl', 'wgsl')).toBe(kernels.map((f) => `// ---- ${f}\n${readFileSync(join(dir, f), 'utf8')}`).join('\n'));
    const manifest = dumped('specs/translator.mdl', 'manifest');
    expect(manifest.length).toBeGreaterThan(65536); // more than a pipe holds at once
    expect(manifest).toBe(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  });

  it('stops quietly when the reader closes the pipe early: `mdl dump … | head -c 1`', () => {
    // A shell pipe, as a user has it (a pipe to this process would hold the whole manifest at once).
    const r = spawnSync('bash', ['-c', 'node bin/mdl.js dump specs/translator.mdl --stage manifest | head -c 1; echo " status=${PIPESTATUS[0]}"'], { cwd: root, encoding: 'utf8' });
    expect(r.stdout).toBe('{ status=0\n');
    expect(r.stderr).toBe('');
  });

  it('prints the tokens, masks, schedule and cache stages of the translator', () => {
    expect(dumped('specs/translator.mdl', 'tokens').split('\n').slice(0, 3)).toEqual(['10:1\tKw_model\t"model"', '10:7\tIdentifier\t"translator"', '10:18\tLCurly\t"{"']);
    const masks = dumped('specs/translator.mdl', 'masks');
    expect(masks).toContain('mask src_keys = key_padding(src)\n  predicate: src[k] != 0\n  used by:   encoder self-attention (queries along S, keys along S)\n');
    expect(masks).toMatch(/^mask look_back = causal & key_padding\(dec_in\)$/m);
    const schedule = dumped('specs/translator.mdl', 'schedule').trimEnd().split('\n');
    const launches = Number(/^program translator: (\d+) launches, \d+ buffers$/.exec(schedule[0])?.[1]);
    expect(schedule.slice(1).filter((l) => /^ +\d+ \w+ /.test(l))).toHaveLength(launches);
    expect(schedule[1]).toMatch(/^ +0 shift_right +tokens=%tgt, dec=%dec_in /);
    const cache = dumped('specs/translator.mdl', 'cache');
    expect(cache).toMatch(/^decoder axis: T\ncached decoding: yes\nonce per source \(\d+ steps\):\n/);
  });

  it('names the known stages when given an unknown one', () => {
    const r = mdl('dump', 'specs/translator.mdl', '--stage', 'nope');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/stages: tokens, ast, masks, ir/);
  });
});
