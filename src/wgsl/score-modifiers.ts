// Score modifiers: what may happen to an attention logit between `q·k * scale` and the softmax.
//
// They are data, not code: the WGSL emitter and the CPU evaluator below both walk the same description, so the GPU
// kernel and its oracle cannot drift apart, and no text from a spec ever reaches WGSL as an identifier (numbers are
// emitted as checked literals, variables as fixed generated names).
//
// Modifiers apply in list order, each to the result of the previous one, so `[alibi, softcap]` caps the biased score
// and `[softcap, alibi]` biases the capped one.

import type { AlibiForm, CheckedModel, ScoreMod } from '../check/model.ts';
import type { RelativeBiasShape } from '../check/relative-bias-shape.ts';
import { relativeBiasWgsl, relativeBucket } from './relative-bias.ts';

export type ScoreModifier =
  /**
   * ALiBi: `s += -slopes[h] * |qAbs - k|`, where `qAbs = q + (Lk - Lq)` is the query's absolute position when the
   * keys include a cache of earlier positions. For causal masks this is the original linear bias `slope * (k - qAbs)`.
   */
  | { kind: 'alibi'; slopes: number[]; form: AlibiForm }
  /** Soft-capping (Gemma 2 style): `s = cap * tanh(s / cap)`. */
  | { kind: 'softcap'; cap: number }
  /**
   * Learned relative-position bias (T5): `s += table[bucket(k - q) * heads + h]` (relative-bias.ts). The table is a
   * weight bound to the kernel; `table` carries its values for the CPU evaluator.
   */
  | ({ kind: 'relative_bias'; heads: number; table?: ArrayLike<number> } & RelativeBiasShape);

/** Values in the learned table the modifiers read (0 when none). */
export function scoreTableLength(modifiers: readonly ScoreModifier[]): number {
  const m = modifiers.find((x) => x.kind === 'relative_bias');
  return m?.kind === 'relative_bias' ? m.buckets * m.heads : 0;
}

/** True when the modifiers read a learned table, which the attention kernel then binds. */
export function needsScoreTable(modifiers: readonly ScoreModifier[]): boolean {
  return modifiers.some((m) => m.kind === 'relative_bias');
}

/** The storage buffer a relative_bias modifier reads (declared by the attention kernel). */
export const SCORE_TABLE = 'attn_score_table';

/**
 * The standard ALiBi slopes for `heads` heads: the geometric sequence 2^(-8i/n) for the largest power of two n ≤ heads,
 * completed with every other slope of the sequence for 2n when heads is not a power of two.
 */
export function alibiSlopes(heads: number): number[] {
  const geometric = (n: number) => Array.from({ length: n }, (_, i) => 2 ** ((-8 * (i + 1)) / n));
  const n = 2 ** Math.floor(Math.log2(heads));
  const slopes = geometric(n);
  if (n < heads) slopes.push(...geometric(2 * n).filter((_, i) => i % 2 === 0).slice(0, heads - n));
  return slopes;
}

/** tanh saturates to ±1 in f32 well before |x| = 15; clamping keeps exp-based tanh implementations from overflowing. */
export const TANH_CLAMP = 15;

// ---- CPU evaluation (the oracle) ----

export interface ScoreIndex {
  b: number;
  h: number;
  q: number;
  k: number;
  Lq: number;
  Lk: number;
}

/** ALiBi's bias at one score, in f64: −slope·|k − q| (q shifted bottom-right) or, in BLOOM's form, slope·k. */
export function alibiBias(m: { slopes: number[]; form: AlibiForm }, at: ScoreIndex): number {
  const slope = m.slopes[at.h];
  return m.form === 'key' ? slope * at.k : -slope * Math.abs(at.q + (at.Lk - at.Lq) - at.k);
}

/** The same in WGSL, as a statement on `s`, with the per-head slopes in the private array `table`. */
export function alibiWgsl(m: { form: AlibiForm }, table: string): string {
  return m.form === 'key' ? `  s = s + ${table}[h] * sm_k;` : `  s = s - ${table}[h] * abs(sm_q + (sm_lk - sm_lq) - sm_k);`;
}

