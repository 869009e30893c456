// Compiling: the committed generated/ output is current, compilation is deterministic, no buffer grows with
// Lq × Lk, fusion leaves the expected launches per layer, and a failed compile leaves nothing behind.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { lower } from '../../src/lower/passes.ts';

const root = join(import.meta.dirname, '..', '..');
const specs = readdirSync(join(root, 'specs')).filter((f) => f.endsWith('.mdl')).sort();
const modelOf = (f: string) => checkSource(readFileSync(join(root, 'specs', f), 'utf8'), `specs/${f}`).model!;

describe('mdl compile output', () => {
  for (const f of specs) {
    it(`generated/ is up to date for ${f} (run \`npm run gen\`)`, () => {
      const m = modelOf(f);
      const { rendered } = lower(m);
      const dir = join(root, 'generated', m.name);
      expect(readdirSync(dir).sort()).toEqual([...rendered.kernels.map((k) => k.file), 'manifest.json'].sort());
      for (const k of rendered.kernels) expect(readFileSync(join(dir, k.file), 'utf8'), k.file).toBe(k.wgsl.endsWith('\n') ? k.wgsl : `${k.wgsl}\n`);
      expect(readFileSync(join(dir, 'manifest.json'), 'utf8')).toBe(rendered.manifest);
    });

    it(`${f}: no buffer is sized by two sequence lengths (no L×L score or mask tensor)`, () => {
      const m = modelOf(f);
      const seqDims = new Set([...m.dims.values()].filter((d) => d.kind === 'symbolic' && d.name !== 'B').map((d) => d.name));
      const manifest = JSON.parse(lower(m).rendered.manifest) as { buffers: { id: string; bytes: string }[] };
      for (const b of manifest.buffers) {
        for (const term of b.bytes.split(' + ')) {
          const factors = term.split('*').filter((x) => seqDims.has(x));
          expect(factors.length, `${b.id}: ${b.bytes}`).toBeLessThanOrEqual(1);
        }
      }
    });
  }

  it('is deterministic: two compilations give the same bytes', () => {
    for (const f of specs) {
      const a = lower(modelOf(f)).rendered;
      const b = lower(modelOf(f)).rendered;
      expect(b.manifest).toBe(a.manifest);
      expect(b.kernels.map((k) => k.wgsl)).toEqual(a.kernels.map((k) => k.wgsl));
    }
  });

  it('fuses each layer to the expected launches', () => {
    const steps = lower(modelOf('translator.mdl')).program.steps;
    const of = (prefix: string) => steps.filter((s) => s.node.startsWith(prefix)).map((s) => s.kind);
    // pre-norm encoder layer: norm, q, k, v, attention, o_proj + residual, norm, up + gelu, down + residual
    expect(of('%encoder.layers.0.')).toEqual(['norm', 'matmul', 'matmul', 'matmul', 'attention', 'matmul', 'norm', 'matmul', 'matmul']);
    // decoder layer: the same plus cross-attention (norm, q, k, v over the memory, attention, o_proj + residual)
    expect(of('%decoder.layers.0.')).toHaveLength(15);
    expect(steps.filter((s) => s.kind === 'elementwise')).toHaveLength(0);
  });

  it('writes atomically and leaves nothing behind on failure', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdl-compile-'));
    const out = join(dir, 'out');
    const mdl = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8' });
    const ok = mdl('compile', 'specs/packed.mdl', '-o', out);
    expect(ok.status, ok.stderr).toBe(0);
    expect(readdirSync(out)).toContain('manifest.json');
    const bad = join(dir, 'bad.mdl');
    writeFileSync(bad, 'model broken { dim a = 0 }');
    const failed = mdl('compile', bad, '-o', join(dir, 'never'));
    expect(failed.status).toBe(1);
    expect(existsSync(join(dir, 'never'))).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['bad.mdl', 'out']);
  });
});
