// Compile time of a 24-layer decoder (GPT-2 medium's shape): source text → parsed and checked model → IR → fused IR
// → schedule → WGSL and manifest, each stage timed on its own. Stages run in-process exactly as `mdl compile` runs
// them, minus writing the files.

import { pathToFileURL } from 'node:url';
import { checkSource } from '../src/check/check.ts';
import { PASSES, type Lowered } from '../src/lower/passes.ts';
import { median } from '../src/tune/measure.ts';

export const LAYERS = 24;
/** Deep variants of the same spec: compile time must grow linearly with depth. */
export const DEEP_LAYERS = [1000, 3000];

export const SPEC_24 = `// 24 pre-norm decoder layers with GPT-2 medium's dimensions.
model medium24 {
  dim vocab = 50257, d_model = 1024, heads = 16, layers = ${LAYERS}, d_ff = 4096, context = 1024
  dim B, T <= 1024

  input ids: tokens[B, T] pad 50256

  mask causal_lm = causal(align = bottom_right)

  embed tokens: learned(vocab, d_model), positions: learned(context)

  stack decoder x layers on ids (norm = pre layer) {
    attention self heads = heads mask = causal_lm
    ffn d_ff gelu
  }

  output logits = project(decoder, vocab, tied = tokens)
}
`;

export interface CompileTiming {
  /** Median milliseconds per stage, in pipeline order, starting with 'parse + check'. */
  stages: { name: string; ms: number }[];
  totalMs: number;
  launches: number;
  kernels: number;
  wgslBytes: number;
}

/** The benchmark spec with another layer count. */
export function specWithLayers(layers: number): string {
  return SPEC_24.replace(`layers = ${LAYERS}`, `layers = ${layers}`).replace('model medium24', `model medium${layers}`);
}

export function measureCompile(repeats: number, layers = LAYERS): CompileTiming {
  const spec = specWithLayers(layers);
  const samples = new Map<string, number[]>();
  const add = (name: string, ms: number) => (samples.get(name) ?? samples.set(name, []).get(name)!).push(ms);
  let last: Lowered | undefined;
  // One extra, untimed run first: module loading and JIT warm-up are not compile time.
  for (let run = 0; run <= repeats; run++) {
    const timed = run > 0;
    let t0 = performance.now();
    const checked = checkSource(spec, `medium${layers}.mdl`);
    if (!checked.model) throw new Error(`the ${layers}-layer benchmark spec does not check: ${checked.diagnostics.map((d) => d.message).join('; ')}`);
    if (timed) add('parse + check', performance.now() - t0);
    const state: Partial<Lowered> = {};
    for (const pass of PASSES) {
      t0 = performance.now();
      pass.run(state, checked.model, {});
      if (timed) add(pass.name, performance.now() - t0);
    }
    last = state as Lowered;
  }
  const stages = [...samples.entries()].map(([name, ms]) => ({ name, ms: median(ms) }));
  const rendered = last!.rendered;
  return {
    stages,
    totalMs: stages.reduce((s, x) => s + x.ms, 0),
    launches: last!.program.steps.length,
    kernels: rendered.kernels.length,
    wgslBytes: rendered.kernels.reduce((s, k) => s + k.wgsl.length, 0),
  };
}

export interface DeepCompileRow {
  layers: number;
  timing: CompileTiming;
}

/** Compile time of the deep variants (one warm-up and `repeats` timed runs each). */
export function measureDeepCompile(repeats: number, layers = DEEP_LAYERS): DeepCompileRow[] {
  return layers.map((n) => ({ layers: n, timing: measureCompile(repeats, n) }));
}

// `npx tsx bench/compile-time.ts [repeats]` measures compile time alone, without the GPU benchmarks.
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const repeats = Number(process.argv[2] ?? 3);
  for (const layers of [LAYERS, ...DEEP_LAYERS]) {
    const t = measureCompile(layers === LAYERS ? 9 : repeats, layers);
    console.log(`${layers} layers: ${t.totalMs.toFixed(0)} ms (${t.stages.map((s) => `${s.name} ${s.ms.toFixed(0)}`).join(', ')}), ${t.launches} launches`);
  }
}
