// A tiny BART-shaped encoder-decoder whose stacks each learn their own position table (offset by 2), shared by the
// CPU and WebGPU tests of per-stack positions.

export const STACK_POSITIONS_SPEC = `model tiny_bart {
  dim vocab = 40, d_model = 16, heads = 2, d_ff = 24
  dim B, S <= 10, T <= 9
  input src: tokens[B, S] pad 1
  input tgt: tokens[B, T] pad 1 bos 2 eos 2
  decoder_input dec_in = shift_right(tgt, bos = 2, eos = 2)
  embed tokens: learned(vocab, d_model, scale = 1), positions: none
  stack encoder x 2 on src (norm = post layer, embed_norm = layer, positions = learned(12, offset = 2)) {
    attention self heads = heads mask = key_padding(src)
    ffn d_ff gelu_erf
  }
  stack decoder x 2 on dec_in (norm = post layer, embed_norm = layer, positions = learned(13, offset = 2)) {
    attention self heads = heads mask = causal & key_padding(dec_in)
    attention cross memory = encoder heads = heads mask = key_padding(src)
    ffn d_ff gelu_erf
  }
  output logits = project(decoder, vocab, tied = tokens, bias = true)
  loss xent = cross_entropy(logits, labels = tgt)
}`;
