// Compiling: the committed generated/ output is current, compilation is deterministic, no buffer grows with
// Lq × Lk, fusion leaves the expected launches per layer, and a failed compile leaves nothing behind.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { sym, type Poly } from '../../src/check/sym.ts';
import { formula } from '../../src/lower/formula.ts';
import { lower } from '../../src/lower/passes.ts';
import { compiledTrainingPrograms } from '../../src/lower/training-programs.ts';
import { compiledFiles } from '../../src/lower/write-output.ts';
import { packStepUniforms } from '../../src/lower/program.ts';
import { attentionKernelOf, kernelOfStep } from '../../src/lower/step-kernels.ts';
import { attentionGrid, attentionParams } from '../../src/wgsl/attention.ts';
import { packUniforms } from '../../src/wgsl/kernel.ts';

const root = join(import.meta.dirname, '..', '..');
const specs = readdirSync(join(root, 'specs')).filter((f) => f.endsWith('.mdl')).sort();
const modelOf = (f: string) => checkSource(readFileSync(join(root, 'specs', f), 'utf8'), `specs/${f}`).model!;

describe('mdl compile output', () => {
  for (const f of specs) {
    it(`generated/ is up to date for ${f} (run \`npm run gen\`)`, () => {
      const m = modelOf(f);
      const lowered = lower(m);
      const files = compiledFiles(lowered, compiledTrainingPrograms(m, lowered));
      const dir = join(root, 'generated', m.name);
      expect(readdirSync(dir).sort()).toEqual(files.map((f) => f.file).sort());
      for (const f of files) expect(readFileSync(join(dir, f.file), 'utf8'), f.file).toBe(f.text);
    });

    it(`${f}: no buffer of the full pass or the training, evaluation and optimizer programs is sized by two sequence lengths (no L×L score or mask tensor)`, () => {
      const m = modelOf(f);
      // Every symbolic dim but the batch is a length; all of them grow together.
      const lengths = [...m.dims.values()].filter((d) => d.kind === 'symbolic' && d.name !== 'B').map((d) => d.name);
      expect(lengths.length).toBeGreaterThan(0);
      const B = 2;
      const dimsAt = (L: number) => Object.fromEntries([['B', B], ...lengths.map((n) => [n, L])]);
      const [L, L2] = [4096, 8192];
      let growing = 0;
      const lowered = lower(m);
      const training = compiledTrainingPrograms(m, lowered);
      if (m.loss) expect(training.map((p) => p.name)).toEqual(['train', 'eval', 'accumulate', 'optimizer']);
      const programs = [lowered.program, ...training.map((p) => p.program)];
      for (const b of programs.flatMap((p) => p.buffers)) {
        const [small, large] = [formula.evaluate(b.elements, dimsAt(L)), formula.evaluate(b.elements, dimsAt(L2))];
        expect(small, `${b.id}: ${formula.print(b.elements)}`).toBeGreaterThan(0);
        if (large! > small!) growing++;
        if (b.role === 'tile_classes') {
          // One word per tile of query and key rows: quadratic in the lengths, but at least 64 pairs share a word.
          expect(large!, b.id).toBeLessThanOrEqual(4 * small!);
          expect(small! * 64, b.id).toBeLessThanOrEqual(B * L * L);
        } else {
          expect(large!, `${b.id}: ${formula.print(b.elements)} grows faster than the lengths`).toBeLessThanOrEqual(2 * small!);
        }
      }
      expect(growing).toBeGreaterThan(0);
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
    const kindsOf = (spec: string) => {
      const steps = lower(modelOf(spec)).program.steps;
      return (prefix: string) => steps.filter((s) => s.node.startsWith(prefix)).map((s) => s.kind);
    };
    const translator = kindsOf('translator.mdl');
    // Pre-norm encoder layer: 7 kernels — norm, q/k/v packed into one matmul, attention, o_proj + residual, norm,
    // up + gelu, down + residual — plus one tile classification, since key_padding(src) reads data.
    expect(translator('%encoder.layers.0.')).toEqual(['norm', 'matmul', 'classify', 'attention', 'matmul', 'norm', 'matmul', 'matmul']);
    // Decoder layer: 12 kernels — self-attention as above (4), cross-attention with q alone and k/v packed over the
    // memory (5), the FFN (3) — plus a classification for each of its two data-dependent masks.
    expect(translator('%decoder.layers.0.')).toEqual([
      ...['norm', 'matmul', 'classify', 'attention', 'matmul'],
      ...['norm', 'matmul', 'matmul', 'classify', 'attention', 'matmul'],
      ...['norm', 'matmul', 'matmul'],
    ]);
    // GPT-2 style pre-norm decoder layer with a causal mask: 7 kernels, tiles classified on the host.
    expect(kindsOf('gpt2-small.mdl')('%decoder.layers.0.')).toEqual(['norm', 'matmul', 'attention', 'matmul', 'norm', 'matmul', 'matmul']);
    // Rotary, RMS norm and SwiGLU: rope rotates q and k in place; gate, up and their product stay three launches.
    expect(kindsOf('packed.mdl')('%decoder.layers.0.')).toEqual(['norm', 'matmul', 'rope', 'rope', 'classify', 'attention', 'matmul', 'norm', 'matmul', 'matmul', 'elementwise', 'matmul']);
    for (const f of specs) expect(lower(modelOf(f)).program.steps.filter((s) => s.kernel.kind === 'elementwise' && s.kernel.op !== 'swiglu'), f).toEqual([]);
  });

  it("gives attention and tile classification the kernels' own uniform blocks, grids and buffer sizes", () => {
    for (const spec of ['translator.mdl', 'packed.mdl', 'streaming.mdl']) {
      const { program } = lower(modelOf(spec));
      const dims = { B: 3, S: 45, T: 17, F: 70 };
      const value = (p: Poly) => sym.evaluate(p, dims)!;
      for (const s of program.steps.filter((x) => x.kind === 'attention')) {
        const a = s.attention!;
        const kernel = attentionKernelOf(s);
        const [batch, lq, lk] = [value(a.batch), value(a.lq), value(a.lk)];
        const grid = attentionGrid(kernel, batch, lq, lk);
        const size = (f: Parameters<typeof formula.evaluate>[0]) => formula.evaluate(f, dims)!;
        expect([...packStepUniforms(s, kernel.uniforms, size)]).toEqual([...attentionParams(kernel, grid, lq, lk)]);
        expect(s.grid.map((g) => formula.evaluate(g, dims))).toEqual(grid.dispatch);
        const tiles = program.buffers.find((b) => b.id === s.bind.tileClass)!;
        expect(formula.evaluate(tiles.elements, dims)).toBe(grid.tileClassCount);
        const classify = program.steps.find((x) => x.kind === 'classify' && x.bind.tileClass === tiles.id);
        if (classify) {
          const want = { lq, lk, n_q_tiles: grid.qTiles, n_k_tiles: grid.kTiles, tile_q: kernel.tileQ, tile_k: kernel.tileK, heads: kernel.tileHeads, total: grid.tileClassCount, q_offset: 0, k_offset: 0 };
          const fields = kernelOfStep(classify).uniforms;
          expect([...packStepUniforms(classify, fields, size)]).toEqual([...packUniforms(fields, want)]);
        }
      }
    }
  });

  it('writes atomically, byte for byte the same each time, and leaves nothing behind on failure', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdl-compile-'));
    const out = join(dir, 'out');
    const mdl = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8' });
    const ok = mdl('compile', 'specs/packed.mdl', '-o', out);
    expect(ok.status, ok.stderr).toBe(0);
    expect(readdirSync(out)).toContain('manifest.json');
    // Compiling again, into the default generated/<model name> of another working directory, gives the same bytes.
    const again = spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), 'compile', join(root, 'specs', 'packed.mdl')], { cwd: dir, encoding: 'utf8' });
    expect(again.status, again.stderr).toBe(0);
    const second = join(dir, 'generated', 'packed');
    expect(readdirSync(second)).toEqual(readdirSync(out));
    for (const file of readdirSync(out)) expect(readFileSync(join(second, file)).equals(readFileSync(join(out, file))), file).toBe(true);
    rmSync(join(dir, 'generated'), { recursive: true });
    const bad = join(dir, 'bad.mdl');
    writeFileSync(bad, 'model broken { dim a = 0 }');
    const failed = mdl('compile', bad, '-o', join(dir, 'never'));
    expect(failed.status).toBe(1);
    expect(existsSync(join(dir, 'never'))).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['bad.mdl', 'out']);
  });
});
