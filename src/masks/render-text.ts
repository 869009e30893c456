// Masks as text: one character per (q, k) cell, `#` visible and `.` hidden, with axis labels and optional tile
// boundaries and classes. Used by `mdl mask` in the terminal and by the golden mask files.

import { TileClass } from './kernel-contract.ts';

export interface TextOptions {
  /** Draw tile boundaries every tileQ rows and tileK columns, and a class letter per tile row (E/P/F). */
  tiles?: { q: number; k: number; classes?: Uint32Array };
}

const CLASS_LETTER: Record<number, string> = { [TileClass.Empty]: 'E', [TileClass.Partial]: 'P', [TileClass.Full]: 'F' };

/** `rows[q][k]` → text. Columns are keys (k), rows are queries (q); the header gives k modulo 10. */
export function maskToText(rows: boolean[][], lk: number, opts: TextOptions = {}): string {
  const t = opts.tiles;
  const width = String(Math.max(0, rows.length - 1)).length;
  const cols = (fill: (k: number) => string, sep: string) => {
    let s = '';
    for (let k = 0; k < lk; k++) {
      if (t && k > 0 && k % t.k === 0) s += sep;
      s += fill(k);
    }
    return s;
  };
  const out: string[] = [];
  out.push(`${' '.repeat(width)}  k ${cols((k) => String(k % 10), ' ')}`);
  const nKT = t ? Math.ceil(lk / t.k) : 0;
  rows.forEach((row, q) => {
    if (t && q > 0 && q % t.q === 0) out.push(`${' '.repeat(width + 4)}${cols(() => '-', '+')}`);
    let line = `${q === 0 ? 'q' : ' '}${String(q).padStart(width)}  ${cols((k) => (row[k] ? '#' : '.'), '|')}`;
    if (t?.classes && q % t.q === 0) {
      const qt = q / t.q;
      const letters = Array.from({ length: nKT }, (_, kt) => CLASS_LETTER[t.classes![qt * nKT + kt]] ?? '?').join('');
      line += `   tiles ${letters}`;
    }
    out.push(line.trimEnd());
  });
  return out.join('\n');
}
