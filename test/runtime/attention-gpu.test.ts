// The fused kernel against the f64 CPU oracle over a covering set of shapes and masks.
//
// The full cross product (5 lengths × 3 head dims × 3 head groupings × masks × self/cross) would take minutes on a
// software adapter, so the self-attention cases form a Latin square: every (length, head dim) pair appears once,
// with the head grouping rotated so that every (length, grouping) and (head dim, grouping) pair appears too. The
// cross-attention cases add non-square shapes in both directions.

import { describe, expect, it } from 'vitest';
import { describeCase, runCase, useGpu, type AttentionCase } from './gpu-harness.ts';
import {
  causalBottomRight,
  causalTopLeft,
  classifyTiles,
  envFor,
  keyPadding,
  packedDocuments,
  perHeadWindow,
  someRowsBlind,
  type MaskFixture,
} from './mask-fixtures.ts';

const TOLERANCE = 1e-4;
const LENGTHS = [1, 7, 64, 129, 300];
const HEAD_DIMS = [32, 64, 80];
const GROUPINGS: [number, number][] = [
  [8, 8],
  [8, 2],
  [8, 1],
];
const MASKS: (MaskFixture | undefined)[] = [
  undefined,
  causalTopLeft,
  keyPadding,
  packedDocuments,
  someRowsBlind,
  perHeadWindow,
  causalBottomRight,
];

function makeCase(lq: number, lk: number, headDim: number, [heads, kvHeads]: [number, number], fixture: MaskFixture | undefined, exactClasses: boolean): AttentionCase {
  const batch = Math.max(lq, lk) >= 300 ? 1 : 2;
  return {
    batch, lq, lk, heads, kvHeads, headDim, fixture,
    env: envFor(fixture, batch, lq, lk),
    classes: exactClasses ? (kernel, mask) => classifyTiles(kernel, batch, lq, lk, mask ?? (() => true)) : undefined,
  };
}

const selfCases: AttentionCase[] = [];
LENGTHS.forEach((length, li) =>
  HEAD_DIMS.forEach((headDim, di) => {
    const n = selfCases.length;
    selfCases.push(makeCase(length, length, headDim, GROUPINGS[(li + di) % 3], MASKS[n % MASKS.length], n % 2 === 0));
  }),
);

const crossCases: AttentionCase[] = [
  makeCase(7, 300, 80, [8, 2], causalBottomRight, true),
  makeCase(129, 64, 64, [8, 8], keyPadding, false),
  makeCase(64, 1, 32, [8, 1], undefined, false),
  makeCase(300, 129, 32, [8, 8], perHeadWindow, true),
  makeCase(1, 129, 64, [8, 2], causalBottomRight, false),
  makeCase(300, 7, 64, [8, 1], packedDocuments, true),
  makeCase(1, 300, 80, [8, 1], keyPadding, true),
];

describe('fused attention matches the CPU oracle', () => {
  const gpu = useGpu();

  describe('self attention', () => {
    for (const c of selfCases) {
      it(`${describeCase(c)}${c.classes ? ', exact tile classes' : ''}`, async () => {
        const result = await runCase(gpu(), c);
        expect(result.error).toBeLessThanOrEqual(TOLERANCE);
      });
    }
  });

  describe('cross attention', () => {
    for (const c of crossCases) {
      it(`${describeCase(c)}${c.classes ? ', exact tile classes' : ''}`, async () => {
        const result = await runCase(gpu(), c);
        expect(result.error).toBeLessThanOrEqual(TOLERANCE);
      });
    }
  });

  it('head dims 96 and 256, and lanes that do not divide the head dim', async () => {
    for (const c of [
      makeCase(129, 129, 96, [8, 2], causalTopLeft, true),
      makeCase(33, 45, 256, [2, 1], keyPadding, false),
      { ...makeCase(70, 70, 80, [4, 4], causalTopLeft, true), kernel: { tiles: { lanes: 3 } } },
    ]) {
      const result = await runCase(gpu(), c);
      expect(result.error, describeCase(c)).toBeLessThanOrEqual(TOLERANCE);
    }
  });
});
