// Reading a Hugging Face directory and converting GPT-2's tensors, checked element by element against the
// checkpoint's own layout (Conv1D `[in, out]`, fused c_attn), and every refusal as one line naming the key or tensor.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HfConfig } from '../../src/cli/hf-config.ts';
import { readHfDirectory } from '../../src/cli/hf-directory.ts';
import { importGpt2 } from '../../src/cli/hf-gpt2.ts';
import { importCheckpoint } from '../../src/cli/hf-import.ts';
import { checkWeightsSize } from '../../src/cli/import-command.ts';
import { importLlama } from '../../src/cli/hf-llama.ts';
import { Checkpoint, type ImportDType, type Imported } from '../../src/cli/hf-tensors.ts';
import { UserError } from '../../src/cli/user-error.ts';
import { gpt2Config, gpt2Tensors, llamaConfig, llamaTensors, writeHfDirectory, type HfTensors } from './hf-fixtures.ts';
import { bartConfig, bartTensors } from './hf-fixtures-bart.ts';
import { marianConfig, marianTensors, t5Config, t5Tensors, whisperConfig, whisperTensors } from './hf-fixtures-seq2seq.ts';

const SIZES = { vocab: 40, width: 8, heads: 2, layers: 2, positions: 12 };
const fresh = () => mkdtempSync(join(tmpdir(), 'mdl-hf-'));

function gpt2(dir: string, dtype: ImportDType = 'keep', prefixes = ['transformer.', '']) {
  const d = readHfDirectory(dir);
  return importGpt2(new HfConfig(d.config, `${dir}/config.json`), new Checkpoint(d.tensors, 'ckpt', prefixes), 'g', dtype);
}

describe('reading the directory', () => {
  it('sharded weights read the same tensors as one file', () => {
    const tensors = gpt2Tensors(SIZES, 3);
    const one = fresh();
    const three = fresh();
    writeHfDirectory(one, gpt2Config(SIZES), tensors);
    writeHfDirectory(three, gpt2Config(SIZES), tensors, { shards: 3 });
    const a = readHfDirectory(one);
    const b = readHfDirectory(three);
    expect(b.weightFiles).toHaveLength(3);
    expect([...b.tensors.keys()].sort()).toEqual([...a.tensors.keys()].sort());
    for (const [n, t] of a.tensors) expect(Array.from(b.tensors.get(n)!.data), n).toEqual(Array.from(t.data));
  });

  it('refuses an index that disagrees with its shards, other formats, and a directory without config.json', () => {
    const dir = fresh();
    writeHfDirectory(dir, gpt2Config(SIZES), gpt2Tensors(SIZES, 3), { shards: 2 });
    const index = join(dir, 'model.safetensors.index.json');
    writeFileSync(index, JSON.stringify({ weight_map: { 'transformer.wte.weight': 'model-00001-of-00002.safetensors', extra: 'model-00009-of-00009.safetensors' } }));
    expect(() => readHfDirectory(dir)).toThrow(new UserError(`${join(dir, 'model-00009-of-00009.safetensors')}: listed in ${index} but missing`));
    writeFileSync(index, JSON.stringify({ weight_map: { 'transformer.wte.weight': 'model-00002-of-00002.safetensors' } }));
    expect(() => readHfDirectory(dir)).toThrow(/00002\.safetensors: holds transformer\.\S+, which .* does not place there$/);

    const bin = fresh();
    writeFileSync(join(bin, 'config.json'), '{}');
    writeFileSync(join(bin, 'pytorch_model.bin'), 'x');
    expect(() => readHfDirectory(bin)).toThrow(new UserError(`${join(bin, 'pytorch_model.bin')}: mdl import reads safetensors only; save the model with safe_serialization=True`));
    rmSync(join(bin, 'config.json'));
    expect(() => readHfDirectory(bin)).toThrow(new UserError(`${bin}: no config.json (mdl import reads a Hugging Face model directory)`));
  });
});

