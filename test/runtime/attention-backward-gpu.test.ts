// The attention backward kernels on Dawn against the f64 oracle of attention-backward-harness.ts (itself checked
// against finite differences in attention-backward-reference.test.ts): masks, odd lengths, cross attention, GQA,
// every score modifier, rows with no visible key, the forward log-sum-exp, and buffers that never grow as Lq × Lk.

import { describe, expect, it } from 'vitest';
import { attentionBackwardFor, prepareAttentionBackward } from '../../src/runtime/attention-backward-run.ts';
import { attentionKernelFor } from '../../src/runtime/attention-run.ts';
import { alibiSlopes, type ScoreModifier } from '../../src/wgsl/score-modifiers.ts';
import { runBackwardCase, type BackwardCase } from './attention-backward-harness.ts';
import { useGpu } from './gpu-harness.ts';
import { causalBottomRight, causalTopLeft, classifyTiles, envFor, keyPadding, packedDocuments, perHeadWindow, randomFloats, someRowsBlind, type MaskFixture } from './mask-fixtures.ts';

const TOLERANCE = 1e-3;
const SMALL_TILES = { q: 8, k: 8 };

/** A case for a hand-written fixture, with exact tile classes from the brute-force classifier. */
function fixtureCase(fixture: MaskFixture | undefined, shape: Omit<BackwardCase, 'mask'>): BackwardCase {
  const env = envFor(fixture, shape.batch, shape.lq, shape.lk);
  const oracleMask = fixture?.predicate({ ...env, dims: { ...env.dims, Lq: shape.lq, Lk: shape.lk } });
  return {
    ...shape,
    mask: fixture?.wgsl,
    env,
    oracleMask,
    classes: oracleMask ? (kernel) => classifyTiles(kernel, shape.batch, shape.lq, shape.lk, oracleMask) : undefined,
  };
}

function expectClose(errors: Record<string, number | undefined>, label: string): void {
  for (const [name, e] of Object.entries(errors)) if (e !== undefined) expect(e, `${label}: ${name}`).toBeLessThanOrEqual(TOLERANCE);
}

