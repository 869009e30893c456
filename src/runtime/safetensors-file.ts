// Safetensors on disk (Node only): reading through explicit positioned reads so a large file is read once, header
// first, and never loaded whole before it has been validated. Writing goes through src/cli/output-file.ts (aside,
// then renamed).

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import type { IrGraph } from '../ir/ir.ts';
import { readSafetensorsFrom, SafetensorsError, type ByteSource, type SafetensorsFile, type SafetensorsHeader } from './safetensors.ts';
import { loadWeights } from './weights.ts';

/** fs.readSync reads at most about 2 GiB per call. */
const CHUNK = 1 << 30;

function withFile<T>(path: string, body: (src: ByteSource) => T): T {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new SafetensorsError(path, openProblem(e));
  }
  try {
    const size = fstatSync(fd).size;
    const src: ByteSource = {
      size,
      read(offset, length) {
        const out = new Uint8Array(length);
        let done = 0;
        while (done < length) {
          const n = readSync(fd, out, done, Math.min(CHUNK, length - done), offset + done);
          if (n === 0) throw new Error(`the file ended after ${offset + done} bytes (did it change while being read?)`);
          done += n;
        }
        return out;
      },
    };
    return body(src);
  } finally {
    closeSync(fd);
  }
}

function openProblem(e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'is a directory, not a safetensors file';
  return `cannot open (${code ?? (e as Error).message})`;
}

/** Reads and validates a file; `beforeData` sees the validated header before any tensor data is read. */
export function readSafetensorsFile(path: string, beforeData?: (h: SafetensorsHeader) => void): SafetensorsFile {
  return withFile(path, (src) => readSafetensorsFrom(src, path, beforeData));
}

/** Weights for a graph from a file, by parameter name; shapes are checked before the data is read. */
export function loadWeightsFile(path: string, ir: IrGraph): Map<string, Float32Array> {
  return withFile(path, (src) => loadWeights(src, ir, path));
}