describe('GPT-2 tensors in mdl names', () => {
  const dir = fresh();
  const tensors = gpt2Tensors(SIZES, 7);
  writeHfDirectory(dir, gpt2Config(SIZES), tensors);
  const out = gpt2(dir).tensors;
  const hf = (n: string) => tensors.get(`transformer.${n}`)!.data;
  const mdl = (n: string) => out.get(n)!.data;
  const d = SIZES.width;

  it('splits c_attn [in, 3·out] into q, k and v, each transposed to [out, in]', () => {
    for (const [k, which] of [['q', 0], ['k', 1], ['v', 2]] as const) {
      const w = mdl(`decoder.layers.1.self_attn.${k}_proj.weight`);
      const b = mdl(`decoder.layers.1.self_attn.${k}_proj.bias`);
      expect(out.get(`decoder.layers.1.self_attn.${k}_proj.weight`)!.shape).toEqual([d, d]);
      for (let o = 0; o < d; o++) {
        expect(b[o]).toBe(hf('h.1.attn.c_attn.bias')[which * d + o]);
        for (let i = 0; i < d; i++) expect(w[o * d + i]).toBe(hf('h.1.attn.c_attn.weight')[i * 3 * d + which * d + o]);
      }
    }
  });

  it('transposes c_fc [d, 4d] and the mlp c_proj [4d, d]; renames norms and embeddings; leaves lm_head to the tie', () => {
    const up = mdl('decoder.layers.0.ffn.up_proj.weight');
    const down = mdl('decoder.layers.0.ffn.down_proj.weight');
    for (let o = 0; o < 4 * d; o++) for (let i = 0; i < d; i++) expect(up[o * d + i]).toBe(hf('h.0.mlp.c_fc.weight')[i * 4 * d + o]);
    for (let o = 0; o < d; o++) for (let i = 0; i < 4 * d; i++) expect(down[o * 4 * d + i]).toBe(hf('h.0.mlp.c_proj.weight')[i * d + o]);
    expect(Array.from(mdl('decoder.layers.0.ffn_norm.bias'))).toEqual(Array.from(hf('h.0.ln_2.bias')));
    expect(Array.from(mdl('decoder.norm.weight'))).toEqual(Array.from(hf('ln_f.weight')));
    expect(Array.from(mdl('embed.positions.weight'))).toEqual(Array.from(hf('wpe.weight')));
    expect(out.has('lm_head.weight')).toBe(false);
    // 2 embeddings + final norm (2) + per layer 2 norms × 2 + 4 projections × 2 + 2 ffn projections × 2.
    expect(out.size).toBe(2 + 2 + SIZES.layers * (4 + 8 + 4));
  });

  it('reads the original hub layout the same way: no prefix, causal-mask buffers saved', () => {
    const bare = fresh();
    const t: HfTensors = new Map([...gpt2Tensors(SIZES, 7, { prefix: '', maskBuffers: true })]);
    writeHfDirectory(bare, gpt2Config(SIZES), t);
    const again = gpt2(bare).tensors;
    expect([...again.keys()].sort()).toEqual([...out.keys()].sort());
    for (const [n, v] of out) expect(Array.from(again.get(n)!.data), n).toEqual(Array.from(v.data));
  });

  it('keeps each tensor\'s dtype, or converts all with --dtype', () => {
    const bf = fresh();
    writeHfDirectory(bf, gpt2Config(SIZES), tensors, { dtype: 'BF16' });
    expect(new Set([...gpt2(bf).tensors.values()].map((t) => t.dtype))).toEqual(new Set(['BF16']));
    expect(new Set([...gpt2(bf, 'F16').tensors.values()].map((t) => t.dtype))).toEqual(new Set(['F16']));
    // The fixture's values are exact in bf16, so the converted data is the same numbers.
    expect(Array.from(gpt2(bf, 'F32').tensors.get('decoder.layers.0.self_attn.q_proj.weight')!.data)).toEqual(Array.from(mdl('decoder.layers.0.self_attn.q_proj.weight')));
  });

  it('an untied lm_head becomes lm_head.weight; a "tied" one that differs is refused', () => {
    const untied = fresh();
    const t = gpt2Tensors(SIZES, 7);
    const head = { shape: [SIZES.vocab, d], data: t.get('transformer.wte.weight')!.data.map((x) => -x) };
    writeHfDirectory(untied, gpt2Config(SIZES, { tie_word_embeddings: false }), new Map([...t, ['lm_head.weight', head]]));
    expect(Array.from(gpt2(untied).tensors.get('lm_head.weight')!.data)).toEqual(Array.from(head.data));
    writeHfDirectory(untied, gpt2Config(SIZES), new Map([...t, ['lm_head.weight', head]]));
    expect(() => gpt2(untied)).toThrow(new UserError(`${untied}/config.json: tie_word_embeddings is true, but lm_head.weight differs from wte.weight`));
  });
});

