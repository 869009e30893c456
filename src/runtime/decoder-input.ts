// Building the decoder input from the target on the CPU: the same rule as the `shift_right` IR node.
//
// Teacher forcing feeds the decoder the target shifted right by one with the start token in front:
//   target  I like to eat apples <eos> <pad>
//   input   <bos> I like to eat apples <eos>
// With `eos` given, end tokens are not fed to the decoder (they become padding), since nothing is predicted after them.

export function shiftRight(target: Int32Array, batch: number, length: number, opts: { bos: number; pad: number; eos?: number }): Int32Array {
  const out = new Int32Array(batch * length);
  for (let b = 0; b < batch; b++) {
    const row = b * length;
    out[row] = opts.bos;
    for (let t = 1; t < length; t++) {
      const prev = target[row + t - 1];
      // Padding stays padding: a shifted pad must not become a real token.
      out[row + t] = prev === opts.pad || (opts.eos !== undefined && prev === opts.eos) ? opts.pad : prev;
    }
  }
  return out;
}
