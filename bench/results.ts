// Everything one benchmark run measured, as the report reads it, and the targets judged from it.

import type { BatchDecodeRow } from './batch-decode.ts';
import type { Timing } from '../src/tune/measure.ts';
import type { BackwardRow } from './attention-backward.ts';
import type { TrainingRow } from './training.ts';
import type { AttentionRow, Comparator } from './attention-suite.ts';
import type { StartupRow } from './cli-startup.ts';
import type { CompileTiming, DeepCompileRow } from './compile-time.ts';
import { attentionFlops } from './data.ts';
import type { DecodeRow } from './decode.ts';
import type { ModelDecodeRow } from './model-decode.ts';
import type { DecodeRunSection } from './decode-report.ts';
import type { MatmulResult, PeakResult } from './roofline.ts';
import type { MatmulTilingsResult } from './matmul-tilings.ts';
import type { AttentionShapesResult } from './attention-shapes.ts';
import type { PrefillResult } from './prefill.ts';
import type { WindowSkipResult } from './window-skip.ts';
import type { ChromiumSection } from './chromium-attention.ts';
import { chromiumRowAt, chromiumSpeedup } from './chromium-report.ts';

export interface RunEnvironment {
  date: string;
  command: string;
  full: boolean;
  /** Comparators ran every mask up to this length, only 'none' above it. */
  allMasksUpTo: number;
  adapter: string;
  software: boolean;
  browserAdapter?: string;
  ortVersion?: string;
  tfjsVersion?: string;
  /** Why a comparator did not run at all. */
  unavailable: Partial<Record<Comparator, string>>;
  node: string;
  cpus: number;
  cpuModel: string;
  loadBefore: number[];
  loadAfter: number[];
  seconds: number;
}

export interface BenchResults {
  env: RunEnvironment;
  peak: PeakResult;
  matmul: MatmulResult;
  attention: AttentionRow[];
  decode: DecodeRow[];
  modelDecode: ModelDecodeRow[];
  compile: CompileTiming;
  /** Absent in results saved before the section existed. */
  startup?: StartupRow[];
  /** The same spec 1000 and 3000 layers deep (absent in results from before it was measured). */
  deepCompile?: DeepCompileRow[];
  /** Attention's backward pass against its forward pass (absent in results from before it was measured). */
  backward?: Section<BackwardRow[]>;
  /** Training steps: mdl on WebGPU, tfjs, the CPU reference (absent in results from before it was measured). */
  training?: Section<TrainingRow[]>;
  /** Batched decoding at B = 1, 4, 16 (absent before it was measured; `--only batch` measures it alone). */
  batchDecode?: BatchDecodeSection;
  /** The matmul tilings vs tfjs (absent before it was measured; `--only matmul` measures it alone). */
  matmulTilings?: MatmulTilingsResult;
  /** The attention kernel's shapes side by side (absent before it was measured; `--only attention-shapes`). */
  attentionShapes?: AttentionShapesResult;
  /** Whole-model prefill with the old kernels and the tuned ones (`--only prefill`). */
  prefill?: Section<PrefillResult>;
  /** window(128) / none at L=1024 per kernel shape, against the tile bound (`--only window`). */
  windowSkip?: WindowSkipResult;
  /** The decode sections' own run and the decode-step tuning behind their split-key columns (`--only decode`). */
  decodeRun?: DecodeRunSection;
  /** mdl's kernels, ORT Web and the unfused path in one Chromium (absent before it was measured; `--only chromium`). */
  chromium?: ChromiumSection;
}

/** A section measured on its own (`npm run bench -- --only NAME`), with the conditions of that run. */
export interface Section<T> {
  rows: T;
  date: string;
  command: string;
  adapter: string;
  loadBefore: number[];
  loadAfter: number[];
  seconds: number;
}

export interface BatchDecodeSection {
  rows: BatchDecodeRow[];
  /** When and where it was measured: `--only batch` measures it apart from the rest of the report. */
  date: string;
  adapter: string;
  loadBefore: number[];
  loadAfter: number[];
}

export function timingOf(row: AttentionRow, who: Comparator): Timing | undefined {
  const o = row.others[who];
  return 'timing' in o ? o.timing : undefined;
}

/** Other's median over the fused kernel's: how many times faster mdl is. */
export function speedup(row: AttentionRow, who: Comparator): number | undefined {
  const t = timingOf(row, who);
  return t && t.median / row.fused.median;
}

export function rowAt(r: BenchResults, length: number, maskId: string): AttentionRow | undefined {
  return r.attention.find((x) => x.length === length && x.mask.id === maskId);
}

export function largestLength(r: BenchResults): number {
  return Math.max(...r.attention.map((x) => x.length));
}

/** The fused kernel's throughput on the unmasked case, counting dense attention FLOPs. */
export function fusedGflops(row: AttentionRow): number {
  return attentionFlops(1, 8, row.length, row.length, 64) / (row.fused.median * 1e6);
}

export interface Target {
  what: string;
  goal: string;
  measured: string;
  met: boolean | undefined;
}

