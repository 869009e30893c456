// A mask as a figure: the grid of visible pairs with its axes (q down, k across, with the dims they run along),
// tick labels, the tile grid with each tile's class, and a legend. The figure is laid out once as a list of
// shapes; the same shapes become the PNG of `mdl mask --out` (through pngjs), an SVG, and the page's canvas
// (through ImageData), so the page and the command draw the same pixels. No Node imports: the browser bundles it.

import { GLYPH_HEIGHT, GLYPH_WIDTH, glyphRow } from './bitmap-font.ts';
import { TileClass } from './kernel-contract.ts';

export interface MaskFigure {
  /** rows[q][k]: whether query q may attend to key k. */
  rows: boolean[][];
  lk: number;
  /** Tile classes of the drawn (batch, head), row-major over query tiles then key tiles. */
  tiles?: { q: number; k: number; classes: Uint32Array };
  /** The first line: the mask's name and normal form. */
  title: string;
  /** Lines under the title: dims, batch row and head, data used. */
  lines?: string[];
  /** What the rows and columns are, e.g. `q: queries along T (Lq = 12)`. */
  queryLabel: string;
  keyLabel: string;
}

type RGB = readonly [number, number, number];
export type Shape =
  | { kind: 'rect'; x: number; y: number; w: number; h: number; color: RGB }
  | { kind: 'frame'; x: number; y: number; w: number; h: number; color: RGB }
  | { kind: 'text'; x: number; y: number; text: string; color: RGB; upward?: boolean };

/** Where the grid lies, so that a pointer position can be turned into (q, k). */
export interface FigureLayout {
  width: number;
  height: number;
  cell: number;
  gridX: number;
  gridY: number;
  lq: number;
  lk: number;
}

export const VISIBLE: RGB = [31, 78, 121];
export const HIDDEN: RGB = [236, 239, 243];
const PAPER: RGB = [255, 255, 255];
const INK: RGB = [29, 39, 51];
const MUTED: RGB = [96, 104, 118];
const GRID_LINE: RGB = [255, 255, 255];
export const CLASS_COLORS: Record<number, RGB> = { [TileClass.Empty]: [140, 140, 140], [TileClass.Partial]: [225, 150, 10], [TileClass.Full]: [30, 150, 70] };
const CLASS_NAMES: Record<number, [string, string]> = { [TileClass.Empty]: ['E', 'EMPTY (skipped)'], [TileClass.Partial]: ['P', 'PARTIAL (tested)'], [TileClass.Full]: ['F', 'FULL (no test)'] };

const PAD = 8;
const LINE = GLYPH_HEIGHT + 3;
const TICK_STEPS = [1, 2, 4, 5, 8, 10, 16, 20, 25, 32, 50, 64, 100, 128, 200, 256, 500, 512, 1000, 1024, 2048, 4096];

/** Pixels per cell: large for small masks, at least 1, so the grid stays within about 1000 pixels. */
export function cellSize(lq: number, lk: number): number {
  return Math.max(1, Math.min(24, Math.floor(1000 / Math.max(lq, lk, 1))));
}

function textWidth(s: string): number {
  return s.length * GLYPH_WIDTH;
}

/** The smallest step whose labels do not overlap at `cell` pixels a position. */
function tickStep(cell: number, labelSize: number): number {
  return TICK_STEPS.find((s) => s * cell >= labelSize + 3) ?? TICK_STEPS[TICK_STEPS.length - 1];
}

