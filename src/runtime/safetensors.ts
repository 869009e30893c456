// Reading and writing safetensors files: an 8-byte little-endian header length N, N bytes of UTF-8 JSON describing
// every tensor ({name: {dtype, shape, data_offsets: [begin, end]}}, plus an optional "__metadata__" map of strings),
// then the data, with offsets counted from the start of the data section.
//
// The file may come from anywhere (a download, a user's disk, a browser upload), so nothing in it is trusted: the
// header length is checked against the real size before anything of that size is read, every entry is validated
// before any tensor is allocated, and every problem is a SafetensorsError naming the file — never a crash.
//
// Layout policy (the reference implementation's): tensors must tile the data section exactly — no overlaps, no gaps,
// no trailing bytes. A file that passes here is therefore also accepted by the `safetensors` Python/Rust library.
//
// This module has no Node imports, so the browser can use it on the bytes of a fetched or uploaded file; reading from
// disk without loading the whole file first lives in safetensors-file.ts.

import { f16BitsToF32, f32ToBf16Bits, f32ToF16Bits } from './half-float.ts';

/** dtypes this reader converts to f32. Other dtypes in the format are recognised and rejected by name. */
export type SafetensorsDType = 'F32' | 'F16' | 'BF16';
const DTYPE_SIZE: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2 };
const OTHER_DTYPES = new Set(['F64', 'F8_E4M3', 'F8_E5M2', 'I8', 'I16', 'I32', 'I64', 'U8', 'U16', 'U32', 'U64', 'BOOL']);

/** The largest header accepted, as in the reference implementation: bounds what a hostile length can make us read. */
export const MAX_HEADER_BYTES = 100_000_000;

export class SafetensorsError extends Error {
  constructor(
    readonly source: string,
    readonly problem: string,
  ) {
    super(`${source}: ${problem}`);
    this.name = 'SafetensorsError';
  }
}

/** One tensor's entry in the header; `begin`/`end` are byte offsets from the start of the data section. */
export interface TensorEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** Bytes of JSON after the 8-byte length; the data section starts at 8 + headerLength. */
  headerLength: number;
  dataStart: number;
  /** Sorted by name. */
  tensors: TensorEntry[];
  metadata: Record<string, string>;
}

export interface Tensor {
  /** The dtype stored in the file; `data` is always f32. */
  dtype: SafetensorsDType;
  shape: number[];
  data: Float32Array;
}

export interface SafetensorsFile {
  metadata: Record<string, string>;
  /** In name order. */
  tensors: Map<string, Tensor>;
}

/**
 * Random access to a file's bytes. `read` returns exactly `length` bytes the caller may keep (a fresh copy, not a view
 * of shared memory), or throws when fewer are available.
 */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Uint8Array;
}

export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read(offset, length) {
      if (offset + length > bytes.length) throw new RangeError(`read past the end (${offset + length} > ${bytes.length})`);
      return bytes.slice(offset, offset + length);
    },
  };
}

/** Parses and validates a whole file held in memory. */
export function readSafetensors(bytes: Uint8Array, source = '<bytes>'): SafetensorsFile {
  return readSafetensorsFrom(bytesSource(bytes), source);
}

/**
 * Reads the header, validates it completely, lets `beforeData` look at it (to reject a file by its shapes before
 * reading gigabytes of data), then reads each tensor's bytes once and converts them to f32.
 */
export function readSafetensorsFrom(src: ByteSource, source: string, beforeData?: (h: SafetensorsHeader) => void): SafetensorsFile {
  const header = readSafetensorsHeader(src, source);
  beforeData?.(header);
  const tensors = new Map<string, Tensor>();
  for (const t of header.tensors) {
    const raw = guardedRead(src, header.dataStart + t.begin, t.end - t.begin, source, `the data of tensor '${t.name}'`);
    tensors.set(t.name, { dtype: t.dtype, shape: t.shape, data: decodeTensor(t.dtype, raw, source, t.name) });
  }
  return { metadata: header.metadata, tensors };
}

