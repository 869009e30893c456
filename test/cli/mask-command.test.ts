// `mdl mask`: it draws every mask of every shipped spec, its text matches the evaluator, and its pictures show the
// same cells.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { drawMask } from '../../src/cli/mask-command.ts';
import { layoutFigure } from '../../src/masks/mask-figure.ts';

const root = join(import.meta.dirname, '..', '..');
const specs = readdirSync(join(root, 'specs')).filter((f) => f.endsWith('.mdl'));
const load = (f: string) => checkSource(readFileSync(join(root, 'specs', f), 'utf8'), f).model!;
const defaults = { batch: '0', head: '0' };

describe('mdl mask', () => {
  it('draws every mask declared or used in every shipped spec', () => {
    let drawn = 0;
    for (const f of specs) {
      const model = load(f);
      const dims = [...model.dims.values()].filter((d) => d.kind === 'symbolic' && d.name !== 'B').map((d) => `${d.name}=${d.name === 'F' ? 12 : 9}`).join(',');
      const names = drawMask(model, defaults).split('\n')[0].replace(/^masks of \S+: /, '').split(', ');
      for (const name of names) {
        // A mask no site uses and whose data does not fix its axes needs them given.
        const used = model.stacks.some((s) => s.layers.some((l) => l.kind === 'attention' && l.mask?.name === name));
        const axes = used || name === 'packed_docs' ? undefined : name === 'cross_pad' ? 'T,S' : 'T,T';
        const text = drawMask(model, { ...defaults, mask: name, dims, tiles: '4x4', axes });
        expect(text).toContain(`mask ${name} = `);
        expect(text).toMatch(/q *0 {2}[#.|]+/);
        drawn++;
      }
    }
    expect(drawn).toBeGreaterThanOrEqual(30);
  });

  it('draws a non-square cross-attention mask on the site axes, with tile classes', () => {
    const text = drawMask(load('translator.mdl'), { ...defaults, mask: 'memory', dims: 'T=5,S=7', tokens: ['src=4,4,4,0,0,0,0'], tiles: '2x4' });
    expect(text).toContain('queries along T (Lq=5), keys along S (Lk=7)');
    const rows = text.split('\n').filter((l) => /^[q ]\d {2}/.test(l)).map((l) => l.slice(4, 12).split('   ')[0]);
    expect(rows).toEqual(Array(5).fill('###.|...'));
    expect(text).toContain('tiles PE');
  });

  it('builds the decoder input from the target tokens for masks that read it', () => {
    const text = drawMask(load('translator.mdl'), { ...defaults, mask: 'look_back', dims: 'T=4,S=4', tokens: ['tgt=7,8,0,0'] });
    // dec_in = <bos> 7 8 <pad>: the last key is padding.
    const rows = text.split('\n').filter((l) => /^[q ]\d {2}/.test(l)).map((l) => l.slice(4));
    expect(rows).toEqual(['#...', '##..', '###.', '###.']);
  });

  it('writes a PNG with axes, dims, legend and tile classes, whose cells and tiles match the mask', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'mdl-mask-')), 'm.png');
    const r = spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), 'mask', 'specs/mask-zoo.mdl', '--mask', 'look_ahead', '--dims', 'T=4,S=3', '--tiles', '2x2', '--out', out], { cwd: root, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const png = PNG.sync.read(readFileSync(out));
    // Where the grid lies in the figure; what is drawn there is checked against causal's known cells and tiles.
    const { layout } = layoutFigure({ rows: Array.from({ length: 4 }, () => Array(4).fill(false)), lk: 4, tiles: { q: 2, k: 2, classes: new Uint32Array(4) }, title: 'mask look_ahead = causal', lines: ['used by decoder self-attention', 'T = 4, S = 3, B = 1; batch 0, head 0'], queryLabel: 'q: queries along T (Lq = 4)', keyLabel: 'k: keys along T (Lk = 4)' });
    expect([png.width, png.height]).toEqual([layout.width, layout.height]);
    const rgb = (x: number, y: number) => Array.from(png.data.subarray((y * png.width + x) * 4, (y * png.width + x) * 4 + 3));
    const c = layout.cell;
    const centre = (q: number, k: number) => rgb(layout.gridX + k * c + c - 4, layout.gridY + q * c + c - 4);
    const dark = (q: number, k: number) => centre(q, k)[0] < 100;
    expect([0, 1, 2, 3].map((q) => [0, 1, 2, 3].map((k) => dark(q, k)))).toEqual([[true, false, false, false], [true, true, false, false], [true, true, true, false], [true, true, true, true]]);
    // Tile frames by class: the diagonal tiles are PARTIAL (amber), above it EMPTY (grey), below it FULL (green).
    const corner = (qt: number, kt: number) => rgb(layout.gridX + kt * 2 * c, layout.gridY + qt * 2 * c + 2 * c - 1);
    expect([corner(0, 0), corner(0, 1), corner(1, 0), corner(1, 1)]).toEqual([[225, 150, 10], [140, 140, 140], [30, 150, 70], [225, 150, 10]]);
    // Text is drawn: ink above the grid (title, dims, k label), beside it (q label) and below it (legend).
    const inked = (x0: number, y0: number, x1: number, y1: number) => {
      let n = 0;
      for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (rgb(x, y)[0] < 60) n++;
      return n;
    };
    expect(inked(0, 0, png.width, layout.gridY - 16)).toBeGreaterThan(200);
    expect(inked(0, layout.gridY, 20, layout.gridY + 4 * c)).toBeGreaterThan(50);
    expect(inked(0, layout.gridY + 4 * c + 4, png.width, png.height)).toBeGreaterThan(100);
  });

  it('writes an SVG with the same labels, dims, legend and tile classes', () => {
    const out = join(mkdtempSync(join(tmpdir(), 'mdl-mask-')), 'm.svg');
    drawMask(load('mask-zoo.mdl'), { ...defaults, mask: 'sliding', dims: 'T=6,S=6', tiles: '3x3', axes: 'T,T', out });
    const svg = readFileSync(out, 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    for (const text of ['mask sliding = window(4)', 'q: queries along T (Lq = 6)', 'k: keys along T (Lk = 6)', 'T = 6', 'tiles 3x3:', 'E EMPTY (skipped) 1', 'P PARTIAL (tested) 3', 'F FULL (no test) 0', '18 of 36 pairs visible']) {
      expect(svg).toContain(`>${text}<`.replace('>T = 6<', 'T = 6'));
    }
    expect((svg.match(/<rect /g) ?? []).length).toBeGreaterThan(6);
  });

  it('explains bad requests in one line', () => {
    const run = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), 'mask', 'specs/translator.mdl', ...args], { cwd: root, encoding: 'utf8' });
    const noMask = run('--mask', 'nope', '--dims', 'T=4,S=4');
    expect(noMask.status).toBe(1);
    expect(noMask.stderr).toContain("no mask 'nope'");
    const noDims = run('--mask', 'memory');
    expect(noDims.status).toBe(1);
    expect(noDims.stderr).toContain('--dims T=…,S=…');
    const badOut = run('--mask', 'memory', '--dims', 'T=4,S=4', '--out', '/tmp/x.jpg');
    expect(badOut.stderr).toContain('.png or .svg');
  });

  const zoo = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), 'mask', 'specs/mask-zoo.mdl', ...args], { cwd: root, encoding: 'utf8' });
  const oneLine = (r: { status: number | null; stdout: string; stderr: string }) => {
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    return r.stderr.trim();
  };

  it('asks for --axes for a mask no site uses when its data does not fix them, instead of guessing', () => {
    expect(oneLine(zoo('--mask', 'sliding', '--dims', 'S=10'))).toBe(
      "mdl: mask 'sliding' is not used by an attention site and reads no data at q or k, so its axes are unknown: give both with --axes QUERIES,KEYS, e.g. --axes S,S",
    );
    expect(oneLine(zoo('--mask', 'keys_padded', '--dims', 'T=4'))).toContain('reads data only at k (along T), so the axis of its queries is unknown: give both with --axes');
    // With the axes given it draws on them; a mask reading data at q and k is drawn along that data's axes.
    const given = zoo('--mask', 'sliding', '--dims', 'T=3,S=5', '--axes', 'S,T');
    expect(given.status, given.stderr).toBe(0);
    expect(given.stdout).toContain('axes given on the command line; queries along S (Lq=5), keys along T (Lk=3)');
    const docs = zoo('--mask', 'packed_docs', '--dims', 'T=3');
    expect(docs.status, docs.stderr).toBe(0);
    expect(docs.stdout).toContain("not used by an attention site; axes of the data it reads; queries along T (Lq=3), keys along T (Lk=3)");
  });

  it('refuses a head or batch row outside what is drawn, naming the valid range', () => {
    expect(oneLine(zoo('--mask', 'look_ahead', '--dims', 'T=4', '--head', '99'))).toBe("mdl: --head 99 is out of range: the spec's attention site using the mask has 4 heads (heads 0 to 3)");
    expect(oneLine(zoo('--mask', 'look_ahead', '--dims', 'T=4', '--head', '-1'))).toContain('--head -1 is out of range');
    expect(oneLine(zoo('--mask', 'look_ahead', '--dims', 'T=4', '--batch', '5'))).toBe(
      'mdl: --batch 5 is out of range: the data given has 1 batch row (only batch row 0); give data for more rows (--lengths, --segments, --tokens) or --dims B=N',
    );
    expect(oneLine(zoo('--mask', 'keys_padded', '--dims', 'T=3', '--axes', 'T,T', '--lengths', 'tgt=3,2', '--batch', '2'))).toContain('the data given has 2 batch rows (batch rows 0 to 1)');
    expect(oneLine(zoo('--mask', 'look_ahead', '--dims', 'T=4,B=3', '--batch', '3'))).toContain('--dims gives 3 batch rows (batch rows 0 to 2)');
    // Inside the range it draws the row asked for.
    const last = zoo('--mask', 'keys_padded', '--dims', 'T=3', '--axes', 'T,T', '--lengths', 'tgt=3,2', '--batch', '1', '--head', '3');
    expect(last.status, last.stderr).toBe(0);
    expect(last.stdout).toContain('batch 1, head 3');
    expect(last.stdout).toMatch(/q0 {2}##\.\n 1 {2}##\.\n 2 {2}##\./);
  });
});
