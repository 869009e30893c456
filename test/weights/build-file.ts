// Hand-built safetensors files for tests: the header is given as a value or as raw text, the data as raw bytes, so
// files the writer would never produce (bad headers, wrong lengths) can be made on purpose.

export function handBuilt(header: unknown, data: Uint8Array | number[] = [], opts: { declaredLength?: bigint } = {}): Uint8Array {
  const json = typeof header === 'string' ? header : JSON.stringify(header);
  const text = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + text.length + data.length);
  new DataView(out.buffer).setBigUint64(0, opts.declaredLength ?? BigInt(text.length), true);
  out.set(text, 8);
  out.set(data, 8 + text.length);
  return out;
}

/** Little-endian bytes of 16-bit patterns. */
export function u16le(...bits: number[]): number[] {
  return bits.flatMap((b) => [b & 0xff, b >>> 8]);
}

/** Little-endian bytes of f32 values. */
export function f32le(...values: number[]): number[] {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  values.forEach((v, i) => view.setFloat32(4 * i, v, true));
  return [...bytes];
}