describe('what GPT-2 import refuses, in one line naming the key or tensor', () => {
  const refuse = (extra: Record<string, unknown>, tensors?: HfTensors) => {
    const dir = fresh();
    writeHfDirectory(dir, gpt2Config(SIZES, extra), tensors ?? gpt2Tensors(SIZES, 1));
    try {
      gpt2(dir);
    } catch (e) {
      expect(e).toBeInstanceOf(UserError);
      return (e as Error).message.replace(dir, 'DIR');
    }
    throw new Error('not refused');
  };

  it('config values mdl cannot express', () => {
    expect(refuse({ activation_function: 'gelu_fast' })).toBe('DIR/config.json: activation_function "gelu_fast" is not supported (mdl imports "gelu_new", "gelu_pytorch_tanh", "gelu", "relu", "silu", "swish")');
    expect(refuse({ scale_attn_by_inverse_layer_idx: true })).toBe('DIR/config.json: scale_attn_by_inverse_layer_idx true is not supported: scores divided by the layer number are not expressible in mdl');
    expect(refuse({ n_head: 3 })).toBe('DIR/config.json: n_head 3 does not divide n_embd 8');
    expect(refuse({ n_layer: 'two' })).toBe('DIR/config.json: n_layer must be a whole number ≥ 1, not "two"');
  });

  it('tensors that do not fit the config, and tensors it does not know', () => {
    expect(refuse({ n_layer: 3 })).toBe('ckpt: no tensor transformer.h.2.ln_1.weight (expected [8] from n_embd)');
    expect(refuse({ n_positions: 16 })).toBe('ckpt: tensor transformer.wpe.weight has shape [12, 8], but n_positions × n_embd gives [16, 8]');
    const t = gpt2Tensors(SIZES, 1);
    t.set('transformer.h.0.attn.rotary.inv_freq', { shape: [4], data: new Float64Array(4) });
    expect(refuse({}, t)).toBe('ckpt: tensor transformer.h.0.attn.rotary.inv_freq is not understood by mdl import');
  });

  it('a model_type it has no family for', () => {
    const dir = fresh();
    writeHfDirectory(dir, { ...gpt2Config(SIZES), model_type: 'bert' }, gpt2Tensors(SIZES, 1));
    expect(() => importCheckpoint(readHfDirectory(dir), 'g', 'keep')).toThrow(new UserError(`${dir}/config.json: model_type "bert" is not supported (mdl imports "gpt2", "llama", "mistral", "qwen2", "t5", "marian", "bart", "whisper")`));
  });
});

