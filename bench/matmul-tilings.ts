// The matmul tilings against tfjs's `matMul` on the same Dawn device: the square N = 512 product and the distinct
// matmul shapes of one training step of the shipped translator (its forward matmuls at 512 padded tokens, the
// `mdl train` default). Every tiling and tfjs are timed round by round (each once per round, in turn), so that load
// on a shared machine falls on all of them alike; the medians are compared. Outputs are checked against an f64
// product first (`tuneMatmul` does both).

import { join } from 'node:path';
import { loadSpec } from '../src/cli/load.ts';
import { buildTrainingIr } from '../src/ir/training.ts';
import { formula, type Formula } from '../src/lower/formula.ts';
import { buildGradGraph } from '../src/lower/grad.ts';
import { lowerTraining } from '../src/lower/train-schedule.ts';
import type { GpuContext } from '../src/runtime/device.ts';
import { median } from '../src/tune/measure.ts';
import { seededValues, tuneMatmul, type MatmulProblem } from '../src/tune/matmul-tuner.ts';
import type { TfjsSession } from './tfjs-attention.ts';

export interface MatmulTilingsRow extends MatmulProblem {
  label: string;
  /** GFLOP/s of each tiling (absent where rejected), and of tfjs `matMul(a, w, false, true)`. */
  gflops: Record<string, number>;
  tfjs?: number;
}

export interface MatmulTilingsResult {
  rounds: number;
  /** The tiling the tuner picks over all rows, and why others were left out. */
  chosen: string;
  rejected: Record<string, string>;
  rows: MatmulTilingsRow[];
  /** 1-minute load average before and after. */
  load: [number, number];
}

/** The distinct (M, N, K) of the translator's training forward matmuls at these dims. */
export function translatorTrainingShapes(dims: Record<string, number>): MatmulProblem[] {
  const path = join(import.meta.dirname, '..', 'specs', 'translator.mdl');
  const { model } = loadSpec(path);
  if (!model) throw new Error(`${path} does not check`);
  const program = lowerTraining(buildGradGraph(buildTrainingIr(model)), model).program;
  const seen = new Map<string, MatmulProblem>();
  for (const step of program.steps) {
    if (step.kind !== 'matmul') continue;
    const at = (name: string) => formula.evaluate(step.uniforms[name] as Formula, dims)!;
    const p = { M: at('M'), N: at('N'), K: at('K') };
    seen.set(`${p.M}x${p.N}x${p.K}`, p);
  }
  return [...seen.values()];
}

/** tfjs `matMul(a, w, false, true)` (w in [N, K], as ours), warmed once; `sample()` times one product. */
async function tfjsMatmul(tfjs: TfjsSession, p: MatmulProblem, seed: number) {
  const { tf } = tfjs;
  const a = tf.tensor2d(seededValues(p.M * p.K, seed), [p.M, p.K]);
  const w = tf.tensor2d(seededValues(p.N * p.K, seed + 1), [p.N, p.K]);
  const once = async () => {
    const t0 = performance.now();
    const out = tf.matMul(a, w, false, true);
    await tfjs.flush();
    const ms = performance.now() - t0;
    out.dispose();
    return ms;
  };
  await once(); // compiles tfjs's program
  return { sample: once, dispose: () => (a.dispose(), w.dispose()) };
}

