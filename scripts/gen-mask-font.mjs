// Writes the glyph rows of src/masks/bitmap-font.ts: DejaVu Sans Mono at 11 px drawn by headless Chromium on a
// 7×12 canvas, one bit a pixel (alpha above 110, or above 20 for a glyph that would be blank). Prints the ROWS array to paste into that file.
// Run: node scripts/gen-mask-font.mjs

import { chromium } from 'playwright-core';

const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
const page = await browser.newPage();
const glyphs = await page.evaluate(() => {
  const W = 7;
  const H = 12;
  const canvas = document.createElement('canvas');
  canvas.width = W;
  canvas.height = H;
  const ctx = canvas.getContext('2d', { willReadFrequently: true });
  const out = [];
  for (let code = 32; code < 127; code++) {
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = '#000';
    ctx.font = '11px "DejaVu Sans Mono"';
    ctx.fillText(String.fromCharCode(code), 0, 9);
    const d = ctx.getImageData(0, 0, W, H).data;
    // The underscore falls between pixel rows at this size: a glyph that comes out blank takes a lower threshold.
    const threshold = (t) => {
      const rows = [];
      for (let y = 0; y < H; y++) {
        let bits = 0;
        for (let x = 0; x < W; x++) if (d[(y * W + x) * 4 + 3] > t) bits |= 1 << x;
        rows.push(bits);
      }
      return rows;
    };
    const rows = threshold(110);
    out.push(code !== 32 && rows.every((r) => r === 0) ? threshold(20) : rows);
  }
  return out;
});
await browser.close();
const hex = glyphs.map((rows) => rows.map((b) => b.toString(16).padStart(2, '0')).join(''));
for (let i = 0; i < hex.length; i += 4) process.stdout.write(`  '${hex.slice(i, i + 4).join('')}',\n`);