/** Reads and validates the header only: 8 + N bytes, whatever the file's size. */
function readSafetensorsHeader(src: ByteSource, source: string): SafetensorsHeader {
  const fail = (problem: string): never => {
    throw new SafetensorsError(source, problem);
  };
  if (src.size < 8) fail(`not a safetensors file: ${src.size} bytes, too short for the 8-byte header length`);
  const prefix = guardedRead(src, 0, 8, source, 'the header length');
  const lo = (prefix[0] | (prefix[1] << 8) | (prefix[2] << 16) | (prefix[3] << 24)) >>> 0;
  const hi = (prefix[4] | (prefix[5] << 8) | (prefix[6] << 16) | (prefix[7] << 24)) >>> 0;
  const declared = (BigInt(hi) << 32n) | BigInt(lo);
  const rest = src.size - 8;
  if (declared < 2n) fail(`header length ${declared} is too small (a header is at least '{}', 2 bytes)`);
  if (declared > BigInt(rest)) fail(`header length ${declared} is larger than the ${rest} bytes that follow it (truncated file, or not a safetensors file)`);
  if (declared > BigInt(MAX_HEADER_BYTES)) fail(`header length ${declared} is over the ${MAX_HEADER_BYTES}-byte limit`);
  const headerLength = Number(declared);
  const dataStart = 8 + headerLength;
  const headerBytes = guardedRead(src, 8, headerLength, source, 'the header');

  let text = '';
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    fail('the header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    fail(`the header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(`the header must be a JSON object, not ${describe(json)}`);

  const dataSize = src.size - dataStart;
  let metadata: Record<string, string> = {};
  const tensors: TensorEntry[] = [];
  for (const [name, value] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') metadata = checkMetadata(value, fail);
    else tensors.push(checkEntry(name, value, dataSize, fail));
  }
  checkLayout(tensors, dataSize, fail);
  tensors.sort((a, b) => compareNames(a.name, b.name));
  return { headerLength, dataStart, tensors, metadata };
}

function checkMetadata(value: unknown, fail: (p: string) => never): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`"__metadata__" must be an object of strings, not ${describe(value)}`);
  const entries = Object.entries(value as Record<string, unknown>);
  for (const [k, v] of entries) if (typeof v !== 'string') fail(`"__metadata__" entry '${k}' must be a string, not ${describe(v)}`);
  // fromEntries defines own properties, so even a key named "__proto__" is kept as data.
  return Object.fromEntries(entries) as Record<string, string>;
}

