// Views of one storage binding: the declarations generate one accessor per view at its uniform offset, and a view
// that starts at a field the kernel does not declare is refused.

import { describe, expect, it } from 'vitest';
import { declareKernel, type KernelParts } from '../../src/wgsl/kernel.ts';

const parts = (offset: string): KernelParts => ({
  family: 'views',
  entryPoint: 'main',
  struct: { type: 'P', name: 'p' },
  uniforms: [{ name: 'second_at', type: 'u32' }],
  bindings: [
    { role: 'pair', name: 'pair_buf', access: 'read_write', element: 'f32', views: [{ name: 'first' }, { name: 'second', offset }] },
    { role: 'src', access: 'read', element: 'f32', views: [{ name: 'src_at', offset }] },
  ],
  workgroupSize: 1,
  workgroupStorageBytes: 0,
  body: '@compute @workgroup_size(1)\nfn main() { second_store(0u, first(0u) + src_at(1u)); }',
});

describe('binding views', () => {
  it('declares a reader per view, and a writer for a read_write binding, at the view offset', () => {
    const { wgsl } = declareKernel(parts('second_at'));
    expect(wgsl).toContain('fn first(i: u32) -> f32 { return pair_buf[i]; }');
    expect(wgsl).toContain('fn second(i: u32) -> f32 { return pair_buf[p.second_at + i]; }');
    expect(wgsl).toContain('fn second_store(i: u32, v: f32) { pair_buf[p.second_at + i] = v; }');
    expect(wgsl).toContain('fn src_at(i: u32) -> f32 { return src[p.second_at + i]; }');
    expect(wgsl).not.toContain('fn src_at_store');
  });

  it('refuses a view at an undeclared uniform and a view named like a binding', () => {
    expect(() => declareKernel(parts('nowhere'))).toThrow("view 'second' starts at 'nowhere', which is not a uniform field");
    const clash = parts('second_at');
    clash.bindings[0].views = [{ name: 'src' }];
    expect(() => declareKernel(clash)).toThrow("'src' is declared twice");
  });
});
