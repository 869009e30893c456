// Masks as pictures: PNG (pngjs) and SVG heatmaps with a tile-class overlay. Visible pairs are dark, hidden pairs
// light; each tile gets a tinted border by class (EMPTY grey, PARTIAL amber, FULL green), so a reader sees both the
// mask and the work the kernel skips.

import { PNG } from 'pngjs';
import { TileClass } from './kernel-contract.ts';

export interface Picture {
  rows: boolean[][];
  lk: number;
  tiles?: { q: number; k: number; classes: Uint32Array };
  title?: string;
}

const VISIBLE = [31, 78, 121];
const HIDDEN = [236, 239, 243];
const CLASS_RGB: Record<number, number[]> = { [TileClass.Empty]: [150, 150, 150], [TileClass.Partial]: [230, 160, 20], [TileClass.Full]: [40, 160, 80] };

/** Pixels per cell: large for small masks, at least 1, so the picture stays within about 1200 pixels. */
function cellSize(lq: number, lk: number): number {
  return Math.max(1, Math.min(24, Math.floor(1200 / Math.max(lq, lk, 1))));
}

export function maskToPng(p: Picture): Buffer {
  const lq = p.rows.length;
  const c = cellSize(lq, p.lk);
  const png = new PNG({ width: Math.max(1, p.lk * c), height: Math.max(1, lq * c) });
  const put = (x: number, y: number, rgb: number[]) => {
    const i = (y * png.width + x) * 4;
    png.data[i] = rgb[0];
    png.data[i + 1] = rgb[1];
    png.data[i + 2] = rgb[2];
    png.data[i + 3] = 255;
  };
  for (let q = 0; q < lq; q++) {
    for (let k = 0; k < p.lk; k++) {
      const rgb = p.rows[q][k] ? VISIBLE : HIDDEN;
      for (let y = 0; y < c; y++) for (let x = 0; x < c; x++) put(k * c + x, q * c + y, c >= 4 && (x === 0 || y === 0) ? shade(rgb) : rgb);
    }
  }
  if (p.tiles) {
    const { q: tq, k: tk, classes } = p.tiles;
    const nKT = Math.ceil(p.lk / tk);
    classes.forEach((cls, i) => {
      if (i >= Math.ceil(lq / tq) * nKT) return; // first batch row and head only
      const qt = Math.floor(i / nKT);
      const kt = i % nKT;
      const x0 = kt * tk * c;
      const y0 = qt * tq * c;
      const x1 = Math.min(p.lk, (kt + 1) * tk) * c - 1;
      const y1 = Math.min(lq, (qt + 1) * tq) * c - 1;
      const rgb = CLASS_RGB[cls] ?? [255, 0, 0];
      for (let x = x0; x <= x1; x++) {
        put(x, y0, rgb);
        put(x, y1, rgb);
      }
      for (let y = y0; y <= y1; y++) {
        put(x0, y, rgb);
        put(x1, y, rgb);
      }
    });
  }
  return PNG.sync.write(png);
}

function shade(rgb: number[]): number[] {
  return rgb.map((v) => Math.round(v * 0.85));
}

export function maskToSvg(p: Picture): string {
  const lq = p.rows.length;
  const c = cellSize(lq, p.lk);
  const w = p.lk * c;
  const h = lq * c;
  const rgb = (v: number[]) => `rgb(${v.join(',')})`;
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">`];
  if (p.title) out.push(`<title>${escapeXml(p.title)}</title>`);
  out.push(`<rect width="${w}" height="${h}" fill="${rgb(HIDDEN)}"/>`);
  for (let q = 0; q < lq; q++) {
    // One rect per run of visible cells keeps the file small.
    let k = 0;
    while (k < p.lk) {
      if (!p.rows[q][k]) {
        k++;
        continue;
      }
      const start = k;
      while (k < p.lk && p.rows[q][k]) k++;
      out.push(`<rect x="${start * c}" y="${q * c}" width="${(k - start) * c}" height="${c}" fill="${rgb(VISIBLE)}"/>`);
    }
  }
  if (p.tiles) {
    const { q: tq, k: tk, classes } = p.tiles;
    const nKT = Math.ceil(p.lk / tk);
    const nQT = Math.ceil(lq / tq);
    for (let i = 0; i < nQT * nKT && i < classes.length; i++) {
      const qt = Math.floor(i / nKT);
      const kt = i % nKT;
      const x = kt * tk * c;
      const y = qt * tq * c;
      const tw = (Math.min(p.lk, (kt + 1) * tk) - kt * tk) * c;
      const th = (Math.min(lq, (qt + 1) * tq) - qt * tq) * c;
      out.push(`<rect x="${x + 0.5}" y="${y + 0.5}" width="${tw - 1}" height="${th - 1}" fill="none" stroke="${rgb(CLASS_RGB[classes[i]] ?? [255, 0, 0])}" stroke-width="1"/>`);
    }
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[ch] as string);
}
