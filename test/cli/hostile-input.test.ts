// The mdl command on inputs built to break it: deep nesting, very long expressions, binary files, absurd sizes.
// Whatever the input, mdl answers with positioned errors or a result, in bounded output and time, never an internal
// error or a stack trace.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const mdl = (...args: string[]) =>
  spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' }, maxBuffer: 1 << 30 });
const dir = mkdtempSync(join(tmpdir(), 'mdl-hostile-'));
const smallLm = readFileSync(join(root, 'test', 'cases', 'ok_small_lm.mdl'), 'utf8');

/** The small decoder-only case with its mask replaced. */
function specWithMask(name: string, expr: string): string {
  const file = join(dir, name);
  writeFileSync(file, smallLm.replace('mask look = causal', `mask look = ${expr}`));
  return file;
}

function expectNoCrash(r: ReturnType<typeof mdl>): void {
  expect(r.stderr).not.toContain('internal error');
  expect(r.stderr).not.toMatch(/\n\s+at .*:\d+:\d+/);
}

describe('deep nesting and long chains', () => {
  it('reports 200 nested parentheses as a positioned error', () => {
    const file = specWithMask('nest.mdl', `${'('.repeat(200)}causal${')'.repeat(200)}`);
    const r = mdl('check', file);
    expectNoCrash(r);
    expect(r.status).toBe(1);
    // Level 64 is the model's brace plus 63 parentheses: the 64th parenthesis, column 15 + 63, crosses the limit.
    expect(r.stderr).toContain(`${file}:6:78: error[E107]: nested too deeply (limit 64`);
  });

  it('checks nesting within the limit all the way through compile', () => {
    const file = specWithMask('nest-ok.mdl', `${'!('.repeat(31)}causal${')'.repeat(31)}`);
    const r = mdl('compile', file, '-o', join(dir, 'nest-ok'));
    expectNoCrash(r);
    expect(r.status, r.stderr).toBe(0);
  });

  for (const [op, word] of [['|', 'or'], ['&', 'and']]) {
    it(`compiles a flat chain of 5000 '${op}' terms`, () => {
      const terms = Array.from({ length: 5000 }, (_, i) => (op === '|' ? `k <= q - ${i}` : `k >= q - ${i + 1}`));
      const file = specWithMask(`chain-${word}.mdl`, terms.join(` ${op} `));
      const out = join(dir, `chain-${word}`);
      const r = mdl('compile', file, '-o', out);
      expectNoCrash(r);
      expect(r.status, r.stderr).toBe(0);
      // The whole chain reached the attention kernel: its last term is in the compiled mask predicate.
      const kernel = readdirSync(out).find((f) => f.endsWith('attention.wgsl'));
      expect(readFileSync(join(out, kernel ?? 'missing'), 'utf8')).toContain(op === '|' ? `${op} (k <= (q - 4999)))` : `${op} (k >= (q - 5000)))`);
      const ast = mdl('dump', file, '--stage', 'ast');
      expect(ast.status, ast.stderr).toBe(0);
      expect(ast.stdout).toContain(op === '|' ? '| (k <= (q - 4999)))' : '& (k >= (q - 5000)))');
    });
  }

  it('reports an arithmetic chain past the limit as a positioned error', () => {
    const file = specWithMask('arith.mdl', `k <= q${' + 1'.repeat(3000)}`);
    const r = mdl('check', file);
    expectNoCrash(r);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/:6:\d+: error\[E108\]: arithmetic too long \(limit 1000/);
  });
});

