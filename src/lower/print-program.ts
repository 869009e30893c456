// The schedule as text (`mdl dump --stage schedule`): one launch a line, with its kernel family, buffers by role,
// uniforms by name and grid as formulas of the dims.

import { formula } from './formula.ts';
import { printWord, type Program } from './program.ts';
import { kernelOfStep } from './step-kernels.ts';

export function printProgram(p: Program): string {
  const out = [`program ${p.model}: ${p.steps.length} launches, ${p.buffers.length} buffers`];
  p.steps.forEach((s, i) => {
    const grid = s.grid.map((g) => formula.print(g)).join(' × ');
    const a = s.kind === 'attention' ? s.attention : undefined;
    const tiles = a ? `  tiles ${a.tiles.q}×${a.tiles.k} ${a.tileFill === 'full' ? 'all FULL' : a.tileFill === 'host' ? 'classified on the host' : 'classified by the step before'}` : '';
    const mask = a?.mask ? `  mask ${a.mask.normalForm}` : '';
    const bind = Object.entries(s.bind).map(([role, id]) => `${role}=${id}`).join(', ');
    const uniforms = Object.entries(s.uniforms).map(([name, w]) => `${name}=${printWord(w)}`).join(', ');
    out.push(`  ${String(i).padStart(3)} ${kernelOfStep(s).family.padEnd(22)} ${bind}  [${uniforms}]  grid ${grid}${mask}${tiles}`);
  });
  return out.join('\n') + '\n';
}
