// .npy files for tests, written by hand from the format's description (magic, version 1.0, a header padded with
// spaces to a multiple of 64 bytes and ended by a newline, then little-endian data), independently of the reader.

export function npyBytes(shape: number[], values: ArrayLike<number>, descr: '<f4' | '<f8' | '<f2' | '<i4' = '<f4', opts: { fortran?: boolean } = {}): Uint8Array {
  let header = `{'descr': '${descr}', 'fortran_order': ${opts.fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const unpadded = 10 + header.length + 1;
  header += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const size = descr === '<f8' ? 8 : descr === '<f2' ? 2 : 4;
  const out = new Uint8Array(10 + header.length + values.length * size);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  const view = new DataView(out.buffer);
  view.setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  const start = 10 + header.length;
  for (let i = 0; i < values.length; i++) {
    if (descr === '<f4') view.setFloat32(start + 4 * i, values[i], true);
    else if (descr === '<f8') view.setFloat64(start + 8 * i, values[i], true);
    else if (descr === '<i4') view.setInt32(start + 4 * i, values[i], true);
    else throw new Error('f2 values: write their bits with npyHalfBits');
  }
  return out;
}

/** A float16 .npy from raw 16-bit patterns. */
export function npyHalfBits(shape: number[], bits: number[]): Uint8Array {
  const out = npyBytes(shape, [], '<f2');
  const full = new Uint8Array(out.length + bits.length * 2);
  full.set(out);
  const view = new DataView(full.buffer);
  bits.forEach((b, i) => view.setUint16(out.length + 2 * i, b, true));
  return full;
}
