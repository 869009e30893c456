// When decoding with a KV cache computes exactly what a full pass over the whole sequence computes, and which keys a
// cache may drop. A full pass recomputes every earlier row with the new keys in view and with the inputs as they are
// now; the cache keeps earlier rows as they were computed. So the cache is exact only while no earlier row can see a
// later key and no lengths a decoder mask reads have changed; a key may leave the cache once no query from the next
// position on can see it. Both questions are answered with the mask's predicate and the tile classifier's intervals.

import type { CheckedModel } from '../check/model.ts';
import type { Lowered } from '../lower/passes.ts';
import type { AttentionSite } from '../lower/program.ts';
import { evalBool } from '../masks/evaluate.ts';
import type { MaskEnv } from '../masks/kernel-contract.ts';
import type { BoolExpr } from '../masks/predicate.ts';
import { readsHead, truthOver } from '../masks/tiles.ts';
import type { RunInputs } from './cpu-interpreter.ts';

/** Decoding with the cache would compute something other than a full pass; the caller should recompute. */
export class CacheInexactError extends Error {}

/**
 * Rows already computed saw the lengths along the decoder axis of their call; a full pass would see the new ones.
 * Only lengths a decoder mask reads matter. `seen` holds the lengths of the first call (filled by it).
 */
export function checkLengthsUnchanged(lowered: Pick<Lowered, 'program' | 'cache'>, model: CheckedModel, run: Omit<RunInputs, 'weights'>, seen: Map<string, number[]>): void {
  const { program: p, cache: plan } = lowered;
  const read = new Set(plan.decodeSteps.flatMap((i) => p.steps[i].attention?.mask?.wgsl.inputs.map((x) => x.input) ?? []));
  for (const input of model.inputs.values()) {
    if (input.kind !== 'lengths' || input.axis !== plan.axis || !read.has(input.name)) continue;
    const now = [...(run.inputs[input.name] ?? [])];
    const before = seen.get(input.name);
    if (!before) seen.set(input.name, now);
    else if (before.join() !== now.join()) throw new CacheInexactError(`lengths ${input.name} changed from ${before.join(',')} to ${now.join(',')} between steps`);
  }
}

/**
 * A full pass recomputes earlier rows with the new keys in view; the cache is exact only if no earlier row sees them.
 * `starts`: each batch row's positions computed so far; `lengths`: its length after this call.
 */
export function checkEarlierRowsUnchanged(sites: readonly { node: string; attention: AttentionSite }[], batch: number, env: MaskEnv, starts: number[], lengths: number[]): void {
  if (starts.every((p) => p === 0)) return;
  for (const { node, attention: a } of sites) {
    if (!a.mask) throw new CacheInexactError(`${node} has no mask, so earlier positions see later ones`);
    const pred = a.mask.predicate;
    for (let b = 0; b < batch; b++) {
      const [P, L] = [starts[b], lengths[b]];
      if (P === 0) continue;
      const full = { ...env, dims: { ...env.dims, Lq: L, Lk: L } };
      for (let h = 0; h < (readsHead(pred) ? a.heads : 1); h++) {
        const box = { b, h, q: { lo: 0, hi: P - 1 }, k: { lo: P, hi: L - 1 } };
        if (truthOver(pred, box, full) === 0) continue;
        for (let q = 0; q < P; q++) {
          for (let k = P; k < L; k++) {
            if (evalBool(pred, { b, h, q, k }, full)) throw new CacheInexactError(`mask ${a.mask.name} lets position ${q} see the later position ${k}`);
          }
        }
      }
    }
  }
}

/**
 * The number of leading keys no query at position P or later (up to the axis bound) can see, at least `dropped`
 * (those already gone): sound, since the tile classifier's intervals only say "hidden" when every pair is.
 */
export function droppableKeys(a: AttentionSite, batch: number, dropped: number, P: number, axisBound: number | undefined, env: MaskEnv): number {
  const pred = a.mask!.predicate;
  const last = Math.max(P, (axisBound ?? 2 ** 30) - 1);
  const hidden = (k0: number) => k0 <= dropped || everyHeadHidden(pred, batch, a.heads, { lo: P, hi: last }, { lo: dropped, hi: k0 - 1 }, env);
  let [lo, hi] = [dropped, P];
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (hidden(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function everyHeadHidden(pred: BoolExpr, batch: number, heads: number, q: { lo: number; hi: number }, k: { lo: number; hi: number }, env: MaskEnv): boolean {
  for (let b = 0; b < batch; b++) {
    for (let h = 0; h < (readsHead(pred) ? heads : 1); h++) if (truthOver(pred, { b, h, q, k }, env) !== 0) return false;
  }
  return true;
}
