// The decode pass: generation with a KV cache runs two compiled programs, and `mdl compile` and `mdl dump` show them.
// The prefill is the full pass with the decoder over the new rows and the caches bound in place of K and V; the
// decode step runs the per-token steps only, with skinny matmuls and one query row per attention workgroup.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { CACHE_DIMS } from '../../src/lower/decode-program.ts';
import { lower } from '../../src/lower/passes.ts';
import { kernelOfStep } from '../../src/lower/step-kernels.ts';
import { CacheInexactError, CachedDecoder } from '../../src/runtime/cached-decoder.ts';
import type { GpuContext } from '../../src/runtime/device.ts';
import { decodeTiles, DEFAULT_KERNEL_LIMITS } from '../../src/wgsl/attention.ts';

const root = join(import.meta.dirname, '..', '..');
const modelOf = (f: string) => checkSource(readFileSync(join(root, 'specs', f), 'utf8'), `specs/${f}`).model!;
const mdl = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8' });

describe('decode programs', () => {
  it('prefill: every step but the host-shifted decoder input, the encoder marked once per source', () => {
    const l = lower(modelOf('translator.mdl'));
    const { prefill, step } = l.decode!;
    const nodes = (ids: number[], steps: { node: string }[]) => ids.map((i) => steps[i].node);
    expect(prefill.program.steps.map((s) => s.node)).toEqual(l.program.steps.filter((s) => s.kind !== 'shift_right').map((s) => s.node));
    expect(nodes(prefill.once, prefill.program.steps)).toEqual(nodes(l.cache.encodeSteps, l.program.steps));
    expect(step.program.steps.map((s) => s.node)).toEqual(nodes(l.cache.decodeSteps, l.program.steps));
    expect(step.once).toEqual([]);
    // The cross-attention K/V, written once, are kept for the decode step; the shifted target is filled by the host.
    for (const id of l.cache.kept) expect(step.program.buffers.find((b) => b.id === id)?.role, id).toBe('kept');
    expect(step.program.buffers.find((b) => b.id === '%dec_in')?.role).toBe('input');
  });

  it('binds each self-attention cache and gives the offsets as cache dims; cross-attention keeps its keys', () => {
    const { step } = lower(modelOf('translator.mdl')).decode!;
    const attention = step.program.steps.filter((s) => s.kind === 'attention');
    const self = attention.filter((s) => s.node.includes('self_attn'));
    const cross = attention.filter((s) => s.node.includes('cross_attn'));
    self.forEach((s, j) => {
      expect(s.bind.k).toBe(`${s.node}#k_cache`);
      expect(step.program.buffers.find((b) => b.id === s.bind.k)!.role).toBe('kv_cache');
      // kv_rows: each batch row's region of the cache is its capacity long, whatever number of keys is in use.
      expect([s.uniforms.lk, s.uniforms.q_offset, s.uniforms.k_offset, s.uniforms.kv_rows].map((w) => ('factors' in w ? w.factors[0].poly : w))).toEqual(
        [CACHE_DIMS.keys(j), CACHE_DIMS.start, CACHE_DIMS.dropped(j), CACHE_DIMS.rows(j)].map((d) => new Map([[d, 1]])),
      );
    });
    for (const s of cross) expect(s.bind.k).toBe(s.node.replace(/attn$/, 'k_proj'));
    expect(step.sites.map((x) => x.cache)).toEqual([0, undefined, 1, undefined]);
  });

  it('the decode step takes skinny matmuls and one-row attention tiles, and bounds the new rows', () => {
    const { step } = lower(modelOf('gpt2-small.mdl')).decode!;
    const kernels = step.program.steps.map((s) => kernelOfStep(s).family);
    expect(kernels.filter((k) => k.startsWith('matmul'))).toEqual(kernels.filter((k) => k.endsWith('_skinny')));
    const a = step.program.steps.find((s) => s.kind === 'attention')!.attention!;
    const tiles = decodeTiles(64, DEFAULT_KERNEL_LIMITS);
    expect(a.tiles).toMatchObject({ q: 1, k: tiles.tileK, lanes: tiles.lanes });
    expect(step.program.dims.find((d) => d.name === 'T')!.bound).toBe(8);
  });

  it('a spec whose cache would be inexact has none, and the cached decoder runs only compiled decode programs', () => {
    const streaming = modelOf('streaming.mdl');
    expect(lower(streaming).decode).toBeUndefined();
    // The decoder is built from the lowered model without touching the device; without decode programs it refuses.
    const gpt2 = modelOf('gpt2-small.mdl');
    const noDevice = undefined as unknown as GpuContext;
    expect(() => new CachedDecoder(noDevice, { ...lower(gpt2), decode: undefined }, gpt2, new Map())).toThrow(CacheInexactError);
    expect(() => new CachedDecoder(noDevice, lower(gpt2), gpt2, new Map())).not.toThrow();
  });

  it('mdl compile writes both programs beside the full pass', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdl-decode-'));
    try {
      const r = mdl('compile', 'specs/gpt2-small.mdl', '-o', join(dir, 'out'));
      expect(r.status, r.stderr).toBe(0);
      const files = readdirSync(join(dir, 'out'));
      expect(files).toEqual(expect.arrayContaining(['manifest.json', 'prefill.manifest.json', 'step.manifest.json', 'step-00-embed_learned_rows.wgsl', 'step-01-matmul_none_bias_pack3_skinny.wgsl']));
      // The prefill runs the full pass's kernels: it names their files rather than writing copies.
      expect(files.filter((f) => f.startsWith('prefill-'))).toEqual([]);
      const prefill = JSON.parse(readFileSync(join(dir, 'out', 'prefill.manifest.json'), 'utf8'));
      for (const k of prefill.kernels) expect(files).toContain(k.file);
      const manifest = JSON.parse(readFileSync(join(dir, 'out', 'step.manifest.json'), 'utf8'));
      const caches = manifest.buffers.filter((b: { role: string }) => b.role === 'kv_cache');
      expect(caches).toHaveLength(24);
      expect(caches[0].bytes).toBe('3072*B*cache.0.rows');
      const attention = manifest.steps.find((s: { kind: string }) => s.kind === 'attention');
      expect(attention.uniforms).toMatchObject({ lq: 'T', lk: 'cache.0.keys', q_offset: 'cache.start', k_offset: 'cache.0.dropped' });
      expect(attention.attention.tiles.q).toBe(1);
      // Each batch row's own window and start position, filled by the host: rows of different lengths in one run.
      const perRow = manifest.buffers.filter((b: { role: string }) => b.role === 'row_positions');
      expect(perRow.map((b: { id: string; bytes: string }) => [b.id, b.bytes])).toEqual([['#rows.start', '4*B'], ...Array.from({ length: 12 }, (_, j) => [`#rows.window.${j}`, '12*B'])]);
      expect(attention.bindings.at(-1)).toMatchObject({ role: 'rowWindow', buffer: '#rows.window.0', access: 'read' });
      const embed = manifest.steps.find((s: { kind: string }) => s.kind === 'embed');
      expect(embed.bindings.at(-1)).toMatchObject({ role: 'rowStart', buffer: '#rows.start' });
      for (const k of manifest.kernels) expect(files).toContain(k.file);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('mdl dump --stage decode prints both programs', () => {
    const r = mdl('dump', 'specs/packed.mdl', '--stage', 'decode');
    expect(r.status, r.stderr).toBe(0);
    const [prefill, step] = r.stdout.split(/\n(?=step:)/);
    expect(prefill).toMatch(/^prefill:\nprogram packed: \d+ launches/);
    // The rate's high word is 10000^(-2/16) in units of 2^-32.
    const rateHi = Math.floor(10000 ** (-2 / 16) * 2 ** 32);
    expect(prefill).toMatch(new RegExp(` rope +x=%decoder\\.layers\\.0\\.self_attn\\.q_proj {2}\\[rows=B\\*T, heads=8, hd=16, rd=16, T=T, start=cache\\.start, rate_lo=\\d+, rate_hi=${rateHi}\\]`));
    expect(step).toMatch(/matmul_none_bias_pack3_skinny/);
    expect(step).toMatch(/k=%decoder\.layers\.0\.self_attn\.attn#k_cache/);
    expect(step).toMatch(/k_offset=cache\.0\.dropped, kv_rows=cache\.0\.rows\]  grid T × 8 × B/);
    expect(step).toMatch(/ rope_rows +x=%decoder\.layers\.0\.self_attn\.q_proj, rowStart=#rows\.start /);
    expect(step).toMatch(/ classify_rows .*rowWindow=#rows\.window\.0 /);
    expect(step).toMatch(/ attention .*rowWindow=#rows\.window\.1 /);
    expect(mdl('dump', 'specs/streaming.mdl', '--stage', 'decode').stdout).toMatch(/^no cached decoding: mask arrived reads the decoder length T/);
  });
});
