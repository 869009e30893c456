// Reading a Hugging Face config.json for `mdl import`: every value the spec depends on is read through here, so a
// missing or unsupported value is one line naming the key, and every value read can be cited in the spec's comments.

import { UserError } from './user-error.ts';

export class HfConfig {
  constructor(
    readonly values: Record<string, unknown>,
    /** The config file's path, for messages. */
    readonly source: string,
  ) {}

  has(key: string): boolean {
    return this.values[key] !== undefined && this.values[key] !== null;
  }

  /** A whole number ≥ 1; `fallback` when the key is absent or null (transformers' default). */
  int(key: string, fallback?: number): number {
    const v = this.values[key] ?? fallback;
    if (v === undefined || v === null) throw this.error(key, 'is missing');
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw this.error(key, `must be a whole number ≥ 1, not ${JSON.stringify(v)}`);
    return v;
  }

  /** A whole number ≥ 0, or undefined when absent. */
  optionalId(key: string): number | undefined {
    const v = this.values[key];
    if (v === undefined || v === null) return undefined;
    // Some configs list several eos ids (Llama 3.1: [128001, 128008, 128009]); the first is the one that ends text.
    const first = Array.isArray(v) ? v[0] : v;
    if (typeof first !== 'number' || !Number.isInteger(first) || first < 0) throw this.error(key, `must be a token id, not ${JSON.stringify(v)}`);
    return first;
  }

  /** Every id of a key that may hold one id or a list (eos_token_id); empty when absent. */
  ids(key: string): number[] {
    const v = this.values[key];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    if (list.some((x) => typeof x !== 'number' || !Number.isInteger(x) || x < 0)) throw this.error(key, `must be a token id or a list of them, not ${JSON.stringify(v)}`);
    return list as number[];
  }

  /** A positive finite number. */
  num(key: string, fallback?: number): number {
    const v = this.values[key] ?? fallback;
    if (v === undefined || v === null) throw this.error(key, 'is missing');
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw this.error(key, `must be a positive number, not ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.values[key] ?? fallback;
    if (typeof v !== 'boolean') throw this.error(key, `must be true or false, not ${JSON.stringify(v)}`);
    return v;
  }

  str(key: string, fallback?: string): string {
    const v = this.values[key] ?? fallback;
    if (v === undefined || v === null) throw this.error(key, 'is missing');
    if (typeof v !== 'string') throw this.error(key, `must be a string, not ${JSON.stringify(v)}`);
    return v;
  }

  /** One of the values mdl can express, each mapped to what it becomes; anything else is refused. */
  choice<T>(key: string, fallback: string, allowed: Record<string, T>): { value: string; as: T } {
    const value = this.str(key, fallback);
    if (!Object.hasOwn(allowed, value)) throw this.error(key, `${JSON.stringify(value)} is not supported (mdl imports ${Object.keys(allowed).map((k) => JSON.stringify(k)).join(', ')})`);
    return { value, as: allowed[value] };
  }

  /** A setting mdl cannot express unless it has its default value (absent, null, or `expected`). */
  requireDefault(key: string, expected: unknown, why: string): void {
    const v = this.values[key];
    if (v === undefined || v === null || JSON.stringify(v) === JSON.stringify(expected)) return;
    throw this.error(key, `${JSON.stringify(v)} is not supported: ${why}`);
  }

  error(key: string, problem: string): UserError {
    return new UserError(`${this.source}: ${key} ${problem}`);
  }
}

/**
 * The pad id a spec may declare: none when it is the eos id, since labels equal to the pad id never count in the loss
 * and every eos label would be dropped (configs often set pad_token_id = eos_token_id for want of a pad token).
 */
export function usablePad(pad: number | undefined, eos: number | undefined): number | undefined {
  return pad === eos ? undefined : pad;
}

/** A number as a spec writes it, in the shortest form that reads back the same: `1e-5` rather than `0.00001`. */
export function specNumber(x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e21) return String(x);
  return Math.abs(x) < 1e-3 ? x.toExponential().replace('e+', 'e') : String(x);
}
