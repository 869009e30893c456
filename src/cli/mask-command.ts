// `mdl mask FILE --mask NAME --dims T=12,S=8 …`: draws one mask of a spec, in the terminal and as PNG or SVG.
//
// The mask is drawn on the axes of the attention site that uses it (queries along T and keys along S for a
// cross-attention); a mask no site uses is drawn along the axes of the data it reads at q and at k, or on the axes
// given with --axes (asked for when the data does not settle both). Input data that the mask reads can be given
// on the command line; what is not given gets a stated default (full lengths, one document, no padding).

import type { Command } from 'commander';
import { mkdirSync } from 'node:fs';
import { dirname, extname } from 'node:path';
import type { CheckedModel } from '../check/model.ts';
import { maskToPng, maskToSvg, type MaskFigure } from '../masks/render-image.ts';
import { allMasks, maskView, MaskViewError, type MaskOptions } from '../runtime/mask-view.ts';
import { requireModel } from './load.ts';
import { checkOutputFile, writeOutputFile } from './output-file.ts';
import { UserError } from './user-error.ts';

export function registerMaskCommand(program: Command): void {
  program
    .command('mask')
    .description('draw a mask of a spec in the terminal, and as PNG or SVG with --out')
    .argument('<file>', '.mdl spec file')
    .option('--mask <name>', 'the mask to draw (default: list the masks)')
    .option('--dims <list>', 'symbolic dims, e.g. T=12,S=8')
    .option('--lengths <name=values>', 'per-sequence lengths, one value per batch row, of a lengths input or of a tokens input (the rest is padding): src=5,3', collect, [])
    .option('--segments <name=rows>', 'segment ids, batch rows separated by ";": docs=0,0,1,1;0,1,1,1', collect, [])
    .option('--tokens <name=rows>', 'token ids, batch rows separated by ";": tgt=5,6,0;7,0,0', collect, [])
    .option('--batch <i>', 'batch row to draw', '0')
    .option('--head <j>', 'head to draw', '0')
    .option('--tiles <QxK>', 'tile size for the class overlay, e.g. 4x4')
    .option('--axes <Q,K>', 'the dims queries and keys run along (default: those of the attention site using the mask)')
    .option('--out <file>', 'also write a picture (.png or .svg; an existing file is kept unless --force)')
    .option('--force', 'replace the --out file if it exists')
    .action((file: string, opts: MaskOptions & { out?: string; force?: boolean }) => {
      const { model } = requireModel(file);
      process.stdout.write(drawMask(model, opts));
    });
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

export function drawMask(model: CheckedModel, opts: MaskOptions & { out?: string; force?: boolean }): string {
  if (!opts.mask) return `masks of ${model.name}: ${[...allMasks(model).keys()].join(', ')}\n(draw one with --mask NAME)\n`;
  let view;
  try {
    view = maskView(model, { ...opts, mask: opts.mask });
  } catch (e) {
    throw e instanceof MaskViewError ? new UserError(e.message) : e;
  }
  if (opts.out) writePicture(opts.out, view.figure, opts.force);
  return view.text + (opts.out ? `wrote ${opts.out}\n` : '');
}

function writePicture(path: string, picture: MaskFigure, force = false): void {
  const ext = extname(path).toLowerCase();
  if (ext !== '.png' && ext !== '.svg') throw new UserError(`--out must end in .png or .svg, not '${path}'`);
  const bytes = ext === '.png' ? maskToPng(picture) : maskToSvg(picture);
  // Folders on the way are created; the picture itself goes in place atomically and never over another file.
  try {
    mkdirSync(dirname(path) || '.', { recursive: true });
  } catch (e) {
    throw new UserError(`${path}: cannot create its folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  checkOutputFile(path, force);
  writeOutputFile(path, bytes, force);
}
