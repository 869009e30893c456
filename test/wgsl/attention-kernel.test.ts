// The kernel generator without a device: tile choice within limits, bindings, grid, and identifier safety.
// (Compilation and numerics are tested on the device in test/runtime.)

import { describe, expect, it } from 'vitest';
import type { MaskWgsl } from '../../src/masks/kernel-contract.ts';
import {
  attentionGrid,
  attentionParams,
  chooseTiles,
  DEFAULT_KERNEL_LIMITS,
  generateAttentionKernel,
  workgroupBytes,
  type KernelLimits,
} from '../../src/wgsl/attention.ts';
import { alibiSlopes, emitModifierFunction, f32Literal } from '../../src/wgsl/score-modifiers.ts';

const causal: MaskWgsl = {
  code: 'fn mdl_mask(b: i32, h: i32, q: i32, k: i32) -> bool { return k <= q; }',
  params: [],
  inputs: [],
  indexOnly: true,
  perHead: false,
};

const LIMIT_SETS: [string, KernelLimits][] = [
  ['WebGPU defaults', DEFAULT_KERNEL_LIMITS],
  ['SwiftShader', { maxComputeWorkgroupStorageSize: 32768, maxComputeInvocationsPerWorkgroup: 256, maxComputeWorkgroupSizeX: 256 }],
  ['small', { maxComputeWorkgroupStorageSize: 4096, maxComputeInvocationsPerWorkgroup: 64, maxComputeWorkgroupSizeX: 64 }],
];

describe('tile choice', () => {
  for (const [name, limits] of LIMIT_SETS) {
    it(`fits every head dim in the ${name} limits`, () => {
      for (let headDim = 4; headDim <= 256; headDim += 4) {
        const { tileQ, tileK, lanes } = chooseTiles(headDim, limits);
        expect(workgroupBytes(headDim, tileQ, tileK)).toBeLessThanOrEqual(Math.min(16384, limits.maxComputeWorkgroupStorageSize));
        expect(tileQ * lanes).toBeLessThanOrEqual(limits.maxComputeInvocationsPerWorkgroup);
        expect(tileK).toBeGreaterThanOrEqual(1);
      }
    });
  }

  it('splits head dims 80 and 96 evenly across lanes', () => {
    expect(chooseTiles(80, DEFAULT_KERNEL_LIMITS).lanes).toBe(5);
    expect(chooseTiles(96, DEFAULT_KERNEL_LIMITS).lanes).toBe(6);
    expect(chooseTiles(64, DEFAULT_KERNEL_LIMITS)).toEqual({ tileQ: 32, tileK: 16, lanes: 4, staged: true });
  });

  it('builds the unstaged shape: one row per invocation, no workgroup memory, no barriers', () => {
    expect(chooseTiles(64, DEFAULT_KERNEL_LIMITS, { q: 64, k: 64, lanes: 1, staged: false })).toEqual({ tileQ: 64, tileK: 64, lanes: 1, staged: false });
    expect(() => chooseTiles(64, DEFAULT_KERNEL_LIMITS, { q: 64, k: 64, lanes: 4, staged: false })).toThrow(/lanes must be 1/);
    const k = generateAttentionKernel({ headDim: 64, heads: 8, kvHeads: 2, tiles: { q: 64, k: 64, lanes: 1, staged: false } });
    expect(k.workgroupStorageBytes).toBe(0);
    expect(k.wgsl).not.toMatch(/var<workgroup>|workgroupBarrier/);
  });

  it('rejects overrides beyond the limits with a readable message', () => {
    expect(() => chooseTiles(64, DEFAULT_KERNEL_LIMITS, { q: 64, lanes: 8 })).toThrow(/512 invocations exceeds the device limit of 256/);
    expect(() => chooseTiles(256, DEFAULT_KERNEL_LIMITS, { q: 32, k: 64 })).toThrow(/need \d+ bytes of workgroup memory; the device allows 16384/);
  });
});

