// Memory planning, the last part of scheduling: intermediate values whose lifetimes do not overlap share one device
// buffer (a slot). Without it a program holds every activation of every layer at once — for a 12-layer model at
// length 1024 that is hundreds of megabytes where a handful of activations suffice.
//
// A value lives from the first step that writes it to the last step that binds it. Slots are only shared between
// values of the same dtype and the same size formula, so a slot's size is a formula like any buffer's. Graph
// outputs keep buffers of their own, so they survive until read back. Two values bound by one step are both live
// at that step, so they never share a slot, and WebGPU's rule against a writable binding aliasing another binding
// of the same dispatch holds by construction.

import { formula } from './formula.ts';
import { boundBuffers, type Program, type ProgramBuffer, type Slot } from './program.ts';

/** Assigns a slot to every value and device-classified tile buffer (setting `buffers[].slot`); returns the slots. */
export function planMemory(p: Program): Slot[] {
  const first = new Map<string, number>();
  const last = new Map<string, number>();
  p.steps.forEach((s, i) =>
    boundBuffers(s).forEach((id) => {
      if (!first.has(id)) first.set(id, i);
      last.set(id, i);
    }),
  );
  // Tile classes written by a classify step live like values; the others are uploaded by the host before the first
  // step runs, so they keep buffers of their own and take no part in the plan.
  const classified = new Set(p.steps.filter((s) => s.kind === 'classify').map((s) => s.bind.tileClass));
  const planned = (b: ProgramBuffer) => b.role === 'value' || (b.role === 'tile_classes' && classified.has(b.id));
  const outputs = new Set(p.outputs);
  const shareable = (b: ProgramBuffer) => planned(b) && !outputs.has(b.id) && first.has(b.id);
  const slots: Slot[] = [];
  // Per slot: the last step at which its current value is still needed, its sharing key, and whether it holds a
  // graph output (then it is never shared). Kept beside the slots so that each value costs one pass over the few
  // slots, not over every value placed so far.
  const busyUntil: number[] = [];
  const slotKey: string[] = [];
  const holdsOutput: boolean[] = [];
  // Values in the order they come to life; ties (several values first bound by one step) in buffer order.
  const order = p.buffers.filter(planned).sort((a, b) => (first.get(a.id) ?? -1) - (first.get(b.id) ?? -1));
  for (const b of order) {
    const key = keyOf(b);
    const born = first.get(b.id) ?? -1;
    let slot = shareable(b) ? slots.find((s) => slotKey[s.id] === key && busyUntil[s.id] < born && !holdsOutput[s.id]) : undefined;
    if (!slot) {
      slot = { id: slots.length, dtype: b.dtype, elements: b.elements, values: [] };
      slots.push(slot);
      busyUntil.push(-1);
      slotKey.push(key);
      holdsOutput.push(false);
    }
    slot.values.push(b.id);
    if (outputs.has(b.id)) holdsOutput[slot.id] = true;
    busyUntil[slot.id] = shareable(b) ? (last.get(b.id) ?? born) : Infinity;
    b.slot = slot.id;
  }
  return slots;
}

function keyOf(b: { dtype: string; elements: ProgramBuffer['elements'] }): string {
  return `${b.dtype} ${formula.print(b.elements)}`;
}
