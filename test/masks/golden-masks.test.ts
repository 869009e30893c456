// Golden masks: every pinned file must equal (1) what the CPU evaluator draws now, (2) the case's independent
// formula, and (3) the compiled WGSL predicate run on Dawn, bit for bit.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { emitMaskWgsl } from '../../src/masks/emit-wgsl.ts';
import { policyOf } from '../support/mask-scope.ts';
import { toPredicate } from '../../src/masks/policy.ts';
import { denseMaskOnGpu } from '../support/mask-run.ts';
import { useGpu } from '../runtime/gpu-harness.ts';
import { goldenCases, type GoldenCase } from '../golden/masks/cases.ts';
import { batchOf, caseEnv, headsOf, parseGolden, renderCase } from '../golden/masks/render-case.ts';

const dir = join(import.meta.dirname, '..', 'golden', 'masks');
const pinned = (c: GoldenCase) => readFileSync(join(dir, `${c.name}.txt`), 'utf8');

function formulaMatrix(c: GoldenCase): boolean[][][][] {
  const x = { lq: c.lq, lk: c.lk, d: c.data ?? {} };
  return Array.from({ length: batchOf(c) }, (_, b) =>
    Array.from({ length: headsOf(c) }, (_, h) => Array.from({ length: c.lq }, (_, q) => Array.from({ length: c.lk }, (_, k) => c.formula(b, h, q, k, x)))),
  );
}

describe('golden masks on the CPU', () => {
  it('covers every built-in policy and at least 15 compositions', () => {
    const builtins = ['none', 'full', 'causal', 'diagonal', 'steps', 'window', 'band', 'dilated', 'prefix', 'chunked', 'sink', 'key_padding', 'query_padding', 'document', 'random', 'monotonic'];
    for (const b of builtins) expect(goldenCases.some((c) => c.mask.includes(b)), b).toBe(true);
    expect(goldenCases.filter((c) => /[&|!]/.test(c.mask)).length).toBeGreaterThanOrEqual(15);
  });

  it('has no golden file without a case', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.txt')).sort();
    expect(files).toEqual(goldenCases.map((c) => `${c.name}.txt`).sort());
  });

  for (const c of goldenCases) {
    it(`${c.name}: file = evaluator = independent formula`, () => {
      expect(existsSync(join(dir, `${c.name}.txt`)), 'run `npx tsx scripts/gen-golden-masks.ts`').toBe(true);
      const text = pinned(c);
      expect(renderCase(c)).toBe(text);
      expect(parseGolden(text)).toEqual(formulaMatrix(c));
    });
  }

  it('random(rate) hides about `rate` of the pairs', () => {
    const pred = toPredicate(policyOf('random(0.3, 5)'));
    const w = emitMaskWgsl(pred); // also checks that a random mask compiles to the hash, not a constant
    expect(w.code).toContain('mdl_hash');
    let hidden = 0;
    const n = 96;
    const env = { dims: { Lq: n, Lk: n }, data: {} };
    for (let h = 0; h < 2; h++) for (let q = 0; q < n; q++) for (let k = 0; k < n; k++) if (!evalAt(pred, env, h, q, k)) hidden++;
    expect(hidden / (2 * n * n)).toBeGreaterThan(0.28);
    expect(hidden / (2 * n * n)).toBeLessThan(0.32);
  });
});

import { evalBool } from '../../src/masks/evaluate.ts';
const evalAt = (pred: Parameters<typeof evalBool>[0], env: Parameters<typeof evalBool>[2], h: number, q: number, k: number) => evalBool(pred, { b: 0, h, q, k }, env);

describe('golden masks from the compiled WGSL on Dawn', () => {
  const gpu = useGpu();
  for (const c of goldenCases) {
    it(`${c.name}: WGSL reproduces the golden bits`, async () => {
      const pred = toPredicate(policyOf(c.mask));
      const mask = emitMaskWgsl(pred);
      const bits = await denseMaskOnGpu(gpu(), mask, caseEnv(c), { batch: batchOf(c), heads: headsOf(c), lq: c.lq, lk: c.lk });
      const golden = parseGolden(pinned(c));
      const fromGpu = golden.map((hs, b) => hs.map((rows, h) => rows.map((row, q) => row.map((_, k) => bits[((b * headsOf(c) + h) * c.lq + q) * c.lk + k] === 1))));
      expect(fromGpu).toEqual(golden);
    });
  }
});
