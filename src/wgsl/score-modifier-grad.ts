// Score modifiers with their derivatives, for the attention backward pass.
//
// The emitted function applies the modifiers exactly as the forward kernel's `emitModifierFunction` does (same order,
// same clamps, same literals) and also returns what the chain rule needs: the derivative of the final score with
// respect to the raw score `q·k * scale`, and with respect to the learned relative_bias table entry the pair read,
// together with that entry's bucket. Additive modifiers (ALiBi, index biases, the table) have derivative 1 with
// respect to the score; soft-capping multiplies every derivative taken before it by 1 − tanh²; nothing else learns.

import { relativeBucketWgsl } from './relative-bias.ts';
// The forward kernel's soft-cap clamp, so both passes compute bit-identical scores.
import { emitBiasWgsl, f32Literal, SCORE_TABLE, TANH_CLAMP, type ScoreModifier } from './score-modifiers.ts';

/**
 * Emits `fn <name>(score: f32, b: u32, h: u32, q: u32, k: u32, lq: u32, lk: u32) -> vec4<f32>` returning
 * (modified score, d score / d raw score, d score / d table entry, the entry's bucket as f32); undefined without
 * modifiers (the caller then uses the raw score with derivative 1).
 */
export function emitModifierGradFunction(name: string, modifiers: readonly ScoreModifier[], heads: number): string | undefined {
  if (modifiers.length === 0) return undefined;
  const constants: string[] = [];
  const lines: string[] = [];
  if (modifiers.filter((m) => m.kind === 'relative_bias').length > 1) throw new Error('a kernel binds one relative_bias table');
  modifiers.forEach((m, i) => {
    switch (m.kind) {
      case 'alibi': {
        if (m.slopes.length !== heads) throw new Error(`ALiBi needs one slope per head: got ${m.slopes.length}, heads = ${heads}`);
        const table = `${name}_alibi_${i}`;
        constants.push(`var<private> ${table}: array<f32, ${heads}> = array<f32, ${heads}>(${m.slopes.map(f32Literal).join(', ')});`);
        lines.push(`  s = s - ${table}[h] * abs(sm_q + (sm_lk - sm_lq) - sm_k);`);
        break;
      }
      case 'softcap': {
        if (!(m.cap > 0)) throw new Error(`soft-cap must be positive, got ${m.cap}`);
        const cap = f32Literal(m.cap);
        lines.push(
          '  {',
          `    let t = tanh(clamp(s / ${cap}, ${f32Literal(-TANH_CLAMP)}, ${f32Literal(TANH_CLAMP)}));`,
          `    s = ${cap} * t;`,
          '    let dt = 1.0 - t * t;',
          '    g = g * dt;',
          '    g_table = g_table * dt;',
          '  }',
        );
        break;
      }
      case 'bias':
        lines.push(`  s = s + ${emitBiasWgsl(m.expr)};`);
        break;
      case 'relative_bias':
        if (m.heads !== heads) throw new Error(`relative_bias was built for ${m.heads} heads, the kernel has ${heads}`);
        lines.push(
          '  {',
          ...relativeBucketWgsl(m),
          `    s = s + ${SCORE_TABLE}[u32(rb_bucket) * ${heads}u + h];`,
          '    g_table = 1.0;',
          '    bucket = f32(rb_bucket);',
          '  }',
        );
        break;
      default:
        throw new Error(`unknown score modifier ${JSON.stringify(m)}`);
    }
  });
  return [
    ...constants,
    `fn ${name}(score: f32, b: u32, h: u32, q: u32, k: u32, lq: u32, lk: u32) -> vec4<f32> {`,
    '  let sm_b = f32(b); let sm_h = f32(h); let sm_q = f32(q); let sm_k = f32(k);',
    '  let sm_lq = f32(lq); let sm_lk = f32(lk);',
    '  var s = score;',
    '  var g = 1.0;',
    '  var g_table = 0.0;',
    '  var bucket = 0.0;',
    ...lines,
    '  return vec4<f32>(s, g, g_table, bucket);',
    '}',
  ].join('\n');
}
