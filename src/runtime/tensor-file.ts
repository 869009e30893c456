// One real-valued tensor from a file (Node only): a NumPy `.npy` array or one tensor of a safetensors file, as f32.
// `mdl run --features NAME=FILE` reads a model's features input this way.
//
// `.npy` (format versions 1–3): the magic `\x93NUMPY`, a version, a little-endian header length, a Python-literal
// header `{'descr': '<f4', 'fortran_order': False, 'shape': (F, W), }`, then the data in C order. Little-endian f2,
// f4 and f8 are read; anything else (integers, big-endian, Fortran order, object arrays) is refused by name.

import { readFileSync } from 'node:fs';
import { f16BitsToF32 } from './half-float.ts';
import { readSafetensorsFile } from './safetensors-file.ts';

export class TensorFileError extends Error {
  constructor(
    readonly source: string,
    problem: string,
  ) {
    super(`${source}: ${problem}`);
    this.name = 'TensorFileError';
  }
}

export interface LoadedTensor {
  shape: number[];
  data: Float32Array;
}

/** Reads a `.npy` file, or the tensor `name` (or the only tensor) of a `.safetensors` file. */
export function readTensorFile(path: string, name: string): LoadedTensor {
  if (path.endsWith('.safetensors')) {
    const file = readSafetensorsFile(path);
    const t = file.tensors.get(name) ?? (file.tensors.size === 1 ? [...file.tensors.values()][0] : undefined);
    if (!t) throw new TensorFileError(path, `holds ${file.tensors.size} tensors and none is named '${name}'`);
    return { shape: [...t.shape], data: t.data };
  }
  if (!path.endsWith('.npy')) throw new TensorFileError(path, 'give a .npy or .safetensors file');
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new TensorFileError(path, code === 'ENOENT' ? 'no such file' : `cannot read (${code ?? (e as Error).message})`);
  }
  return parseNpy(bytes, path);
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ITEM: Record<string, number> = { '<f2': 2, '<f4': 4, '<f8': 8 };

export function parseNpy(bytes: Uint8Array, source: string): LoadedTensor {
  const bad = (problem: string): never => {
    throw new TensorFileError(source, problem);
  };
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) bad('not a .npy file (no \\x93NUMPY magic)');
  const major = bytes[6];
  if (major < 1 || major > 3) bad(`unknown .npy format version ${major}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const [headerLength, start] = major === 1 ? [view.getUint16(8, true), 10] : [bytes.length >= 12 ? view.getUint32(8, true) : -1, 12];
  if (headerLength < 0 || start + headerLength > bytes.length) bad('the header runs past the end of the file');
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) bad('the header lacks descr, fortran_order or shape');
  const item = ITEM[descr!];
  if (!item) bad(`dtype '${descr}' is not supported; save little-endian float16, float32 or float64 ('<f2', '<f4', '<f8')`);
  if (fortran === 'True') bad('the array is in Fortran order; save it in C order (numpy.ascontiguousarray)');
  const shape = shapeText!
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => (/^\d+$/.test(s) ? Number(s) : bad(`bad shape (${shapeText})`)));
  const count = shape.reduce((a, b) => a * b, 1);
  const dataStart = start + headerLength;
  if (bytes.length - dataStart !== count * item) bad(`shape (${shape.join(', ')}) needs ${count * item} data bytes, the file has ${bytes.length - dataStart}`);
  const data = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    const at = dataStart + i * item;
    data[i] = item === 4 ? view.getFloat32(at, true) : item === 8 ? view.getFloat64(at, true) : f16BitsToF32(view.getUint16(at, true));
  }
  return { shape, data };
}
