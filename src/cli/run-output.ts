// What `mdl run` writes while and after it generates: tokens streamed to stdout as they are produced (text pieces,
// or one JSON line per token with --json), the logits of every step to a .npy or .safetensors file (--logits), and
// Ctrl-C, which ends generation after the step under way and keeps what was generated.

import { writeSafetensors } from '../runtime/safetensors.ts';
import { writeOutputFile } from './output-file.ts';
import { UserError } from './user-error.ts';

/** One generated token as --json reports it. */
export interface TokenEvent {
  step: number;
  id: number;
  /** The text this token completed: '' for a byte that only starts a UTF-8 character, which a later token ends. */
  piece: string;
  /**
   * Natural-log probability of the token under the model's logits at that step, before sampling filters (with
   * --beams, after the repetition penalty, as the beam's score sums it).
   */
  logprob: number;
  /** Milliseconds since generation started. */
  ms: number;
}

/** Splits the decoded text into the pieces each token adds, holding back an unfinished UTF-8 character. */
export class PieceSplitter {
  private shown = '';
  constructor(private readonly decode: (ids: number[]) => string) {}

  /** The text the sequence `ids` adds to what earlier calls returned. */
  next(ids: number[], final = false): string {
    let text = this.decode(ids);
    if (!final) text = text.replace(/\uFFFD+$/, '');
    if (!text.startsWith(this.shown)) return '';
    const piece = text.slice(this.shown.length);
    this.shown = text;
    return piece;
  }
}

/** The format of a logits file, from its name; checked before any work. */
export function logitsFormat(path: string): 'npy' | 'safetensors' {
  if (path.endsWith('.npy')) return 'npy';
  if (path.endsWith('.safetensors')) return 'safetensors';
  throw new UserError(`--logits ${path}: the file name ends with .npy or .safetensors`);
}

/** The rows of every step as one float32 [steps, vocab] tensor, or of another shape ('logits' in a safetensors file). */
export function writeLogits(path: string, rows: Float32Array[], vocab: number, force: boolean, shape = [rows.length, vocab]): void {
  const data = new Float32Array(rows.length * vocab);
  rows.forEach((r, i) => data.set(r, i * vocab));
  const bytes = logitsFormat(path) === 'npy' ? npyFloat32(shape, data) : writeSafetensors({ logits: { shape, data } }, { format: 'pt' });
  writeOutputFile(path, bytes, force);
}

/** A version 1.0 .npy: magic, a header dict padded with spaces to a multiple of 64 bytes, little-endian float32. */
function npyFloat32(shape: number[], data: Float32Array): Uint8Array {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.length * 4);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  const view = new DataView(out.buffer);
  view.setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  for (let i = 0; i < data.length; i++) view.setFloat32(10 + header.length + 4 * i, data[i], true);
  return out;
}

/**
 * Ctrl-C while generating (after `arm`): the first one ends generation after the current step (the flag says it
 * happened) and gives Ctrl-C back its usual effect, so one pressed after it has been seen ends mdl at once.
 * Before `arm` (compiling, building weights), Ctrl-C ends mdl at once, as for any command.
 */
export function catchInterrupt(): { arm: () => void; interrupted: () => boolean; release: () => void } {
  let hit = false;
  const onSigint = () => {
    hit = true;
    process.off('SIGINT', onSigint);
  };
  return { arm: () => process.on('SIGINT', onSigint), interrupted: () => hit, release: () => process.off('SIGINT', onSigint) };
}
