// The schedule as text: one launch a line, with its kernel family, buffers, uniforms and grid as formulas.

import { sym } from '../check/sym.ts';
import type { Count, Program, Word } from './schedule.ts';

export const countText = (n: Count) => (n.per === 1 ? sym.print(n.poly) : `ceil(${sym.print(n.poly)} / ${n.per})`);

const word = (w: Word) => ('f32' in w ? `${w.f32}f` : sym.print(w.poly));

export function printProgram(p: Program): string {
  const out = [`program ${p.model}: ${p.steps.length} launches, ${p.buffers.length} buffers`];
  p.steps.forEach((s, i) => {
    const grid = s.kind === 'attention' ? `ceil(${sym.print(s.grid[0].poly)} / query tile) × ${s.attention!.heads} × ${countText(s.grid[2])}` : s.grid.map(countText).join(' × ');
    const mask = s.attention?.mask ? `  mask ${s.attention.mask.normalForm}${s.attention.mask.wgsl.indexOnly ? '' : ' (tiles classified at dispatch)'}` : '';
    out.push(`  ${String(i).padStart(3)} ${s.family.padEnd(22)} ${s.buffers.join(', ')}  [${s.words.map(word).join(', ')}]  grid ${grid}${mask}`);
  });
  return out.join('\n') + '\n';
}
