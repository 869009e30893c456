// Measures the attention variants of one kernel signature on the current device and picks the fastest. Every
// variant's output is compared with the generator default's on the same inputs before its time counts: a variant
// that computes something else (a driver bug at an unusual workgroup size, say) is rejected, never chosen. Variants
// are timed round by round, each once per round, so that load on a shared machine falls on all of them alike.

import { TileClass, type MaskEnv, type MaskWgsl } from '../masks/kernel-contract.ts';
import type { BoolExpr } from '../masks/predicate.ts';
import { classifyTiles } from '../masks/tiles.ts';
import { attentionKernelFor, prepareAttention, type PreparedAttention } from '../runtime/attention-run.ts';
import type { GpuContext } from '../runtime/device.ts';
import type { AttentionHeads } from '../wgsl/attention.ts';
import { scoreTableLength, type ScoreModifier } from '../wgsl/score-modifiers.ts';
import { pickFastest, summarize, type Timing } from './measure.ts';
import type { KernelSignature } from './signature.ts';
import { attentionVariants, compileLimits, sameTiles, type TileChoice } from './variants.ts';

export interface TuneSite extends AttentionHeads {
  /** For messages: the attention node or site name. */
  label: string;
  signature: KernelSignature;
  scale?: number;
  mask?: MaskWgsl | null;
  /** The mask's predicate, when known: lets the tuner skip tiles as a real run would. */
  predicate?: BoolExpr;
  modifiers?: readonly ScoreModifier[];
}

export interface TuneProblem {
  batch: number;
  lq: number;
  lk: number;
  /**
   * A decode step: each query row sits after the keys, so every tile is taken FULL (what a causal mask gives a new
   * row against its cache) rather than classified at position 0, where a causal mask would hide all but one key.
   */
  decode?: boolean;
}

export interface VariantResult {
  tiles: TileChoice;
  timing?: Timing;
  /** Largest difference from the default variant's output. */
  maxDiff?: number;
  /** Why the variant was not usable (compile failure, wrong output). */
  rejected?: string;
}

export interface TuneOutcome {
  best: VariantResult & { timing: Timing };
  fallback: VariantResult & { timing: Timing };
  results: VariantResult[];
}

export interface TuneOptions {
  variants?: TileChoice[];
  /** Rounds, each timing every variant once in turn (the median counts); default 3. */
  repeats?: number;
  /** Takes one timed sample of a variant (default: `run()`, one dispatch timed on the host). */
  timer?: VariantTimer;
  /**
   * Rounds go on past `repeats` (up to 5× as many) while a variant's samples sum to less than this many ms
   * (default 200; 0: exactly `repeats` rounds).
   */
  budgetMs?: number;
  /** Outputs may differ from the default's by this much (summation order differs between tile shapes). */
  tolerance?: number;
  /**
   * A variant must beat the default by this factor to be chosen (default 1.05): differences below it are within the
   * run-to-run noise of a busy machine, and the default has the advantage of being what every other adapter runs.
   */
  minGain?: number;
  /** Called for every variant once all are measured (or rejected), in order. */
  onVariant?: (result: VariantResult, index: number, total: number) => void;
}

/**
 * Inputs for masks that read data, when tuning without real data: full lengths, one segment, non-zero tokens. Only
 * the timing depends on them (how many tiles are skipped), and these skip nothing data-dependent: a conservative
 * measurement of the predicate's cost.
 */
export function neutralMaskEnv(mask: MaskWgsl | null | undefined, p: TuneProblem): MaskEnv {
  const env: MaskEnv = { dims: { Lq: p.lq, Lk: p.lk }, data: {}, strides: {} };
  for (const slot of mask?.params ?? []) if (slot.kind === 'dim' && env.dims[slot.name] === undefined) env.dims[slot.name] = Math.max(p.lq, p.lk);
  for (const { input, at } of mask?.inputs ?? []) {
    if (at === 'b') env.data[input] = new Int32Array(p.batch).fill(Math.max(p.lq, p.lk));
    else {
      const stride = Math.max(p.lq, p.lk);
      env.data[input] = new Int32Array(p.batch * stride).fill(1);
      env.strides![input] = stride;
    }
  }
  return env;
}

