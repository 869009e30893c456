// The loss curves `mdl train` writes beside its checkpoint: train loss per step and eval loss where it was measured,
// on shared axes, as a small self-contained SVG. The first line marks the file as mdl's, so a later run may replace
// it and nothing else.

import { existsSync, readFileSync } from 'node:fs';
import { writeOutputFile } from './output-file.ts';
import { UserError } from './user-error.ts';

export const SVG_MARK = '<!-- mdl train: loss curves -->';

export type Curve = [step: number, loss: number][];

export function svgPath(weightsPath: string): string {
  return weightsPath.replace(/(\.safetensors)?$/, '.loss.svg');
}

export function checkSvgTarget(path: string): void {
  if (existsSync(path) && !readFileSync(path, 'utf8').startsWith(SVG_MARK)) throw new UserError(`${path}: already exists and is not a loss curve mdl wrote; mdl leaves it as it is (choose another -o)`);
}

export function lossCurvesSvg(title: string, train: Curve, evals: Curve): string {
  const W = 640;
  const H = 360;
  const left = 56;
  const right = 16;
  const top = 32;
  const bottom = 40;
  const all = [...train, ...evals];
  const maxStep = Math.max(1, ...all.map(([s]) => s));
  const finite = all.map(([, l]) => l).filter(Number.isFinite);
  const hi = Math.max(1e-9, ...finite);
  const lo = Math.min(hi, ...finite, 0);
  const x = (s: number) => (left + (s / maxStep) * (W - left - right)).toFixed(1);
  const y = (l: number) => (top + (1 - (l - lo) / (hi - lo || 1)) * (H - top - bottom)).toFixed(1);
  const line = (c: Curve, colour: string) => (c.length ? `<polyline fill="none" stroke="${colour}" stroke-width="1.5" points="${c.map(([s, l]) => `${x(s)},${y(l)}`).join(' ')}"/>` : '');
  const dots = evals.map(([s, l]) => `<circle cx="${x(s)}" cy="${y(l)}" r="3" fill="#d62728"/>`).join('');
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const ticks = [0, 0.5, 1].map((f) => {
    const l = lo + f * (hi - lo);
    return `<text x="${left - 6}" y="${y(l)}" text-anchor="end" dominant-baseline="middle">${l.toFixed(2)}</text>`;
  });
  return [
    SVG_MARK,
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="13">${esc(title)}</text>`,
    `<line x1="${left}" y1="${H - bottom}" x2="${W - right}" y2="${H - bottom}" stroke="black"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${H - bottom}" stroke="black"/>`,
    ...ticks,
    `<text x="${left}" y="${H - bottom + 16}">0</text>`,
    `<text x="${W - right}" y="${H - bottom + 16}" text-anchor="end">step ${maxStep}</text>`,
    line(train, '#1f77b4'),
    line(evals, '#d62728'),
    dots,
    `<text x="${W - right}" y="${top}" text-anchor="end" fill="#1f77b4">train loss</text>`,
    evals.length ? `<text x="${W - right}" y="${top + 14}" text-anchor="end" fill="#d62728">eval loss</text>` : '',
    '</svg>',
    '',
  ].join('\n');
}

export function writeLossCurves(path: string, svg: string): void {
  checkSvgTarget(path);
  writeOutputFile(path, svg, true);
}
