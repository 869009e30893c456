// The lowering pipeline after checking, as one ordered list of named passes. Each pass's result can be printed
// (`mdl dump FILE --stage NAME`), and the IR is verified after every pass that produces IR.

import type { CheckedModel } from '../check/model.ts';
import { buildIr } from '../ir/build.ts';
import type { IrGraph } from '../ir/ir.ts';
import { printIr } from '../ir/print.ts';
import { assertValidIr } from '../ir/verify.ts';
import { fuse } from './fuse.ts';
import { decodePrograms, printDecodePrograms, type DecodePrograms } from './decode-program.ts';
import { planCache, printCachePlan, type CachePlan } from './kv-cache.ts';
import { printProgram } from './print-program.ts';
import type { Program } from './program.ts';
import { render, type Rendered, type RenderedKernel } from './render.ts';
import { schedule, type ScheduleOptions } from './schedule.ts';

export interface Lowered {
  ir: IrGraph;
  fused: IrGraph;
  program: Program;
  rendered: Rendered;
  cache: CachePlan;
  /** The programs generation with a KV cache runs; absent when the cache cannot reproduce a full pass. */
  decode?: DecodePrograms;
}

export interface Pass {
  name: string;
  /** What the pass does, for `mdl dump --help` and the README. */
  about: string;
  run(state: Partial<Lowered>, model: CheckedModel, options: ScheduleOptions): void;
  print(state: Lowered): string;
}

export const PASSES: Pass[] = [
  { name: 'build', about: 'checked model → IR (every layer unrolled)', run: (s, m) => void (s.ir = buildIr(m)), print: (s) => printIr(s.ir) },
  { name: 'verify', about: 'IR invariants: definitions before use, arities, shapes', run: (s) => assertValidIr(s.ir!, 'build'), print: (s) => `${s.ir.nodes.length} nodes verified\n` },
  {
    name: 'fuse',
    about: 'fold activations and residual adds into matmuls, positions into the embedding',
    run: (s) => {
      s.fused = fuse(s.ir!);
      assertValidIr(s.fused, 'fuse');
    },
    print: (s) => printIr(s.fused),
  },
  { name: 'schedule', about: 'IR → kernel launches over buffers sized by formulas of the dims', run: (s, m, o) => void (s.program = schedule(s.fused!, m, o)), print: (s) => printProgram(s.program) },
  {
    name: 'render',
    about: 'kernel launches → WGSL files and a manifest, once every step is checked against its kernel',
    run: (s) => void (s.rendered = render(s.program!)),
    print: (s) => s.rendered.manifest,
  },
  {
    name: 'cache',
    about: 'which steps run once per source and which per new token when decoding with a KV cache',
    run: (s, m) => void (s.cache = planCache(s.program!, s.rendered!, m)),
    print: (s) => printCachePlan(s.cache, s.program),
  },
  {
    name: 'decode',
    about: 'the prefill and decode-step programs of generation with a KV cache, each verified',
    run: (s, _m, o) => void (s.decode = decodePrograms(s.program!, s.cache!, s.rendered!.kernels, o.decodeTiles)),
    print: (s) => printDecodePrograms(s.decode, s.cache),
  },
];

/** Each step's kernel, as rendered. */
export function kernelsOf(r: Rendered): (step: number) => RenderedKernel {
  const byFile = new Map(r.kernels.map((k) => [k.file, k]));
  return (i) => byFile.get(r.stepKernels[i])!;
}

/** Runs every pass; `options` carries per-adapter choices (tuned attention tiles) to the schedule. */
export function lower(model: CheckedModel, options: ScheduleOptions = {}): Lowered {
  const state: Partial<Lowered> = {};
  for (const p of PASSES) p.run(state, model, options);
  return state as Lowered;
}