describe('binary and huge files given as a spec', () => {
  /** Random bytes from a fixed seed (xorshift), so a failure reproduces. */
  function randomBytes(n: number, seed: number): Buffer {
    const out = Buffer.alloc(n);
    let x = seed >>> 0 || 1;
    for (let i = 0; i < n; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      out[i] = x & 0xff;
    }
    return out;
  }

  /** A safetensors-like file: an 8-byte header length, a JSON header, then raw f32 data (an easy slip for a spec). */
  function safetensorsLike(megabytes: number): Buffer {
    const tensors = 64;
    const size = Math.floor((megabytes * 2 ** 20) / tensors);
    const header: Record<string, unknown> = {};
    for (let i = 0; i < tensors; i++) header[`layer${i}.weight`] = { dtype: 'F32', shape: [size / 4], data_offsets: [i * size, (i + 1) * size] };
    const json = Buffer.from(JSON.stringify(header));
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(json.length));
    return Buffer.concat([len, json, randomBytes(tensors * size, 7)]);
  }

  const cases: [string, () => Buffer][] = [
    ['64 KB of random bytes', () => randomBytes(64 * 1024, 42)],
    ['a copy of /bin/ls', () => readFileSync('/bin/ls')],
    ['a 4 MB safetensors file', () => safetensorsLike(4)],
  ];
  for (const [what, bytes] of cases) {
    it(`says in one line that ${what} is not a spec`, () => {
      const file = join(dir, `${what.replace(/\W+/g, '-')}.mdl`);
      writeFileSync(file, bytes());
      const t0 = performance.now();
      const r = mdl('check', file);
      expect(performance.now() - t0).toBeLessThan(20_000);
      expectNoCrash(r);
      expect(r.status).toBe(1);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines[0]).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:1:1: error\\[E109\\]: this looks like a binary file`));
      expect(r.stderr.length).toBeLessThan(1000);
    });
  }

  it('bounds the output for a large text file full of errors', () => {
    // 2 MB of JSON on one line: every character is an error, but only the first 50 are shown, each line cut short.
    const file = join(dir, 'data.json.mdl');
    writeFileSync(file, JSON.stringify(Array.from({ length: 100_000 }, (_, i) => ({ [`k${i}`]: i / 7 }))));
    const t0 = performance.now();
    const r = mdl('check', file);
    expect(performance.now() - t0).toBeLessThan(20_000);
    expectNoCrash(r);
    expect(r.status).toBe(1);
    expect(r.stderr.match(/: error\[E1\d\d\]/g)).toHaveLength(50);
    expect(r.stderr).toMatch(/: … and \d+ more errors\n/);
    expect(r.stderr.length).toBeLessThan(50 * 600);
  });
});

describe('absurd sizes', () => {
  for (const [what, from, to, expected] of [
    ['a model width of 10^12', 'd_model = 32', 'd_model = 1000000000000', /:7:3: error\[E316\]: the token embedding table would hold 6\.40e\+13 elements \(vocab 64 × width 1000000000000\), more than 2147483647/],
    ['a vocabulary of 2·10^9', 'vocab = 64', 'vocab = 2000000000', /:7:3: error\[E316\]: the token embedding table would hold 6\.40e\+10 elements/],
    ['heads 16384 wide', 'd_model = 32', 'd_model = 65536', /:9:28: error\[E315\]: each of the 4 heads is 16384 wide/],
  ] as const) {
    it(`stops ${what} at check, with the limit in the message, for check, compile and run alike`, () => {
      const file = join(dir, `${what.replace(/\W+/g, '-')}.mdl`);
      writeFileSync(file, smallLm.replace(from, to));
      for (const args of [['check', file], ['compile', file, '-o', join(dir, 'absurd-out')], ['run', file, '--backend', 'cpu', '--input', 'hi', '--max-new', '1']]) {
        const r = mdl(...args);
        expectNoCrash(r);
        expect(r.status, args[0]).toBe(1);
        expect(r.stderr).toMatch(expected);
      }
    });
  }
});

describe('long chains of definitions', () => {
  it('reports 20 000 masks and dims defined by each other in reverse order with positioned errors', () => {
    const n = 20_000;
    const masks = Array.from({ length: n }, (_, i) => (i + 1 < n ? `  mask m${i} = m${i + 1} & causal` : `  mask m${i} = causal`));
    const dims = Array.from({ length: n }, (_, i) => (i + 1 < n ? `  dim e${i} = e${i + 1} + 1` : `  dim e${i} = 1`));
    for (const [name, lines, expected] of [
      ['reverse-dims.mdl', dims, `:106:7: error[E205]: dim 'e100' is reached through a chain of more than 100 dims`],
      ['reverse-masks.mdl', masks, `:105:14: error[E411]: mask 'm100' is reached through a chain of more than 100 masks`],
    ] as const) {
      const file = join(dir, name);
      const body = [...lines, lines === dims ? '  mask look = causal' : '  mask look = m0'];
      writeFileSync(file, smallLm.replace('  mask look = causal', body.join('\n')));
      const r = mdl('check', file);
      expectNoCrash(r);
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`${file}${expected}`);
      expect(r.stderr).toMatch(/: … and \d+ more errors\n/);
    }
  });

  it('reports a mask that doubles through its references before it grows without bound', () => {
    const masks = Array.from({ length: 40 }, (_, i) => (i === 0 ? '  mask m0 = causal' : `  mask m${i} = (m${i - 1} & window(${i})) | (m${i - 1} & window(${i + 1}))`));
    const file = join(dir, 'doubling.mdl');
    writeFileSync(file, smallLm.replace('  mask look = causal', [...masks, '  mask look = m39'].join('\n')));
    const r = mdl('check', file);
    expectNoCrash(r);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${file}:21:8: error[E412]: mask 'm15' is 196603 parts (limit 100000)`);
  });

  it('reports dims whose nesting adds up through their references before evaluation overflows', () => {
    const dims = Array.from({ length: 99 }, (_, i) => (i < 98 ? `  dim e${i} = ${'('.repeat(60)}e${i + 1} + 1${')'.repeat(60)}` : `  dim e${i} = 1`));
    const file = join(dir, 'nested-dims.mdl');
    writeFileSync(file, smallLm.replace('  mask look = causal', [...dims, '  mask look = causal'].join('\n')));
    const r = mdl('check', file);
    expectNoCrash(r);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${file}:38:7: error[E205]: dim 'e32' is reached through dims whose expressions nest more than 2000 levels deep in all (limit 2000)`);
  });

  it('reports masks whose nesting adds up through their references before lowering overflows', () => {
    // Each mask nests 60 levels (within the parser's limit) around the next one: 99 of them nest about 6000 deep.
    const nest = (inner: string) => Array.from({ length: 60 }, (_, j) => j).reduce((s, j) => `(k >= ${j} ${j % 2 ? '|' : '&'} ${s})`, inner);
    const masks = Array.from({ length: 99 }, (_, i) => (i < 98 ? `  mask m${i} = ${nest(`m${i + 1}`)}` : `  mask m${i} = causal`));
    const file = join(dir, 'nested-references.mdl');
    writeFileSync(file, smallLm.replace('  mask look = causal', [...masks, '  mask look = m0'].join('\n')));
    const r = mdl('check', file);
    expectNoCrash(r);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/:\d+:\d+: error\[E412\]: this mask nests more than 1300 levels deep through masks 'm0' → 'm1' → .* \(limit 1300\)/);
  });
});

describe('large specs', () => {
  it('checks a 1 MB spec of 25 000 masks, read declaration by declaration', () => {
    const masks = Array.from({ length: 25_000 }, (_, i) => `  mask m_${i} = causal & window(${i + 1})`).join('\n');
    const file = join(dir, 'many-masks.mdl');
    writeFileSync(file, smallLm.replace('  mask look = causal', `  mask look = causal\n${masks}`));
    const r = mdl('check', file);
    expectNoCrash(r);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${file}: ok (model m)\n`);
  });

  it('reports an error deep in a large spec at its line', () => {
    const masks = Array.from({ length: 25_000 }, (_, i) => `  mask m_${i} = causal & window(${i === 20_000 ? 'q' : i + 1})`).join('\n');
    const file = join(dir, 'many-masks-one-bad.mdl');
    writeFileSync(file, smallLm.replace('  mask look = causal', `  mask look = causal\n${masks}`));
    const r = mdl('check', file);
    expectNoCrash(r);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:20007:\\d+: error\\[E4\\d\\d\\]`));
  });
});

describe('deep models', () => {
  it('compiles a 1000-layer spec', () => {
    const file = join(dir, 'deep.mdl');
    writeFileSync(file, smallLm.replace('stack decoder x 1 on ids', 'stack decoder x 1000 on ids'));
    const out = join(dir, 'deep-out');
    const r = mdl('compile', file, '-o', out);
    expectNoCrash(r);
    expect(r.status, r.stderr).toBe(0);
    const manifest = JSON.parse(readFileSync(join(out, 'manifest.json'), 'utf8')) as { steps: unknown[] };
    // Embedding, 7 steps per layer (norm, packed q/k/v, attention, o_proj, norm, up, down), final norm, logits.
    expect(manifest.steps).toHaveLength(7 * 1000 + 3);
  });
});