describe('the Llama family', () => {
  const sizes = { vocab: 40, width: 16, heads: 4, kvHeads: 2, layers: 1, ff: 24, positions: 16 };
  const convert = (type: 'llama' | 'mistral' | 'qwen2', extra: Record<string, unknown>, tensors: HfTensors, hints = {}) => {
    const dir = fresh();
    writeHfDirectory(dir, llamaConfig(type, sizes, extra), tensors);
    const d = readHfDirectory(dir);
    try {
      return importLlama(new HfConfig(d.config, 'DIR/config.json'), new Checkpoint(d.tensors, 'ckpt', ['model.', '']), 'l', 'keep', hints);
    } catch (e) {
      if (e instanceof UserError) return e.message;
      throw e;
    }
  };

  it('renames without transposing: nn.Linear is already [out, in]; k and v have kv_heads · head width rows', () => {
    const t = llamaTensors(sizes, 5);
    const out = convert('llama', {}, t) as Imported;
    expect(out.tensors.get('decoder.layers.0.self_attn.k_proj.weight')!.shape).toEqual([8, 16]);
    expect(Array.from(out.tensors.get('decoder.layers.0.self_attn.k_proj.weight')!.data)).toEqual(Array.from(t.get('model.layers.0.self_attn.k_proj.weight')!.data));
    expect(Array.from(out.tensors.get('lm_head.weight')!.data)).toEqual(Array.from(t.get('lm_head.weight')!.data));
    expect(out.tensors.get('decoder.layers.0.ffn.gate_proj.weight')!.dtype).toBe('F32');
    expect(out.tensors.has('decoder.layers.0.self_attn.q_proj.bias')).toBe(false);
  });

  it('Qwen2: q, k, v biases kept, the o_proj bias it lacks written as zeros; tied head left to the tie', () => {
    const out = convert('qwen2', {}, llamaTensors(sizes, 5, { qkvBias: true, tied: true })) as Imported;
    expect(Array.from(out.tensors.get('decoder.layers.0.self_attn.o_proj.bias')!.data)).toEqual(new Array(16).fill(0));
    expect(out.tensors.get('decoder.layers.0.self_attn.v_proj.bias')!.shape).toEqual([8]);
    expect(out.tensors.has('lm_head.weight')).toBe(false);
    expect(out.spec).toMatch(/\/\/ q, k, v biases \(o_proj has none: written as zeros\)\n +attention self heads = heads kv_heads = kv_heads mask = causal_lm bias = true\n/);
  });

  it('skips saved rotary frequencies; takes the pad id from the tokenizer config when config.json has none', () => {
    const t = llamaTensors(sizes, 5);
    t.set('model.layers.0.self_attn.rotary_emb.inv_freq', { shape: [2], data: new Float64Array(2) });
    const out = convert('llama', {}, t, { pad: 0, padToken: '<unk>' }) as Imported;
    expect(out.spec).toMatch(/input ids: tokens\[B, T\] pad 0 bos 1 eos 2 +\/\/ tokenizer_config.json pad_token "<unk>"/);
  });

  it('several eos ids (Llama 3 instruct): the one the tokenizer config calls eos_token, else the first', () => {
    const t = llamaTensors(sizes, 5);
    const chat = convert('llama', { eos_token_id: [2, 5] }, t, { eos: 5, eosToken: '<|eot_id|>' }) as Imported;
    expect(chat.spec).toMatch(/input ids: tokens\[B, T\] bos 1 eos 5 +\/\/ no pad token; bos_token_id; eos_token_id, tokenizer_config.json eos_token "<\|eot_id\|>"/);
    expect((convert('llama', { eos_token_id: [2, 5] }, t) as Imported).spec).toContain('input ids: tokens[B, T] bos 1 eos 2 ');
  });

  it('no pad id where the pad token is eos: the loss would never count an eos label', () => {
    const out = convert('llama', { pad_token_id: 2 }, llamaTensors(sizes, 5)) as Imported;
    expect(out.spec).toMatch(/input ids: tokens\[B, T\] bos 1 eos 2 +\/\/ the pad token is eos: no pad id;/);
  });

  it('refuses what mdl cannot express, naming the key', () => {
    const t = llamaTensors(sizes, 5);
    expect(convert('llama', { rope_scaling: { rope_type: 'llama3', factor: 8 } }, t)).toBe('DIR/config.json: rope_scaling {"rope_type":"llama3","factor":8} is not supported: scaled rotary frequencies are not expressible in mdl');
    expect(convert('llama', { head_dim: 8 }, t)).toBe("DIR/config.json: head_dim 8 is not supported: mdl's heads are hidden_size / num_attention_heads = 4 wide");
    expect(convert('llama', { hidden_act: 'gelu' }, t)).toBe('DIR/config.json: hidden_act "gelu" is not supported (mdl imports "silu")');
    expect(convert('qwen2', { use_sliding_window: true }, t)).toBe("DIR/config.json: use_sliding_window true is not supported: Qwen2's per-layer sliding window is not expressible in mdl");
    expect(convert('llama', { num_key_value_heads: 3 }, t)).toBe('DIR/config.json: num_key_value_heads 3 does not divide num_attention_heads 4');
  });
});

