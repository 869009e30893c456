// Score modifiers: functions applied to attention logits before the softmax (ALiBi, soft-capping, relative bias).

import { relativeBiasProblem } from './relative-bias-shape.ts';
import type { Arg, ScoreDecl } from '../lang/ast.ts';
import type { DiagnosticBag } from '../lang/diagnostics.ts';
import { wordValue } from './option-values.ts';
import type { ScoreInfo, ScoreMod } from './model.ts';

const FORMS = 'alibi, alibi(max_bias = 8, form = distance | key), softcap(CAP), relative_bias(buckets = 32, max_distance = 128, shared = false)';

export function checkScore(decl: ScoreDecl, bag: DiagnosticBag): ScoreInfo {
  const mods: ScoreMod[] = [];
  for (const e of decl.mods) {
    const name = e.kind === 'ref' ? e.name : e.kind === 'call' ? e.callee.text : '';
    const args = e.kind === 'call' ? e.args : [];
    const num = (key: string, pos: number, dflt?: number): number | undefined => {
      const a: Arg | undefined = args.find((x) => x.name?.text === key) ?? args.filter((x) => !x.name)[pos];
      if (!a) return dflt;
      if (a.value.kind !== 'number') {
        bag.error('E421', a.value.span, `${name}: ${key} must be a number`);
        return undefined;
      }
      return a.value.value;
    };
    const known = (keys: string[]) => {
      for (const a of args) if (a.name && !keys.includes(a.name.text)) bag.error('E421', a.name.span, `${name} has no parameter '${a.name.text}'`, `its parameters: ${keys.join(', ') || 'none'}`);
    };
    if (name === 'alibi') {
      known(['max_bias', 'form']);
      const maxBias = num('max_bias', 0, 8);
      const formArg = args.find((a) => a.name?.text === 'form');
      const form = formArg ? wordValue({ values: [formArg.value], span: formArg.span }, ['distance', 'key'] as const, bag, 'E529', 'the ALiBi form') : 'distance';
      if (maxBias !== undefined && form) mods.push({ kind: 'alibi', maxBias, form });
    } else if (name === 'softcap') {
      known(['cap']);
      const cap = num('cap', 0);
      if (cap === undefined || cap <= 0) bag.error('E421', e.span, 'softcap needs a positive cap', 'for example softcap(30)');
      else mods.push({ kind: 'softcap', cap });
    } else if (name === 'relative_bias') {
      known(['buckets', 'max_distance', 'bidirectional', 'shared']);
      const buckets = num('buckets', 0, 32);
      const maxDistance = num('max_distance', 1, 128);
      const bidi = args.find((a) => a.name?.text === 'bidirectional');
      const bidirectional = !(bidi && bidi.value.kind === 'ref' && bidi.value.name === 'false');
      const sharedArg = args.find((a) => a.name?.text === 'shared');
      const shared = sharedArg ? wordValue({ values: [sharedArg.value], span: sharedArg.span }, ['true', 'false'] as const, bag, 'E528', 'shared') === 'true' : false;
      const problem = buckets === undefined || maxDistance === undefined ? 'relative_bias needs whole numbers' : relativeBiasProblem({ buckets, maxDistance, bidirectional });
      if (problem) bag.error('E421', e.span, problem, 'for example relative_bias(buckets = 32, max_distance = 128)');
      else if (mods.some((m) => m.kind === 'relative_bias')) bag.error('E421', e.span, 'a score has at most one relative_bias', 'one learned table per attention layer');
      else mods.push({ kind: 'relative_bias', buckets: buckets!, maxDistance: maxDistance!, bidirectional, shared });
    } else {
      bag.error('E420', e.span, `unknown score modifier '${name || '?'}'`, `score modifiers: ${FORMS}`);
    }
  }
  return { name: decl.name.text, mods, span: decl.name.span };
}

/** A modifier with every option written out, as `mdl dump --stage ir` shows it. */
export function printScoreMod(m: ScoreMod): string {
  if (m.kind === 'alibi') return `alibi(max_bias = ${m.maxBias}, form = ${m.form})`;
  if (m.kind === 'softcap') return `softcap(${m.cap})`;
  return `relative_bias(buckets = ${m.buckets}, max_distance = ${m.maxDistance}, bidirectional = ${m.bidirectional}, shared = ${m.shared})`;
}