export async function measureMatmulTilings(gpu: GpuContext, tfjs: TfjsSession | undefined, rounds: number, load: () => number, onStep?: (what: string) => void): Promise<MatmulTilingsResult> {
  const loadBefore = load();
  const problems: (MatmulProblem & { label: string })[] = [
    { label: 'square N=512', M: 512, N: 512, K: 512 },
    ...translatorTrainingShapes({ B: 16, S: 32, T: 32 }).map((p) => ({ ...p, label: 'translator training' })),
  ];
  const rows: MatmulTilingsRow[] = [];
  const rejected: Record<string, string> = {};
  // One problem at a time, so that tfjs's rounds sit beside the tilings' in time.
  const totals = new Map<string, number>();
  for (const [i, p] of problems.entries()) {
    onStep?.(`matmul ${p.M}×${p.N}×${p.K}`);
    const tf = tfjs ? await tfjsMatmul(tfjs, p, 31 + i) : undefined;
    const tfSamples: number[] = [];
    let outcome;
    try {
      outcome = await tuneMatmul(gpu, [p], { rounds, budgetMs: 0, onRound: async () => void (tf && tfSamples.push(await tf.sample())) });
    } finally {
      tf?.dispose();
    }
    const flops = 2 * p.M * p.N * p.K;
    const gflops: Record<string, number> = {};
    for (const r of outcome.results) {
      if (r.rejected) rejected[r.tiling] = r.rejected;
      else {
        gflops[r.tiling] = flops / (r.totalMs! * 1e6);
        totals.set(r.tiling, (totals.get(r.tiling) ?? 0) + r.totalMs!);
      }
    }
    rows.push({ ...p, gflops, ...(tfSamples.length ? { tfjs: flops / (median(tfSamples) * 1e6) } : {}) });
  }
  const usable = [...totals.entries()].filter(([t]) => !rejected[t]);
  const chosen = usable.reduce((x, y) => (y[1] < x[1] ? y : x))[0];
  return { rounds, chosen, rejected, rows, load: [loadBefore, load()] };
}

/** The report's section: GFLOP/s of every tiling and tfjs per shape, and the best tiling's ratio over tfjs. */
export function renderMatmulTilings(m: MatmulTilingsResult | undefined): string[] {
  if (!m) return ['Not measured in this run (`npm run bench -- --only matmul` measures it alone).'];
  const tilings = [...new Set(m.rows.flatMap((r) => Object.keys(r.gflops)))];
  const head = `| shape M×N×K | ${tilings.join(' | ')} | tfjs matMul | best / tfjs | best / wg32 |`;
  const rows = m.rows.map((r) => {
    const best = Math.max(...Object.values(r.gflops));
    const ratio = (x: number | undefined) => (x ? `${(best / x).toFixed(2)}×` : '—');
    return `| ${r.M}×${r.N}×${r.K} (${r.label}) | ${tilings.map((t) => (r.gflops[t] === undefined ? '—' : r.gflops[t].toFixed(3))).join(' | ')} | ${r.tfjs?.toFixed(3) ?? '—'} | ${ratio(r.tfjs)} | ${ratio(r.gflops.wg32)} |`;
  });
  const rejected = Object.entries(m.rejected).map(([t, why]) => `- ${t} rejected: ${why}`);
  return [
    `GFLOP/s of \`out = a · wᵀ\` (w in [N, K], the layout of every linear layer), each tiling of \`src/wgsl/matmul-tilings.ts\` and tfjs's \`matMul(a, w, false, true)\` on the same Dawn device, timed round by round (${m.rounds} rounds, each variant once per round, medians). Translator shapes: the distinct forward matmuls of one \`mdl train\` step of \`specs/translator.mdl\` at 512 padded tokens (its default batch). Every tiling's output was checked against an f64 product first. wg32 is the default kernel (32×32 tiles staged through workgroup memory); the tuner's choice over all rows here: **${m.chosen}**. Load average ${m.load[0].toFixed(1)} before, ${m.load[1].toFixed(1)} after.`,
    '',
    head,
    `|${'---|'.repeat(tilings.length + 4)}`,
    ...rows,
    ...(rejected.length ? ['', ...rejected] : []),
    '',
    "Under a register tiling the training program's backward matmuls (dX = dY · W and dW = dYᵀ · X) are register-blocked too: 16×4 outputs an invocation read as vec4s where the weight's input size is a multiple of 4 (`src/wgsl/matmul-grad.ts`), else the strided kernel's R×4 blocks; under a staged tiling they keep one output an invocation.",
  ];
}
