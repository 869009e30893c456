// The schedule as text (`mdl dump --stage schedule`): one launch a line, with its kernel family, buffers, uniform
// words and grid as formulas of the dims.

import { formula } from './formula.ts';
import type { Program, Word } from './schedule.ts';

const word = (w: Word) => ('f32' in w ? `${w.f32}f` : formula.print(w));

export function printProgram(p: Program): string {
  const out = [`program ${p.model}: ${p.steps.length} launches, ${p.buffers.length} buffers`];
  p.steps.forEach((s, i) => {
    const grid = s.grid.map((g) => formula.print(g)).join(' × ');
    const a = s.kind === 'attention' ? s.attention : undefined;
    const tiles = a ? `  tiles ${a.tiles.q}×${a.tiles.k} ${a.tileFill === 'full' ? 'all FULL' : a.tileFill === 'host' ? 'classified on the host' : 'classified by the step before'}` : '';
    const mask = a?.mask ? `  mask ${a.mask.normalForm}` : '';
    out.push(`  ${String(i).padStart(3)} ${s.family.padEnd(22)} ${s.buffers.join(', ')}  [${s.words.map(word).join(', ')}]  grid ${grid}${mask}${tiles}`);
  });
  return out.join('\n') + '\n';
}
