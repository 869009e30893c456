// Where a compiled program's time goes: each step timed in a submission of its own (a short one repeated within it,
// the fastest of a few such timings kept), summed by kind. The prefill and training sections report these shares beside their totals.

import type { Program, Step } from '../src/lower/program.ts';
import type { GpuContext } from '../src/runtime/device.ts';
import { timedSubmit } from '../src/runtime/gpu-buffers.ts';
import type { EncodedProgram } from '../src/runtime/program.ts';
import { tileLabel } from '../src/tune/variants.ts';

export interface StepShare {
  kind: string;
  ms: number;
  steps: number;
}

/** A step's kind for the shares: a forward matmul by its tiling, attention by its tiles, a training or optimizer kernel by its name. */
export function stepKind(step: Step): string {
  const k = step.kernel;
  if (k.kind === 'matmul') return `matmul ${k.tiling ?? 'wg32'}`;
  if (step.kind === 'attention') return `attention ${tileLabel(step.attention!.tiles)}`;
  if (k.kind === 'norm' && k.rows) return 'norm rows';
  if (k.kind === 'train' || k.kind === 'optimizer') return k.op.name;
  return step.kind;
}

/**
 * Times every step of `encoded` (a run of `program`) on its own and adds the times into `into` by `kindOf`. The
 * steps' buffers keep whatever the previous launches left, so a program that updates its inputs (the optimizer)
 * changes values, never the work.
 */
export async function profileSteps(gpu: GpuContext, program: Program, encoded: EncodedProgram, kindOf: (s: Step) => string = stepKind, into = new Map<string, StepShare>()): Promise<Map<string, StepShare>> {
  const timeStep = (i: number, count: number) => {
    const encoder = gpu.device.createCommandEncoder();
    for (let n = 0; n < count; n++) encoded.encode(encoder, i);
    return timedSubmit(gpu, encoder, count);
  };
  for (let i = 0; i < encoded.steps; i++) {
    // A short step is repeated within one submission (its buffers' contents change, its work does not), so that the
    // submission's own latency, a few ms on a busy machine, does not count as the step's time.
    // The fastest of three such timings counts: a busy machine only ever adds time.
    let ms = await timeStep(i, 1);
    const count = ms < 20 ? Math.min(20, Math.ceil(60 / Math.max(ms, 1))) : 1;
    for (let t = 0; t < 3; t++) ms = Math.min(ms, await timeStep(i, count));
    const kind = kindOf(program.steps[i]);
    const share = into.get(kind) ?? { kind, ms: 0, steps: 0 };
    share.ms += ms;
    share.steps++;
    into.set(kind, share);
  }
  return into;
}

/** The shares, largest first. */
export function sharesOf(byKind: Map<string, StepShare>): StepShare[] {
  return [...byKind.values()].sort((a, b) => b.ms - a.ms);
}

/** `kind ×steps: percent` for every kind of at least 2% of the total, largest first. */
export function renderShares(profile: StepShare[]): string {
  const total = profile.reduce((a, p) => a + p.ms, 0);
  return profile
    .filter((p) => p.ms / total >= 0.02)
    .map((p) => `${p.kind} ×${p.steps}: ${Math.round((100 * p.ms) / total)}%`)
    .join('; ');
}