describe('kernel generation', () => {
  it('rejects shapes it cannot run', () => {
    expect(() => generateAttentionKernel({ headDim: 30, heads: 8, kvHeads: 8 })).toThrow(/multiple of 4/);
    expect(() => generateAttentionKernel({ headDim: 260, heads: 8, kvHeads: 8 })).toThrow(/between 4 and 256/);
    expect(() => generateAttentionKernel({ headDim: 64, heads: 8, kvHeads: 3 })).toThrow(/divisor/);
  });

  it('declares the mask table and calls the predicate only when there is a mask', () => {
    const plain = generateAttentionKernel({ headDim: 64, heads: 8, kvHeads: 2 });
    expect(plain.wgsl).not.toContain('mask_');
    expect(plain.wgsl).not.toContain('mdl_mask');
    expect(plain.bindings.map((b) => b.role)).toEqual(['q', 'k', 'v', 'out', 'tileClass']);
    expect(plain.wgsl).toMatch(/@binding\(0\) var<uniform> attn_params: AttnParams;/);
    expect(plain.wgsl).toMatch(/@binding\(4\) var<storage, read_write> attn_out: array<vec4<f32>>;/);

    const masked = generateAttentionKernel({ headDim: 64, heads: 8, kvHeads: 2, mask: causal });
    expect(masked.wgsl).toContain(causal.code);
    expect(masked.wgsl).toMatch(/@binding\(6\) var<storage, read> mask_table: array<i32>;/);
    expect(masked.wgsl).not.toMatch(/@binding\(7\)/);
    // The contract's two reads are views of the one table; causal has no parameter slots, so its data starts at 1.
    expect(masked.wgsl).toContain('fn mask_params(i: u32) -> i32 { return mask_table[i]; }');
    expect(masked.wgsl).toContain('fn mask_data(i: u32) -> i32 { return mask_table[1u + i]; }');
    expect(masked.wgsl).toContain('cls == ATTN_PARTIAL');
    expect(masked.bindings.map((b) => b.role)).toEqual(['q', 'k', 'v', 'out', 'tileClass', 'mask']);
  });

  it('shares one WGSL source between sites that differ only in heads and scale', () => {
    const a = generateAttentionKernel({ headDim: 64, heads: 8, kvHeads: 2, mask: causal });
    const b = generateAttentionKernel({ headDim: 64, heads: 12, kvHeads: 12, mask: causal, scale: 0.5 });
    expect(a.wgsl).toBe(b.wgsl);
  });

  it('sizes the grid and the tile-class buffer from the lengths', () => {
    const kernel = generateAttentionKernel({ headDim: 64, heads: 8, kvHeads: 2, tiles: { q: 16, k: 8 } });
    const grid = attentionGrid(kernel, 3, 33, 17);
    expect(grid).toEqual({ qTiles: 3, kTiles: 3, dispatch: [3, 8, 3], tileClassCount: 3 * 1 * 3 * 3 });
    const perHead = generateAttentionKernel({ headDim: 64, heads: 8, kvHeads: 2, mask: { ...causal, perHead: true }, tiles: { q: 16, k: 8 } });
    expect(attentionGrid(perHead, 3, 33, 17).tileClassCount).toBe(3 * 8 * 3 * 3);
    const params = attentionParams(kernel, grid, 33, 17);
    expect(Array.from(params.subarray(0, 7))).toEqual([33, 17, 3, 3, 8, 2, 4]);
    expect(new Float32Array(params.buffer)[7]).toBeCloseTo(1 / 8);
  });
});

describe('nothing from a spec becomes a WGSL identifier', () => {
  it('rejects mask code that uses the kernel’s names or lacks the predicate', () => {
    const clash = { ...causal, code: `${causal.code}\nfn attn_helper() {}` };
    expect(() => generateAttentionKernel({ headDim: 32, heads: 1, kvHeads: 1, mask: clash })).toThrow(/reserved/);
    const missing = { ...causal, code: 'fn other(b: i32) -> bool { return true; }' };
    expect(() => generateAttentionKernel({ headDim: 32, heads: 1, kvHeads: 1, mask: missing })).toThrow(/does not define/);
  });

  it('emits constants as checked literals', () => {
    expect(f32Literal(2)).toBe('2.0');
    expect(f32Literal(-0.5)).toBe('(-0.5)');
    expect(f32Literal(1e-7)).toBe('1e-7');
    expect(() => f32Literal(NaN)).toThrow();
    expect(() => f32Literal(Infinity)).toThrow();
    expect(() => f32Literal(1e39)).toThrow(/f32 range/);
  });

  it('checks ALiBi slopes against the head count', () => {
    expect(() => emitModifierFunction('attn_modify_score', [{ kind: 'alibi', slopes: [0.5], form: 'distance' }], 2)).toThrow(/one slope per head/);
    expect(() => emitModifierFunction('attn_modify_score', [{ kind: 'softcap', cap: 0 }], 2)).toThrow(/positive/);
  });
});

describe('ALiBi slopes', () => {
  it('follow the geometric sequence, completed for head counts that are not powers of two', () => {
    expect(alibiSlopes(8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8].map((i) => 2 ** -i));
    expect(alibiSlopes(6)).toEqual([2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3]);
  });
});