describe('T5, Marian, BART and Whisper refusals, naming the key or tensor', () => {
  const attempt = (config: Record<string, unknown>, tensors: HfTensors) => {
    const dir = fresh();
    writeHfDirectory(dir, config, tensors);
    try {
      importCheckpoint(readHfDirectory(dir), 'm', 'keep');
    } catch (e) {
      if (e instanceof UserError) return e.message.replace(dir, 'DIR');
      throw e;
    }
    throw new Error('not refused');
  };
  const t5 = { vocab: 40, width: 16, heads: 4, ff: 32, layers: 1, buckets: 8, maxDistance: 16 };
  const marian = { vocab: 40, width: 16, heads: 4, ff: 32, layers: 1, positions: 12 };
  const whisper = { vocab: 40, width: 16, heads: 4, ff: 32, layers: 1, positions: 16, frames: 12 };

  it('T5 heads narrower than d_model / num_heads (T5 1.1 small: 6 heads of 64 in 512), and gated ReLU', () => {
    expect(attempt(t5Config(t5, { d_kv: 2 }), t5Tensors(t5, 1))).toBe("DIR/config.json: d_kv 2 × num_heads 4 is not d_model 16: mdl's heads are d_model / heads wide");
    expect(attempt(t5Config(t5, { feed_forward_proj: 'gated-relu' }), t5Tensors(t5, 1, { gated: true }))).toBe('DIR/config.json: feed_forward_proj "gated-relu" is not supported (mdl imports "relu", "gated-gelu", "gated-silu")');
  });

  it('Marian with a final_logits_bias, or position tables that are not its sinusoid', () => {
    const t = marianTensors(marian, 1);
    t.set('final_logits_bias', { shape: [1, 40], data: Float64Array.from({ length: 40 }, (_, i) => (i === 39 ? -1 : 0)) });
    expect(attempt(marianConfig(marian), t)).toBe("DIR/config.json: final_logits_bias is not zero (-1 at id 39), and mdl's output projection has no bias");
    const u = marianTensors(marian, 1);
    u.set('model.decoder.embed_positions.weight', { shape: [12, 16], data: new Float64Array(12 * 16) });
    expect(attempt(marianConfig(marian), u)).toBe("DIR/config.json: decoder.embed_positions.weight is not Marian's sinusoid table (row 0, column 8), so the positions cannot be computed");
  });

  it('BART pre-norm (mBART), a position table without the offset rows, an embed_tokens copy that differs', () => {
    const bart = { vocab: 40, width: 16, heads: 4, ff: 32, layers: 1, positions: 12 };
    const attemptBart = (extra: Record<string, unknown>, change: (t: HfTensors) => void = () => {}) => {
      const t = bartTensors(bart, 1);
      change(t);
      return attempt(bartConfig(bart, extra), t);
    };
    expect(attemptBart({ normalize_before: true })).toMatch(/^DIR\/config\.json: normalize_before true is not supported/);
    expect(attemptBart({}, (t) => t.set('model.encoder.embed_positions.weight', { shape: [12, 16], data: new Float64Array(12 * 16) }))).toBe('DIR/model.safetensors: tensor model.encoder.embed_positions.weight has shape [12, 16], but (max_position_embeddings + 2) × d_model gives [14, 16]');
    expect(attemptBart({}, (t) => t.set('model.decoder.embed_tokens.weight', { shape: [40, 16], data: new Float64Array(40 * 16) }))).toBe('DIR/config.json: decoder.embed_tokens.weight differs from the shared embedding, which BART ties it to');
  });

  it('Whisper with an untied output, or scaled embeddings', () => {
    const t = whisperTensors(whisper, 1);
    t.set('proj_out.weight', { shape: [40, 16], data: new Float64Array(40 * 16) });
    expect(attempt(whisperConfig(whisper), t)).toBe('DIR/config.json: tie_word_embeddings is true, but proj_out.weight differs from decoder.embed_tokens.weight');
    expect(attempt(whisperConfig(whisper, { scale_embedding: true }), whisperTensors(whisper, 1))).toBe('DIR/config.json: scale_embedding true is not supported: Whisper decoders add unscaled embeddings');
  });
});

describe('the size of the weights file', () => {
  it('refuses more than 4 GiB in one line, pointing at --dtype where it would help', () => {
    const tensor = (length: number, dtype: string) => ({ data: { length }, dtype });
    // 1.25·2^30 f32 values are 5 GiB; as bf16, 2.5 GiB.
    expect(() => checkWeightsSize([tensor(1.25 * 2 ** 30, 'F32')], 'big', 'keep')).toThrow(new UserError('big: the weights come to 5.0 GiB, and mdl writes a weights file of at most 4 GiB (--dtype bf16 or f16 halves it)'));
    expect(() => checkWeightsSize([tensor(1.25 * 2 ** 30, 'BF16')], 'big', 'keep')).not.toThrow();
    expect(() => checkWeightsSize([tensor(2.5 * 2 ** 30, 'BF16')], 'big', 'BF16')).toThrow(new UserError('big: the weights come to 5.0 GiB, and mdl writes a weights file of at most 4 GiB'));
  });
});
