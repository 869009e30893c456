// Turning a golden case into its environment and its pinned text. Shared by scripts/gen-golden-masks.ts (which
// writes the files) and the golden test (which re-derives them).

import type { MaskEnv } from '../../../src/masks/kernel-contract.ts';
import { denseMask } from '../../../src/masks/evaluate.ts';
import { policyOf } from '../../support/mask-scope.ts';
import { printPolicy, toPredicate } from '../../../src/masks/policy.ts';
import { printBool } from '../../../src/masks/print-predicate.ts';
import { maskToText } from '../../../src/masks/render-text.ts';
import type { GoldenCase } from './cases.ts';

export const batchOf = (c: GoldenCase) => c.batch ?? 1;
export const headsOf = (c: GoldenCase) => c.heads ?? 1;

/** Dims and data of a case: T = Lq and S = Lk (self-attention cases have Lq = Lk). */
export function caseEnv(c: GoldenCase): MaskEnv {
  const data: Record<string, Int32Array> = {};
  const strides: Record<string, number> = {};
  for (const [name, value] of Object.entries(c.data ?? {})) {
    if (!value) continue;
    if (Array.isArray(value[0])) {
      const rows = value as number[][];
      data[name] = Int32Array.from(rows.flat());
      strides[name] = rows[0].length;
    } else {
      data[name] = Int32Array.from(value as number[]);
    }
  }
  return { dims: { Lq: c.lq, Lk: c.lk, T: c.lq, S: c.lk, B: batchOf(c) }, data, strides };
}

/** The readable golden file of a case, from the CPU evaluator. */
export function renderCase(c: GoldenCase): string {
  const policy = policyOf(c.mask);
  const pred = toPredicate(policy);
  const env = caseEnv(c);
  const out = [
    `# golden mask: ${c.name}`,
    `# mask:        ${c.mask}`,
    `# normal form: ${printPolicy(policy)}`,
    `# predicate:   ${printBool(pred)}`,
    `# sizes:       Lq=${c.lq} Lk=${c.lk} batch=${batchOf(c)} heads=${headsOf(c)}`,
    `# data:        ${c.data ? JSON.stringify(c.data) : '-'}`,
    '# # = the query may attend to the key, . = hidden',
  ];
  for (let b = 0; b < batchOf(c); b++) {
    for (let h = 0; h < headsOf(c); h++) {
      out.push('', `[b=${b} h=${h}]`, maskToText(denseMask(pred, env, b, h), c.lk));
    }
  }
  return out.join('\n') + '\n';
}

/** The matrices back out of a golden file: `[b][h][q][k]`. */
export function parseGolden(text: string): boolean[][][][] {
  const blocks: boolean[][][][] = [];
  let current: boolean[][] | undefined;
  for (const line of text.split('\n')) {
    const head = /^\[b=(\d+) h=(\d+)\]$/.exec(line);
    if (head) {
      const [b, h] = [Number(head[1]), Number(head[2])];
      blocks[b] ??= [];
      blocks[b][h] = current = [];
      continue;
    }
    const row = /^[q ]\s*\d+ {2}([#.]+)$/.exec(line);
    if (row && current) current.push([...row[1]].map((ch) => ch === '#'));
  }
  return blocks;
}