export function judgeTargets(r: BenchResults): Target[] {
  const L = largestLength(r);
  const at = (len: number, id: string) => rowAt(r, len, id);
  const none = at(L, 'none');
  const ratio = (id: string) => {
    const row = at(L, id);
    return row && none ? row.fused.median / none.fused.median : undefined;
  };
  const fmt = (x: number | undefined, digits = 2, suffix = '') => (x === undefined ? 'not measured' : `${x.toFixed(digits)}${suffix}`);
  const targetLength = r.attention.some((x) => x.length === 1024) ? 1024 : L;
  const vsUnfused = at(targetLength, 'none') && speedup(at(targetLength, 'none')!, 'unfused');
  const vsTfjs = at(targetLength, 'none') && speedup(at(targetLength, 'none')!, 'tfjs');
  const share = none ? fusedGflops(none) / r.peak.gflops : undefined;
  const causal = ratio('causal');
  const window = ratio('window');
  // The decode step after a 1024-token prompt over the step after a 64-token one, with the kernel the tuner runs beside the default.
  const step = (position: number) => r.modelDecode.find((d) => d.position === position);
  const stepOf = (d: ModelDecodeRow | undefined) => d?.cachedSplit ?? d?.cached;
  const decodeGrowth = stepOf(step(1024)) && stepOf(step(64)) ? stepOf(step(1024))!.median / stepOf(step(64))!.median : undefined;
  return [
    { what: `fused vs unfused, L=${targetLength}, no mask`, goal: '≥ 3×', measured: fmt(vsUnfused, 2, '×'), met: vsUnfused === undefined ? undefined : vsUnfused >= 3 },
    { what: `fused vs tfjs, L=${targetLength}, no mask`, goal: '≥ 5×', measured: fmt(vsTfjs, 2, '×'), met: vsTfjs === undefined ? undefined : vsTfjs >= 5 },
    { what: `causal / none, L=${L}`, goal: '≤ 0.6', measured: fmt(causal), met: causal === undefined ? undefined : causal <= 0.6 },
    { what: `window(128) / none, L=${L}`, goal: '≤ 0.2', measured: fmt(window), met: window === undefined ? undefined : window <= 0.2 },
    { what: `fused share of arithmetic peak, L=${L}`, goal: '≥ 40%', measured: fmt(share && share * 100, 1, '%'), met: share === undefined ? undefined : share >= 0.4 },
    ...chromiumTargets(r),
    { what: `${24}-layer compile (parse → WGSL)`, goal: '< 100 ms', measured: fmt(r.compile.totalMs, 1, ' ms'), met: r.compile.totalMs < 100 },
    ...windowBoundTargets(r),
    ...(r.prefill?.rows.rows ?? []).map((row) => {
      const x = row.oldMs / row.tunedMs;
      return { what: `whole-model prefill, tuned vs old kernels: ${row.model}`, goal: '≥ 1.5×', measured: fmt(x, 2, '×'), met: x >= 1.5 };
    }),
    { what: `decode step after 1024 / after 64 prompt tokens${step(64)?.cachedSplit ? ' (split-key kernel)' : ''}`, goal: '≤ 1.5×', measured: fmt(decodeGrowth, 2, '×'), met: decodeGrowth === undefined ? undefined : decodeGrowth <= 1.5 },
  ];
}

/** Fused attention against ORT Web and the unfused path, all in one Chromium, at L=1024 (or the longest measured). */
function chromiumTargets(r: BenchResults): Target[] {
  const s = r.chromium;
  const L = s && s.rows.length ? (s.rows.some((x) => x.length === 1024) ? 1024 : Math.max(...s.rows.map((x) => x.length))) : 1024;
  const x = (id: string, who: 'ort' | 'unfused', runtime: 'chromium' | 'node' = 'chromium') => {
    const row = chromiumRowAt(s, L, id);
    return row && chromiumSpeedup(row, who, runtime);
  };
  const target = (what: string, goal: number, v: number | undefined): Target => ({ what, goal: `≥ ${goal}×`, measured: v === undefined ? 'not measured' : `${v.toFixed(2)}×`, met: v === undefined ? undefined : v >= goal });
  return [
    target(`in one Chromium: fused vs ORT Web, L=${L}, no mask`, 1.5, x('none', 'ort')),
    target(`in one Chromium: fused vs ORT Web, L=${L}, causal`, 1.5, x('causal', 'ort')),
    target(`in one Chromium: fused vs unfused, L=${L}, no mask`, 2.5, x('none', 'unfused')),
    target(`in the Chromium run, on Node's Dawn: fused vs unfused, L=${L}, no mask`, 2.5, x('none', 'unfused', 'node')),
  ];
}

/** window(128) / none against the share of tiles not EMPTY, worst over the kernel shapes of the window section. */
function windowBoundTargets(r: BenchResults): Target[] {
  const rows = r.windowSkip?.rows ?? [];
  if (rows.length === 0) return [];
  const over = rows.map((row) => ({ shape: row.shape, x: row.windowMs / row.noneMs / (1 - row.tiles.empty / row.tiles.total) }));
  const worst = over.reduce((a, b) => (b.x > a.x ? b : a));
  return [{ what: `window(128) / none over its tile bound, L=${r.windowSkip!.length}, every kernel shape`, goal: '≤ 1.3×', measured: `${worst.x.toFixed(2)}× (worst: ${worst.shape})`, met: worst.x <= 1.3 }];
}