function checkEntry(name: string, value: unknown, dataSize: number, fail: (p: string) => never): TensorEntry {
  const where = `tensor '${name}'`;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${where}: the entry must be an object with dtype, shape and data_offsets, not ${describe(value)}`);
  const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;

  if (typeof dtype !== 'string') fail(`${where}: dtype must be a string, not ${describe(dtype)}`);
  if (!(dtype in DTYPE_SIZE)) {
    if (OTHER_DTYPES.has(dtype as string)) fail(`${where}: dtype ${dtype} is not supported (only F32, F16 and BF16 are)`);
    fail(`${where}: unknown dtype ${JSON.stringify(dtype)} (expected F32, F16 or BF16)`);
  }
  const size = DTYPE_SIZE[dtype as SafetensorsDType];

  if (!Array.isArray(shape)) fail(`${where}: shape must be an array of dimensions, not ${describe(shape)}`);
  for (const d of shape as unknown[]) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) fail(`${where}: shape ${JSON.stringify(shape)} has ${JSON.stringify(d)}, not a non-negative integer`);
  }
  const dims = shape as number[];
  const count = elementCount(dims);
  if (count === undefined) fail(`${where}: shape ${JSON.stringify(dims)} overflows: its element count is not a safe integer`);

  if (!Array.isArray(offsets) || offsets.length !== 2) fail(`${where}: data_offsets must be [begin, end], not ${JSON.stringify(offsets) ?? describe(offsets)}`);
  const [begin, end] = offsets as unknown[];
  for (const o of [begin, end]) {
    if (typeof o !== 'number' || !Number.isSafeInteger(o) || o < 0) fail(`${where}: data_offsets ${JSON.stringify(offsets)} must be non-negative integers`);
  }
  const b = begin as number;
  const e = end as number;
  if (b > e) fail(`${where}: data_offsets [${b}, ${e}] end before they begin`);
  if (e > dataSize) fail(`${where}: data_offsets [${b}, ${e}] reach past the end of the data section (${dataSize} bytes)`);
  // count ≤ 2^53 here, so count * size is exact enough to compare: a huge count can never equal a small span.
  const expected = (count as number) * size;
  if (e - b !== expected) fail(`${where}: data_offsets [${b}, ${e}] hold ${e - b} bytes, but ${dtype} ${JSON.stringify(dims)} needs ${expected}`);
  return { name, dtype: dtype as SafetensorsDType, shape: dims, begin: b, end: e };
}

/** The product of the dims, or undefined when it is not a safe integer (a shape too big for any real file). */
function elementCount(shape: readonly number[]): number | undefined {
  if (shape.includes(0)) return 0;
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return undefined;
  }
  return n;
}

/** The tensors must cover [0, dataSize) exactly, in offset order. */
function checkLayout(tensors: TensorEntry[], dataSize: number, fail: (p: string) => never): void {
  const byOffset = [...tensors].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous: TensorEntry | undefined;
  for (const t of byOffset) {
    if (t.begin < cursor) fail(`tensors '${previous?.name}' [${previous?.begin}, ${previous?.end}] and '${t.name}' [${t.begin}, ${t.end}] overlap`);
    if (t.begin > cursor) fail(`${t.begin - cursor} unused bytes before tensor '${t.name}' at data offset ${cursor} (tensors must be packed without gaps)`);
    cursor = t.end;
    previous = t;
  }
  if (cursor < dataSize) fail(`${dataSize - cursor} bytes of trailing data after the last tensor (tensors must fill the data section exactly)`);
}

/** Converts a tensor's little-endian bytes to f32. */
function decodeTensor(dtype: SafetensorsDType, raw: Uint8Array, source: string, name: string): Float32Array {
  const n = raw.length / DTYPE_SIZE[dtype];
  // `raw` is ours (ByteSource.read returns a fresh copy), so on a little-endian host it can become the tensor as is,
  // with no second buffer of the tensor's size.
  if (dtype === 'F32' && LITTLE_ENDIAN && raw.byteOffset % 4 === 0) return new Float32Array(raw.buffer, raw.byteOffset, n);
  const out = allocate(n, source, name);
  if (dtype === 'F32') {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.length);
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  } else if (dtype === 'F16') {
    for (let i = 0; i < n; i++) out[i] = f16BitsToF32(raw[2 * i] | (raw[2 * i + 1] << 8));
  } else {
    // bf16 is the top half of an f32: write the bits through an integer view of the same (host-order) memory.
    const bits = new Uint32Array(out.buffer);
    for (let i = 0; i < n; i++) bits[i] = ((raw[2 * i] | (raw[2 * i + 1] << 8)) << 16) >>> 0;
  }
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(Uint32Array.of(1).buffer)[0] === 1;

function allocate(n: number, source: string, name: string): Float32Array {
  try {
    return new Float32Array(n);
  } catch {
    throw new SafetensorsError(source, `tensor '${name}' has ${n} elements, more than this runtime can allocate`);
  }
}

/** A read that fails as a SafetensorsError (a file shrinking under us, a source that cannot allocate). */
function guardedRead(src: ByteSource, offset: number, length: number, source: string, what: string): Uint8Array {
  try {
    const bytes = src.read(offset, length);
    if (bytes.length !== length) throw new Error(`got ${bytes.length} of ${length} bytes`);
    return bytes;
  } catch (e) {
    if (e instanceof SafetensorsError) throw e;
    throw new SafetensorsError(source, `cannot read ${what} (${length} bytes at offset ${offset}): ${(e as Error)?.message ?? String(e)}`);
  }
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v === undefined) return 'nothing';
  return `a ${typeof v}`;
}

/** Code-unit order, the same in every locale (localeCompare is not). */
function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------------------------
// Writing

export interface TensorToWrite {
  shape: readonly number[];
  data: Float32Array;
  /** Stored dtype; F16 and BF16 round to nearest even, with overflow to ±inf. Default F32. */
  dtype?: SafetensorsDType;
}

/**
 * Serialises tensors and metadata. The output depends only on the inputs: tensors are sorted by name (code-unit
 * order) in both the header and the data, the JSON is written without whitespace, and the header is padded with
 * spaces so the data section starts at a multiple of 8.
 */
export function writeSafetensors(tensors: Map<string, TensorToWrite> | Record<string, TensorToWrite>, metadata: Record<string, string> = {}): Uint8Array {
  const entries = (tensors instanceof Map ? [...tensors] : Object.entries(tensors)).sort(([a], [b]) => compareNames(a, b));
  const fail = (problem: string): never => {
    throw new SafetensorsError('<writing>', problem);
  };
  // The header is built as text, not with JSON.stringify of an object, because objects put integer-like keys ("0")
  // first whatever the insertion order.
  const parts: string[] = [];
  const metaEntries = Object.entries(metadata).sort(([a], [b]) => compareNames(a, b));
  if (metaEntries.length) {
    for (const [k, v] of metaEntries) if (typeof v !== 'string') fail(`metadata '${k}' must be a string`);
    parts.push(`"__metadata__":{${metaEntries.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`);
  }
  let offset = 0;
  for (const [name, t] of entries) {
    if (name === '__metadata__') fail(`'__metadata__' cannot be a tensor name`);
    const dtype = t.dtype ?? 'F32';
    if (!(dtype in DTYPE_SIZE)) fail(`tensor '${name}': cannot write dtype ${dtype as string}`);
    for (const d of t.shape) if (!Number.isSafeInteger(d) || d < 0) fail(`tensor '${name}': shape ${JSON.stringify(t.shape)} must be non-negative integers`);
    const count = elementCount(t.shape);
    if (count !== t.data.length) fail(`tensor '${name}': shape ${JSON.stringify(t.shape)} has ${count ?? 'too many'} elements but the data has ${t.data.length}`);
    const bytes = t.data.length * DTYPE_SIZE[dtype];
    parts.push(`${JSON.stringify(name)}:{"dtype":"${dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${offset + bytes}]}`);
    offset += bytes;
  }
  const json = new TextEncoder().encode(`{${parts.join(',')}}`);
  const headerLength = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  const view = new DataView(out.buffer);
  view.setUint32(0, headerLength, true);
  view.setUint32(4, 0, true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);

  let at = 8 + headerLength;
  for (const [, t] of entries) {
    if ((t.dtype ?? 'F32') === 'F32') {
      for (let i = 0; i < t.data.length; i++, at += 4) view.setFloat32(at, t.data[i], true);
    } else {
      const half = t.dtype === 'BF16' ? f32ToBf16Bits : f32ToF16Bits;
      for (let i = 0; i < t.data.length; i++, at += 2) view.setUint16(at, half(t.data[i]), true);
    }
  }
  return out;
}
