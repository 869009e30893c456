// `mdl run`'s inputs as a user gives them: ids checked against the vocabulary, features from files checked against
// their declaration, lengths and segment ids from --set, every problem in one line with exit status 1, found before
// any weights are built (a missing weights file is never what is reported first).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeSafetensors } from '../../src/runtime/safetensors.ts';
import { npyBytes } from '../support/npy.ts';

const root = join(import.meta.dirname, '..', '..');
const mdl = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
const dir = mkdtempSync(join(tmpdir(), 'mdl-run-inputs-'));
const file = (name: string, bytes: Uint8Array | string) => (writeFileSync(join(dir, name), bytes), join(dir, name));
const noWeights = join(dir, 'absent.safetensors');

/** One line on stderr, exit 1, no trace. */
function refused(args: string[]): string {
  const r = mdl('run', ...args);
  expect(r.status, r.stderr).toBe(1);
  expect(r.stdout).toBe('');
  expect(r.stderr).not.toMatch(/internal error|\n\s+at /);
  return r.stderr.trim();
}

const frames = (rows: number, width = 64, at?: number) => Array.from({ length: rows * width }, (_, i) => (i === at ? NaN : Math.cos(i * 0.1)));

describe('checked before the weights', () => {
  it('prompt ids outside the vocabulary, even on a 124M-parameter spec', () => {
    const t0 = performance.now();
    expect(refused(['specs/gpt2-small.mdl', '--tokens', '5,50257', '--weights', noWeights])).toBe("mdl: --tokens: '50257' is not a token id of the vocabulary (0..50256)");
    expect(refused(['specs/translator.mdl', '--source-tokens', '3,-1', '--weights', noWeights])).toBe("mdl: --source-tokens: '-1' is not a token id of the vocabulary (0..479)");
    expect(performance.now() - t0).toBeLessThan(20_000);
  });

  it('a source or a prompt longer than its axis allows', () => {
    expect(refused(['specs/translator.mdl', '--source', 'a'.repeat(65), '--weights', noWeights])).toBe("mdl: S = 65 (from the source) is above the spec's bound S <= 64");
    // The decoder input adds the start token: 64 target tokens need T = 65.
    expect(refused(['specs/translator.mdl', '--source', 'a', '--input', 'b'.repeat(64), '--weights', noWeights])).toBe("mdl: T = 65 (from the prompt) is above the spec's bound T <= 64");
  });

  it('text for a vocabulary with no room for bytes', () => {
    const msg = refused(['specs/streaming.mdl', '--input', 'hi', '--weights', noWeights]);
    expect(msg).toMatch(/^mdl: the byte-level tokenizer needs 256 ids for the UTF-8 bytes, either after the largest special id 2 \(ids 3\.\.258, but the vocabulary has 96\)/);
  });

  it('features: required, from a file of the declared shape, finite', () => {
    expect(refused(['specs/streaming.mdl', '--weights', noWeights])).toBe("mdl: streaming reads features 'frames' [B, F, 64]: give them with --features frames=FILE (.npy or .safetensors)");
    const narrow = file('narrow.npy', npyBytes([10, 32], frames(10, 32)));
    expect(refused(['specs/streaming.mdl', '--features', `frames=${narrow}`, '--weights', noWeights])).toBe(
      `mdl: ${narrow}: features 'frames' need shape [F, 64] or [1, F, 64] (declared [B, F, 64]), found [10, 32]`,
    );
    const long = file('long.npy', npyBytes([1, 513, 64], frames(513)));
    expect(refused(['specs/streaming.mdl', '--features', `frames=${long}`, '--weights', noWeights])).toBe(`mdl: ${long}: features 'frames' have 513 rows along F; the spec allows 1 to 512`);
    const nan = file('nan.npy', npyBytes([3, 64], frames(3, 64, 70)));
    expect(refused(['specs/streaming.mdl', '--features', `frames=${nan}`, '--weights', noWeights])).toBe(`mdl: ${nan}: features 'frames' holds NaN at index 70 ([1, 6]); every value must be finite`);
    const ints = file('ints.npy', npyBytes([3, 64], frames(3), '<i4'));
    expect(refused(['specs/streaming.mdl', '--features', `frames=${ints}`, '--weights', noWeights])).toMatch(/dtype '<i4' is not supported/);
    expect(refused(['specs/streaming.mdl', '--features', `frames=${join(dir, 'absent.safetensors')}`, '--weights', noWeights])).toBe(
      `mdl: --features frames: ${join(dir, 'absent.safetensors')}: no such file`,
    );
    expect(refused(['specs/streaming.mdl', '--features', 'text=x.npy', '--weights', noWeights])).toBe(
      "mdl: --features text: 'text' is a tokens input, not features; give tokens with --input/--tokens or --source/--source-tokens",
    );
  });

  it('--set: only lengths and segments, in range, one segment id per prompt position', () => {
    expect(refused(['specs/mask-zoo.mdl', '--source-tokens', '4,5', '--tokens', '7', '--set', 'src_len=3', '--weights', noWeights])).toBe(
      "mdl: --set src_len: lengths of S take one whole number from 0 to 2 (the length of S in this run), not '3'",
    );
    expect(refused(['specs/mask-zoo.mdl', '--source-tokens', '4,5', '--tokens', '7,8', '--set', 'docs=0,1,1', '--weights', noWeights])).toBe(
      'mdl: --set docs: give one segment id per position of T known before generating (2), not 3',
    );
    expect(refused(['specs/mask-zoo.mdl', '--source-tokens', '4,5', '--tokens', '7', '--set', 'tgt=1', '--weights', noWeights])).toMatch(/'tgt' is a tokens input, not lengths or segments/);
    expect(refused(['specs/mask-zoo.mdl', '--source-tokens', '4,5', '--tokens', '7', '--set', 'nope=1', '--weights', noWeights])).toMatch(/mask_zoo has no input 'nope' \(its inputs: src, tgt, src_len/);
  });
});

describe('features run', () => {
  it('from .npy and from .safetensors alike, [F, W] or [1, F, W]; a different input gives different tokens', () => {
    const values = frames(6);
    const npy = file('f.npy', npyBytes([1, 6, 64], values));
    const st = file('f.safetensors', writeSafetensors({ frames: { shape: [6, 64], data: Float32Array.from(values) } }));
    const other = file('g.npy', npyBytes([6, 64], values.map((v) => -3 * v)));
    const run = (f: string) => {
      const r = mdl('run', 'specs/streaming.mdl', '--features', `frames=${f}`, '--max-new', '6', '--temperature', '2', '--seed', '9', '--backend', 'cpu', '--json');
      expect(r.status, r.stderr).toBe(0);
      const { tokens, text } = JSON.parse(r.stdout.trim().split("\n").at(-1)!) as { tokens: number[]; text: string };
      // 96 ids leave no room for bytes: the text shows the ids.
      expect(text).toBe(tokens.map((id) => `<${id}>`).join(''));
      return tokens;
    };
    const a = run(npy);
    expect(run(st)).toEqual(a);
    expect(run(other)).not.toEqual(a);
  });
});