export function applyModifiersCpu(score: number, modifiers: readonly ScoreModifier[], at: ScoreIndex): number {
  let s = score;
  for (const m of modifiers) {
    switch (m.kind) {
      case 'alibi':
        s += alibiBias(m, at);
        break;
      case 'softcap':
        s = m.cap * Math.tanh(s / m.cap);
        break;
      case 'relative_bias':
        if (!m.table) throw new Error('relative_bias needs its table to be evaluated on the CPU');
        s += m.table[relativeBucket(at.k - at.q, m) * m.heads + at.h];
        break;
    }
  }
  return s;
}

// ---- WGSL emission ----

/** A finite number as a WGSL f32 literal, parenthesised when negative so it composes inside any expression. */
export function f32Literal(x: number): string {
  if (!Number.isFinite(x)) throw new Error(`cannot use ${x} as a WGSL f32 constant`);
  if (Math.abs(x) > 3.4028234663852886e38) throw new Error(`${x} is outside the f32 range`);
  let text = Math.abs(x).toString();
  if (!/[.e]/.test(text)) text += '.0';
  return x < 0 || Object.is(x, -0) ? `(-${text})` : text;
}

/**
 * Emits `fn <name>(s: f32, b: u32, h: u32, q: u32, k: u32, lq: u32, lk: u32) -> f32` applying the modifiers in order,
 * or returns undefined when there are none (the kernel then calls nothing).
 */
export function emitModifierFunction(name: string, modifiers: readonly ScoreModifier[], heads: number): string | undefined {
  if (modifiers.length === 0) return undefined;
  const lines: string[] = [];
  const constants: string[] = [];
  modifiers.forEach((m, i) => {
    switch (m.kind) {
      case 'alibi': {
        if (m.slopes.length !== heads) throw new Error(`ALiBi needs one slope per head: got ${m.slopes.length}, heads = ${heads}`);
        // A private variable rather than a const: const arrays may not be indexed by a runtime value everywhere.
        const table = `${name}_alibi_${i}`;
        constants.push(`var<private> ${table}: array<f32, ${heads}> = array<f32, ${heads}>(${m.slopes.map(f32Literal).join(', ')});`);
        lines.push(alibiWgsl(m, table));
        break;
      }
      case 'softcap': {
        if (!(m.cap > 0)) throw new Error(`soft-cap must be positive, got ${m.cap}`);
        const cap = f32Literal(m.cap);
        lines.push(`  s = ${cap} * tanh(clamp(s / ${cap}, ${f32Literal(-TANH_CLAMP)}, ${f32Literal(TANH_CLAMP)}));`);
        break;
      }
      case 'relative_bias':
        if (m.heads !== heads) throw new Error(`relative_bias was built for ${m.heads} heads, the kernel has ${heads}`);
        if (modifiers.filter((x) => x.kind === 'relative_bias').length > 1) throw new Error('a kernel binds one relative_bias table');
        lines.push(...relativeBiasWgsl(m, heads, SCORE_TABLE));
        break;
      default:
        throw new Error(`unknown score modifier ${JSON.stringify(m)}`);
    }
  });
  return [
    ...constants,
    `fn ${name}(score: f32, b: u32, h: u32, q: u32, k: u32, lq: u32, lk: u32) -> f32 {`,
    `  let sm_b = f32(b); let sm_h = f32(h); let sm_q = f32(q); let sm_k = f32(k);`,
    `  let sm_lq = f32(lq); let sm_lk = f32(lk);`,
    `  var s = score;`,
    ...lines,
    `  return s;`,
    `}`,
  ].join('\n');
}

/** The score modifiers of a named score declaration, as the attention kernel and its CPU oracle take them. */
export function scoreModifiers(m: CheckedModel, scoreName: string, heads: number): ScoreModifier[] {
  const score = scoreName ? m.scores.get(scoreName) : undefined;
  return (score?.mods ?? []).map((s) => modifierOf(s, heads));
}

function modifierOf(s: ScoreMod, heads: number): ScoreModifier {
  // Slopes are 2^(-maxBias·i/n); the table for the usual maxBias of 8, raised to maxBias / 8, gives any other.
  if (s.kind === 'alibi') return { kind: 'alibi', slopes: alibiSlopes(heads).map((x) => x ** (s.maxBias / 8)), form: s.form };
  if (s.kind === 'softcap') return { kind: 'softcap', cap: s.cap };
  return { kind: 'relative_bias', heads, buckets: s.buckets, maxDistance: s.maxDistance, bidirectional: s.bidirectional };
}