describe('attention backward on Dawn', () => {
  const gpu = useGpu();
  const fixtures = [undefined, causalTopLeft, causalBottomRight, keyPadding, packedDocuments, perHeadWindow];

  for (const fixture of fixtures) {
    it(`${fixture?.name ?? 'no mask'}: odd lengths, GQA, small tiles`, async () => {
      const r = await runBackwardCase(gpu(), fixtureCase(fixture, { batch: 2, lq: 29, lk: 29, heads: 4, kvHeads: 2, headDim: 16, tiles: SMALL_TILES }));
      expectClose(r.errors, fixture?.name ?? 'no mask');
    });
  }

  // The walks' rows per invocation: each loaded row serves `block` rows of the output, and rows past the lengths
  // compute on a clamped row and store nothing. Every block size against the oracle, on tiles that leave ragged edges.
  for (const [block, tiles] of [[1, { q: 12, k: 6 }], [2, { q: 12, k: 6 }], [4, SMALL_TILES], [undefined, { q: 12, k: 6 }]] as const) {
    it(`${block ?? 'default'} rows per invocation: documents (mask data), relative_bias, GQA, Lq ≠ Lk, odd lengths`, async () => {
      const modifiers: ScoreModifier[] = [relativeBias];
      const c = fixtureCase(packedDocuments, { batch: 2, lq: 23, lk: 31, heads, kvHeads: 2, headDim: 16, tiles });
      const r = await runBackwardCase(gpu(), { ...c, modifiers, scoreTable: table, ...(block ? { block } : {}) });
      expectClose(r.errors, `block ${block}`);
      expect(r.errors.dTable).toBeDefined();
    });
  }

  it('cross attention (Lq ≠ Lk) with multi-query heads and the default tiles', async () => {
    for (const fixture of [undefined, causalBottomRight, keyPadding]) {
      const r = await runBackwardCase(gpu(), fixtureCase(fixture, { batch: 2, lq: 13, lk: 41, heads: 4, kvHeads: 1, headDim: 32 }));
      expectClose(r.errors, fixture?.name ?? 'no mask');
    }
  });

  const heads = 4;
  const table = randomFloats(8 * heads, 3, 2);
  const relativeBias: ScoreModifier = { kind: 'relative_bias', heads, buckets: 8, maxDistance: 20, bidirectional: true, table };
  const modifierSets: [string, ScoreModifier[]][] = [
    ['softcap', [{ kind: 'softcap', cap: 1.5 }]],
    ['alibi', [{ kind: 'alibi', slopes: alibiSlopes(heads), form: 'distance' }]],
    ['relative_bias', [relativeBias]],
    ['relative_bias then softcap', [relativeBias, { kind: 'softcap', cap: 2 }]],
    ['softcap then relative_bias (unidirectional)', [{ kind: 'softcap', cap: 2 }, { ...relativeBias, bidirectional: false }]],
    ['alibi then softcap', [{ kind: 'alibi', slopes: alibiSlopes(heads), form: 'distance' }, { kind: 'softcap', cap: 3 }]],
  ];
  for (const [name, modifiers] of modifierSets) {
    it(`score modifier gradients: ${name}`, async () => {
      const scoreTable = modifiers.some((m) => m.kind === 'relative_bias') ? table : undefined;
      const r = await runBackwardCase(gpu(), { ...fixtureCase(causalTopLeft, { batch: 2, lq: 23, lk: 23, heads, kvHeads: 2, headDim: 16, tiles: SMALL_TILES }), modifiers, scoreTable });
      expectClose(r.errors, name);
      if (scoreTable) {
        expect(r.errors.dTable).toBeDefined();
        // Determinism: a second run gives bit-identical table gradients (a fixed-order reduction, no atomics).
        const again = await runBackwardCase(gpu(), { ...fixtureCase(causalTopLeft, { batch: 2, lq: 23, lk: 23, heads, kvHeads: 2, headDim: 16, tiles: SMALL_TILES }), modifiers, scoreTable });
        expect(Array.from(again.gpu.dTable!)).toEqual(Array.from(r.gpu.dTable!));
      }
    });
  }

  it('rows with no visible key get exactly zero gradient, and their log-sum-exp is the masked sentinel', async () => {
    const c = fixtureCase(someRowsBlind, { batch: 1, lq: 19, lk: 19, heads: 2, kvHeads: 2, headDim: 16, tiles: SMALL_TILES });
    const r = await runBackwardCase(gpu(), c);
    expectClose(r.errors, 'blind rows');
    const d = c.headDim;
    for (let q = 0; q < c.lq; q++) {
      for (let h = 0; h < c.heads; h++) {
        const row = Array.from(r.gpu.dq.subarray((q * c.heads + h) * d, (q * c.heads + h + 1) * d));
        if (q % 3 === 1) {
          expect(row.every((x) => x === 0), `dQ row ${q}`).toBe(true);
          expect(r.lse[h * c.lq + q]).toBeLessThanOrEqual(-1e38);
        } else {
          // Row 0 sees key 0 alone: its probability is 1 whatever the score, so its dQ is zero too.
          if (q > 0) expect(row.some((x) => x !== 0), `dQ row ${q}`).toBe(true);
          expect(Math.abs(r.lse[h * c.lq + q] - r.ref.lse[h * c.lq + q])).toBeLessThan(1e-4);
        }
      }
    }
  });

  it('the unstaged forward kernel writes the same log-sum-exp, and the backward pass runs from it', async () => {
    const c = fixtureCase(someRowsBlind, { batch: 2, lq: 17, lk: 17, heads: 2, kvHeads: 1, headDim: 16, tiles: { q: 8, k: 8, lanes: 1, staged: false } });
    const r = await runBackwardCase(gpu(), c);
    expect(r.kernel.staged).toBe(false);
    expectClose(r.errors, 'unstaged');
    r.ref.lse.forEach((x, i) => (x === -Infinity ? expect(r.lse[i]).toBeLessThanOrEqual(-1e38) : expect(Math.abs(r.lse[i] - x), `row ${i}`).toBeLessThan(1e-4)));
  });

  it('the forward kernel gains the lse binding only when asked, after every other binding', () => {
    const config = { headDim: 16, heads: 4, kvHeads: 2, mask: causalTopLeft.wgsl, modifiers: [relativeBias] };
    const plain = attentionKernelFor(gpu(), config);
    const withLse = attentionKernelFor(gpu(), { ...config, lse: true });
    expect(plain.wgsl).not.toContain('attn_lse');
    expect(withLse.bindings.map((b) => b.role)).toEqual([...plain.bindings.map((b) => b.role), 'lse']);
  });

  it('rejects inputs that do not fit the kernels', async () => {
    const kernel = attentionKernelFor(gpu(), { headDim: 16, heads: 2, kvHeads: 1, mask: causalTopLeft.wgsl, tiles: SMALL_TILES, lse: true });
    const n = (len: number) => new Float32Array(len);
    const inputs = { batch: 1, lq: 9, lk: 9, q: n(9 * 32), k: n(9 * 16), v: n(9 * 16), out: n(9 * 32), dOut: n(9 * 32), lse: n(18) };
    const kernels = attentionBackwardFor(kernel);
    await expect(prepareAttentionBackward(gpu(), kernels, { ...inputs, lse: n(9) })).rejects.toThrow(/lse has 9 values, expected B·H·Lq = 18/);
    await expect(prepareAttentionBackward(gpu(), kernels, { ...inputs, dOut: n(5) })).rejects.toThrow(/dO has 5 values/);
    await expect(prepareAttentionBackward(gpu(), kernels, { ...inputs, tileClasses: n(3) as unknown as Uint32Array })).rejects.toThrow(/tile classes: expected 4 entries/);
    const withTable = attentionBackwardFor(kernel, [{ ...relativeBias, heads: 2 }]);
    await expect(prepareAttentionBackward(gpu(), withTable, inputs)).rejects.toThrow(/give its table as scoreTable/);
  });

  it('no buffer grows as Lq × Lk: every allocation but the per-tile classes is linear in the length', async () => {
    const sizes = async (l: number) => {
      const kernel = attentionKernelFor(gpu(), { headDim: 16, heads: 4, kvHeads: 2, mask: causalTopLeft.wgsl, modifiers: [relativeBias], tiles: SMALL_TILES, lse: true });
      const n = (len: number) => new Float32Array(len);
      const [qLen, kLen] = [2 * l * 4 * 16, 2 * l * 2 * 16];
      const prepared = await prepareAttentionBackward(gpu(), attentionBackwardFor(kernel, [relativeBias]), {
        batch: 2, lq: l, lk: l, q: n(qLen), k: n(kLen), v: n(kLen), out: n(qLen), dOut: n(qLen), lse: n(2 * 4 * l), scoreTable: table,
      });
      prepared.destroy();
      return new Map(prepared.allocations.map((a) => [a.label, a.bytes]));
    };
    const [small, large] = [await sizes(64), await sizes(256)];
    expect([...small.keys()]).toEqual([...large.keys()]);
    expect(small.has('table partial sums')).toBe(true);
    for (const [label, bytes] of small) {
      const grown = large.get(label)!;
      if (label === 'tile classes') {
        // One u32 per 8 × 8 tile pair and batch row: Lq·Lk / 64 entries, the forward pass's own input.
        expect(grown).toBe(4 * 2 * (256 / 8) ** 2);
      } else {
        expect(grown, label).toBeLessThanOrEqual(4 * bytes);
      }
    }
  });
});