/** The figure's shapes, in drawing order, and its layout. */
export function layoutFigure(f: MaskFigure): { layout: FigureLayout; shapes: Shape[] } {
  const lq = f.rows.length;
  const lk = f.lk;
  const cell = cellSize(lq, lk);
  const lines = f.lines ?? [];
  const qTickWidth = textWidth(String(Math.max(0, lq - 1)));
  const gridX = PAD + LINE + qTickWidth + 4;
  const gridY = PAD + (1 + lines.length) * LINE + 6 + 2 * LINE;
  const gridW = lk * cell;
  // The q label runs upward beside the grid; a grid shorter than the label leaves room below it.
  const gridH = Math.max(lq * cell, textWidth(f.queryLabel));
  const shapes: Shape[] = [];
  const text = (x: number, y: number, s: string, color: RGB = INK, upward = false) => shapes.push({ kind: 'text', x, y, text: s, color, upward });

  text(PAD, PAD, f.title);
  lines.forEach((l, i) => text(PAD, PAD + (i + 1) * LINE, l, MUTED));
  text(gridX, gridY - 2 * LINE, f.keyLabel);
  text(PAD, gridY + Math.min(gridH, Math.max(textWidth(f.queryLabel), Math.round((lq * cell + textWidth(f.queryLabel)) / 2))), f.queryLabel, INK, true);

  // Tick labels: every step-th position, and the last one when it fits.
  const kStep = tickStep(cell, textWidth(String(Math.max(0, lk - 1))));
  for (let k = 0; k < lk; k += kStep) {
    const s = String(k);
    text(Math.max(gridX, gridX + k * cell + Math.floor((cell - textWidth(s)) / 2)), gridY - LINE, s, MUTED);
  }
  const qStep = tickStep(cell, GLYPH_HEIGHT);
  for (let q = 0; q < lq; q += qStep) {
    const s = String(q);
    text(gridX - 3 - textWidth(s), gridY + q * cell + Math.floor((cell - GLYPH_HEIGHT) / 2), s, MUTED);
  }

  // The grid: hidden background, one rect per run of visible cells, white lines between cells when they are large.
  shapes.push({ kind: 'rect', x: gridX, y: gridY, w: gridW, h: lq * cell, color: HIDDEN });
  let visible = 0;
  for (let q = 0; q < lq; q++) {
    let k = 0;
    while (k < lk) {
      if (!f.rows[q][k]) {
        k++;
        continue;
      }
      const start = k;
      while (k < lk && f.rows[q][k]) k++;
      visible += k - start;
      shapes.push({ kind: 'rect', x: gridX + start * cell, y: gridY + q * cell, w: (k - start) * cell, h: cell, color: VISIBLE });
    }
  }
  if (cell >= 6) {
    for (let k = 1; k < lk; k++) shapes.push({ kind: 'rect', x: gridX + k * cell, y: gridY, w: 1, h: lq * cell, color: GRID_LINE });
    for (let q = 1; q < lq; q++) shapes.push({ kind: 'rect', x: gridX, y: gridY + q * cell, w: gridW, h: 1, color: GRID_LINE });
  }

  // Tiles: a frame in the class's colour, and the class's letter where the tile is large enough to hold it.
  const counts = new Map<number, number>();
  if (f.tiles) {
    const { q: tq, k: tk, classes } = f.tiles;
    const nKT = Math.ceil(lk / tk);
    const nQT = Math.ceil(lq / tq);
    for (let i = 0; i < nQT * nKT && i < classes.length; i++) {
      const cls = classes[i];
      counts.set(cls, (counts.get(cls) ?? 0) + 1);
      const qt = Math.floor(i / nKT);
      const kt = i % nKT;
      const x = gridX + kt * tk * cell;
      const y = gridY + qt * tq * cell;
      const w = (Math.min(lk, (kt + 1) * tk) - kt * tk) * cell;
      const h = (Math.min(lq, (qt + 1) * tq) - qt * tq) * cell;
      const color = CLASS_COLORS[cls] ?? [255, 0, 0];
      shapes.push({ kind: 'frame', x, y, w, h, color });
      if (w >= GLYPH_WIDTH + 6 && h >= GLYPH_HEIGHT + 4) {
        shapes.push({ kind: 'rect', x: x + 2, y: y + 2, w: GLYPH_WIDTH + 2, h: GLYPH_HEIGHT, color: PAPER });
        text(x + 3, y + 2, CLASS_NAMES[cls]?.[0] ?? '?', color);
      }
    }
  }

  // Legend.
  let y = gridY + gridH + 8;
  let x = PAD;
  const swatch = (color: RGB, label: string, frame = false) => {
    shapes.push(frame ? { kind: 'frame', x, y: y + 1, w: 10, h: 10, color } : { kind: 'rect', x, y: y + 1, w: 10, h: 10, color });
    if (frame) shapes.push({ kind: 'frame', x: x + 1, y: y + 2, w: 8, h: 8, color });
    text(x + 14, y, label);
    x += 14 + textWidth(label) + 12;
  };
  swatch(VISIBLE, 'visible');
  swatch(HIDDEN, 'hidden');
  text(x, y, `${visible} of ${lq * lk} pairs visible`, MUTED);
  let right = x + textWidth(`${visible} of ${lq * lk} pairs visible`);
  if (f.tiles) {
    y += LINE + 2;
    x = PAD;
    const head = `tiles ${f.tiles.q}x${f.tiles.k}:`;
    text(x, y, head);
    x += textWidth(head) + 8;
    for (const cls of [TileClass.Empty, TileClass.Partial, TileClass.Full]) swatch(CLASS_COLORS[cls], `${CLASS_NAMES[cls][0]} ${CLASS_NAMES[cls][1]} ${counts.get(cls) ?? 0}`, true);
    right = Math.max(right, x);
  }
  const width = Math.max(gridX + gridW, right, ...[f.title, ...lines].map((l) => PAD + textWidth(l)), gridX + textWidth(f.keyLabel)) + PAD;
  const height = y + LINE + PAD;
  return { layout: { width, height, cell, gridX, gridY, lq, lk }, shapes };
}

