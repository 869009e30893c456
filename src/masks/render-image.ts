// Mask figures as files: PNG through pngjs from the shared figure's pixels, and SVG with real text. The figure
// itself (axes, dims, legend, tile classes) is laid out in mask-figure.ts, which the browser page draws too.

import { PNG } from 'pngjs';
import { figurePixels, figureToSvg, type MaskFigure } from './mask-figure.ts';

export type { MaskFigure };

export function maskToPng(f: MaskFigure): Buffer {
  const { layout, rgba } = figurePixels(f);
  const png = new PNG({ width: layout.width, height: layout.height });
  png.data.set(rgba);
  return PNG.sync.write(png);
}

export function maskToSvg(f: MaskFigure): string {
  return figureToSvg(f);
}
