// The tensors of a Hugging Face checkpoint as `mdl import` consumes them: each one taken by name with its shape
// checked, reshaped into mdl's layout (transposed, split), and at the end every tensor must have been taken or be a
// known non-parameter, so nothing in the checkpoint is silently dropped.

import type { SafetensorsDType, Tensor, TensorToWrite } from '../runtime/safetensors.ts';
import { UserError } from './user-error.ts';

export type ImportDType = 'keep' | SafetensorsDType;

export interface Imported {
  /** The family's name as people say it. */
  family: string;
  spec: string;
  tensors: Map<string, TensorToWrite>;
  /** The specials the config names (informational: the spec declares the ones it uses). */
  specials: { bos?: number; eos?: number; pad?: number };
}

/** What the tokenizer files say that config.json may not: tokenizer_config.json's pad and eos tokens. */
export interface ImportHints {
  pad?: number;
  padToken?: string;
  eos?: number;
  eosToken?: string;
}

export class Checkpoint {
  private readonly taken = new Set<string>();

  constructor(
    private readonly tensors: ReadonlyMap<string, Tensor>,
    /** Where the tensors came from, for messages. */
    private readonly source: string,
    /** Prefixes a name may carry (`transformer.` for GPT-2 saved from GPT2LMHeadModel, `model.` for Llama). */
    private readonly prefixes: readonly string[] = [''],
  ) {}

  /** `name` under one of the prefixes; a name starting with `/` is top-level only (lm_head beside `model.`). */
  private find(name: string): string | undefined {
    if (name.startsWith('/')) return this.tensors.has(name.slice(1)) ? name.slice(1) : undefined;
    return this.prefixes.map((p) => p + name).find((n) => this.tensors.has(n));
  }

  has(name: string): boolean {
    return this.find(name) !== undefined;
  }

  /** The tensor `name` (under any accepted prefix), which must have `shape`; `why` says which config keys set it. */
  take(name: string, shape: readonly number[], why: string): Tensor {
    const found = this.find(name);
    if (found === undefined) throw new UserError(`${this.source}: no tensor ${name.startsWith('/') ? name.slice(1) : this.prefixes[0] + name} (expected ${printShape(shape)} from ${why})`);
    const t = this.tensors.get(found)!;
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new UserError(`${this.source}: tensor ${found} has shape ${printShape(t.shape)}, but ${why} gives ${printShape(shape)}`);
    }
    this.taken.add(found);
    return t;
  }

  /** Marks tensors that are not parameters (GPT-2's saved causal-mask buffers) as understood. */
  skip(match: (name: string) => boolean): void {
    for (const n of this.tensors.keys()) if (match(n)) this.taken.add(n);
  }

  /** Every tensor must have been taken or skipped: an unknown one means a variant the importer does not understand. */
  checkAllTaken(): void {
    const left = [...this.tensors.keys()].filter((n) => !this.taken.has(n)).sort();
    if (left.length) throw new UserError(`${this.source}: tensor ${left[0]} is not understood by mdl import${left.length > 1 ? ` (nor ${left.length - 1} more)` : ''}`);
  }
}

export const printShape = (s: readonly number[]) => `[${s.join(', ')}]`;

/** `[rows, cols]` → `[cols, rows]`: PyTorch Conv1D stores `[in, out]`, mdl (like nn.Linear) `[out, in]`. */
export function transpose(t: Tensor): Tensor {
  const [r, c] = t.shape;
  const out = new Float32Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) out[j * r + i] = t.data[i * c + j];
  return { dtype: t.dtype, shape: [c, r], data: out };
}

/** Splits the first axis into `parts` equal blocks (a fused q/k/v weight in `[out, in]` layout, or its bias). */
export function splitRows(t: Tensor, parts: number): Tensor[] {
  const rows = t.shape[0] / parts;
  const per = t.data.length / parts;
  return Array.from({ length: parts }, (_, i) => ({ dtype: t.dtype, shape: [rows, ...t.shape.slice(1)], data: t.data.slice(i * per, (i + 1) * per) }));
}

export function sameValues(a: Tensor, b: Tensor): boolean {
  if (a.data.length !== b.data.length) return false;
  for (let i = 0; i < a.data.length; i++) if (!Object.is(a.data[i], b.data[i])) return false;
  return true;
}

/** The tensor to write: its own dtype with `keep`, else the one asked for. */
export function output(t: Tensor, dtype: ImportDType): TensorToWrite {
  return { shape: t.shape, data: t.data, dtype: dtype === 'keep' ? t.dtype : dtype };
}