/** The query and key under a point of the figure, or undefined outside the grid. */
export function cellAt(layout: FigureLayout, x: number, y: number): { q: number; k: number } | undefined {
  const k = Math.floor((x - layout.gridX) / layout.cell);
  const q = Math.floor((y - layout.gridY) / layout.cell);
  return q >= 0 && q < layout.lq && k >= 0 && k < layout.lk ? { q, k } : undefined;
}

/** The figure as RGBA pixels (what the PNG holds and what the page puts on its canvas). */
export function figurePixels(f: MaskFigure): { layout: FigureLayout; rgba: Uint8ClampedArray<ArrayBuffer> } {
  const { layout, shapes } = layoutFigure(f);
  const { width, height } = layout;
  const rgba = new Uint8ClampedArray(width * height * 4);
  const put = (x: number, y: number, c: RGB) => {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    const i = (y * width + x) * 4;
    rgba[i] = c[0];
    rgba[i + 1] = c[1];
    rgba[i + 2] = c[2];
    rgba[i + 3] = 255;
  };
  for (let i = 0; i < width * height; i++) put(i % width, Math.floor(i / width), PAPER);
  for (const s of shapes) {
    if (s.kind === 'rect') {
      for (let y = s.y; y < s.y + s.h; y++) for (let x = s.x; x < s.x + s.w; x++) put(x, y, s.color);
    } else if (s.kind === 'frame') {
      for (let x = s.x; x < s.x + s.w; x++) {
        put(x, s.y, s.color);
        put(x, s.y + s.h - 1, s.color);
      }
      for (let y = s.y; y < s.y + s.h; y++) {
        put(s.x, y, s.color);
        put(s.x + s.w - 1, y, s.color);
      }
    } else {
      // Upward text starts at (x, y) as its bottom-left corner and reads from bottom to top.
      [...s.text].forEach((ch, i) => {
        for (let gy = 0; gy < GLYPH_HEIGHT; gy++) {
          const bits = glyphRow(ch, gy);
          for (let gx = 0; gx < GLYPH_WIDTH; gx++) {
            if (!((bits >> gx) & 1)) continue;
            if (s.upward) put(s.x + gy, s.y - i * GLYPH_WIDTH - gx, s.color);
            else put(s.x + i * GLYPH_WIDTH + gx, s.y + gy, s.color);
          }
        }
      });
    }
  }
  return { layout, rgba };
}

/** The figure as SVG, with real text. */
export function figureToSvg(f: MaskFigure): string {
  const { layout, shapes } = layoutFigure(f);
  const rgb = (c: RGB) => `rgb(${c.join(',')})`;
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${layout.width}" height="${layout.height}" viewBox="0 0 ${layout.width} ${layout.height}" font-family="DejaVu Sans Mono, monospace" font-size="11">`];
  out.push(`<title>${escapeXml(f.title)}</title>`);
  out.push(`<rect width="${layout.width}" height="${layout.height}" fill="${rgb(PAPER)}"/>`);
  for (const s of shapes) {
    if (s.kind === 'rect') out.push(`<rect x="${s.x}" y="${s.y}" width="${s.w}" height="${s.h}" fill="${rgb(s.color)}"/>`);
    else if (s.kind === 'frame') out.push(`<rect x="${s.x + 0.5}" y="${s.y + 0.5}" width="${s.w - 1}" height="${s.h - 1}" fill="none" stroke="${rgb(s.color)}" stroke-width="1"/>`);
    else if (s.upward) out.push(`<text transform="translate(${s.x + 9} ${s.y}) rotate(-90)" fill="${rgb(s.color)}">${escapeXml(s.text)}</text>`);
    else out.push(`<text x="${s.x}" y="${s.y + 9}" fill="${rgb(s.color)}">${escapeXml(s.text)}</text>`);
  }
  out.push('</svg>');
  return out.join('\n') + '\n';
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"]/g, (ch) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[ch] as string);
}
