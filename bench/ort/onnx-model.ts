// A one-node ONNX model — `com.microsoft` MultiHeadAttention — written directly as protobuf bytes. Only the handful
// of ModelProto fields the graph needs are encoded, which keeps the benchmark free of an ONNX toolchain and of any
// download at run time. Field numbers follow onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto,
// ValueInfoProto, TypeProto).

/** Protobuf wire writer: just varints and length-delimited fields, which is all ONNX's message tree uses here. */
class Proto {
  private readonly bytes: number[] = [];

  private varint(value: number): void {
    // Values here are small non-negative integers (field tags, dims, enum values); plain arithmetic keeps them exact.
    let v = value;
    while (v >= 0x80) {
      this.bytes.push((v % 0x80) | 0x80);
      v = Math.floor(v / 0x80);
    }
    this.bytes.push(v);
  }

  int(field: number, value: number): this {
    this.varint(field * 8);
    this.varint(value);
    return this;
  }

  float(field: number, value: number): this {
    this.varint(field * 8 + 5);
    const b = new Uint8Array(new Float32Array([value]).buffer);
    this.bytes.push(...b);
    return this;
  }

  raw(field: number, payload: Uint8Array): this {
    this.varint(field * 8 + 2);
    this.varint(payload.length);
    for (const b of payload) this.bytes.push(b);
    return this;
  }

  string(field: number, text: string): this {
    return this.raw(field, new TextEncoder().encode(text));
  }

  message(field: number, inner: Proto): this {
    return this.raw(field, inner.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}

const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR_FLOAT = 1;
const ATTR_INT = 2;

function tensorValue(name: string, dims: number[]): Proto {
  const shape = new Proto();
  for (const d of dims) shape.message(1, new Proto().int(1, d));
  const tensorType = new Proto().int(1, FLOAT).message(2, shape);
  return new Proto().string(1, name).message(2, new Proto().message(1, tensorType));
}

export interface MhaModelShape {
  batch: number;
  lq: number;
  lk: number;
  heads: number;
  headDim: number;
  /** Add an `attention_bias` input [1, 1, Lq, Lk]: the mask as 0 / large-negative additive scores. */
  withBias: boolean;
}

/**
 * The model: query [B, Lq, H·D], key and value [B, Lk, H·D] (the same memory layout as mdl's [B, L, H, D]),
 * optional attention_bias, output [B, Lq, H·D]. MultiHeadAttention's input order is query, key, value, bias,
 * key_padding_mask, attention_bias; empty names skip the optional ones.
 */
export function multiHeadAttentionModel(s: MhaModelShape): Uint8Array {
  const hidden = s.heads * s.headDim;
  const inputs = ['query', 'key', 'value', '', '', ...(s.withBias ? ['attention_bias'] : [])];
  const node = new Proto();
  for (const name of inputs) node.string(1, name);
  node
    .string(2, 'output')
    .string(3, 'mha')
    .string(4, 'MultiHeadAttention')
    .message(5, new Proto().string(1, 'num_heads').int(3, s.heads).int(20, ATTR_INT))
    .message(5, new Proto().string(1, 'scale').float(2, 1 / Math.sqrt(s.headDim)).int(20, ATTR_FLOAT))
    .string(7, 'com.microsoft');

  const graph = new Proto()
    .message(1, node)
    .string(2, 'attention')
    .message(11, tensorValue('query', [s.batch, s.lq, hidden]))
    .message(11, tensorValue('key', [s.batch, s.lk, hidden]))
    .message(11, tensorValue('value', [s.batch, s.lk, hidden]));
  if (s.withBias) graph.message(11, tensorValue('attention_bias', [1, 1, s.lq, s.lk]));
  graph.message(12, tensorValue('output', [s.batch, s.lq, hidden]));

  return new Proto()
    .int(1, 8) // ir_version 8
    .message(8, new Proto().string(1, '').int(2, 17))
    .message(8, new Proto().string(1, 'com.microsoft').int(2, 1))
    .message(7, graph)
    .finish();
}