function seeded(length: number, seed: number): Float32Array {
  const out = new Float32Array(length);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/** What one timed run of a variant took, in ms. The tuner's default dispatches it once; tests inject their own. */
export type VariantTimer = (tiles: TileChoice, run: () => Promise<number>) => Promise<number>;

/** Extra rounds for fast kernels: at most this many times the rounds asked for, until this much was timed. */
const moreRounds = { max: (rounds: number) => rounds * 5, budgetMs: 200 };

export async function tuneSite(gpu: GpuContext, site: TuneSite, problem: TuneProblem, options: TuneOptions = {}): Promise<TuneOutcome> {
  const variants = options.variants ?? attentionVariants(site.headDim, compileLimits(gpu.limits), undefined, gpu.subgroups);
  const tolerance = options.tolerance ?? 1e-4;
  const timer: VariantTimer = options.timer ?? ((_, run) => run());
  const { batch, lq, lk } = problem;
  const q = seeded(batch * lq * site.heads * site.headDim, 11);
  const k = seeded(batch * lk * site.kvHeads * site.headDim, 12);
  const v = seeded(batch * lk * site.kvHeads * site.headDim, 13);
  const env = neutralMaskEnv(site.mask, problem);
  let reference: Float32Array | undefined;
  const results: VariantResult[] = variants.map((tiles) => ({ tiles }));
  const runs: (PreparedAttention | undefined)[] = [];

  try {
    // Every variant is compiled and checked first; its warm-up run is the one whose output is compared.
    for (const [index, tiles] of variants.entries()) {
      const result = results[index];
      try {
        const kernel = attentionKernelFor(gpu, {
          headDim: site.headDim,
          heads: site.heads,
          kvHeads: site.kvHeads,
          scale: site.scale,
          mask: site.mask ?? null,
          modifiers: site.modifiers,
          tiles,
        });
        const tileClasses = problem.decode
          ? new Uint32Array(batch * kernel.tileHeads * Math.ceil(lq / kernel.tileQ) * Math.ceil(lk / kernel.tileK)).fill(TileClass.Full)
          : site.mask && site.predicate
            ? classifyTiles(site.predicate, { batch, heads: site.heads, lq, lk, tileQ: kernel.tileQ, tileK: kernel.tileK }, env)
            : undefined;
        // A relative_bias table of small values stands in for the learned one: the timing does not depend on them.
        const tableLength = scoreTableLength(site.modifiers ?? []);
        const scoreTable = tableLength ? Float32Array.from({ length: tableLength }, (_, i) => ((i * 37) % 11) / 20 - 0.25) : undefined;
        const run = await prepareAttention(gpu, kernel, { batch, lq, lk, q, k, v, maskEnv: env, tileClasses, scoreTable });
        runs[index] = run;
        await run.time();
        const out = await run.output();
        if (!reference) reference = out;
        let worst = 0;
        for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i] - reference[i]));
        result.maxDiff = Number.isNaN(worst) ? Infinity : worst;
        if (!(result.maxDiff <= tolerance)) result.rejected = `output differs from the default's by ${result.maxDiff}`;
      } catch (error) {
        result.rejected = (error as Error).message.split('\n')[0];
      }
    }
    // Then round by round, every usable variant once per round in turn: a burst of load on a shared machine falls on
    // all of them alike instead of on whichever variant happened to be measured during it.
    const samples = variants.map((): number[] => []);
    const rounds = Math.max(1, options.repeats ?? 3);
    const timed = () => runs.flatMap((run, index) => (run && !results[index].rejected ? [index] : []));
    for (let round = 0; round < moreRounds.max(rounds); round++) {
      // Past the rounds asked for, only while some variant's samples add up to less than the budget: a kernel of a
      // millisecond or two is within a scheduler's noise on a busy machine, and more samples are cheap there.
      if (round >= rounds && timed().every((i) => samples[i].reduce((a, b) => a + b, 0) >= (options.budgetMs ?? moreRounds.budgetMs))) break;
      for (const index of timed()) samples[index].push(await timer(variants[index], () => runs[index]!.time()));
    }
    for (const [index, result] of results.entries()) {
      if (samples[index].length) result.timing = summarize(samples[index]);
      options.onVariant?.(result, index, variants.length);
    }
  } finally {
    for (const run of runs) run?.destroy();
  }

  const fallback = results[0];
  if (!fallback?.timing || fallback.rejected) {
    throw new Error(`${site.label}: the default attention variant could not be measured: ${fallback?.rejected ?? 'no result'}`);
  }
  type Timed = VariantResult & { timing: Timing };
  const usable = results.filter((r): r is Timed => !!r.timing && !r.rejected);
  const fallbackTimed = fallback as Timed;
  const best = pickFastest(fallbackTimed, usable, (r) => r.timing.median, options.minGain ?? 1.05);
  return { best, fallback: fallbackTimed, results };
}

/** True when the tuned choice is the generator's default anyway (nothing to gain from the cache entry but a lookup). */
export function isDefaultChoice(outcome: TuneOutcome): boolean {
  return sameTiles(outcome.best.tiles, outcome.fallback.tiles);
}
