// Why one pair (b, h, q, k) of a mask is visible or hidden, in the policy's own words: which parts of an `&` hid
// it, which part of an `|` let it through, what a `!` negated. The page shows this under the pointer.

import { evalBool, type Indices } from './evaluate.ts';
import type { MaskEnv } from './kernel-contract.ts';
import { printPolicy, type Policy } from './policy.ts';
import { printBool } from './print-predicate.ts';

export interface PairReason {
  visible: boolean;
  /** The parts of the policy that decided it, e.g. `causal (k <= q)`. */
  because: string;
}

export function explainPair(p: Policy, at: Indices, env: MaskEnv): PairReason {
  switch (p.kind) {
    case 'all':
      return { visible: true, because: 'none (every pair is visible)' };
    case 'nothing':
      return { visible: false, because: '!none (no pair is visible)' };
    case 'builtin': {
      const meaning = printBool(p.pred);
      return { visible: evalBool(p.pred, at, env), because: meaning === p.text ? p.text : `${p.text} (${meaning})` };
    }
    case 'raw':
      return { visible: evalBool(p.pred, at, env), because: printBool(p.pred) };
    case 'not': {
      const inner = explainPair(p.part, at, env);
      return { visible: !inner.visible, because: `${printPolicy(p)}: ${inner.because} ${inner.visible ? 'holds' : 'does not hold'}` };
    }
    case 'and': {
      const parts = p.parts.map((x) => explainPair(x, at, env));
      const failed = parts.filter((x) => !x.visible);
      return failed.length ? { visible: false, because: failed.map((x) => x.because).join(' and ') } : { visible: true, because: parts.map((x) => x.because).join(' and ') };
    }
    case 'or': {
      const parts = p.parts.map((x) => explainPair(x, at, env));
      const held = parts.find((x) => x.visible);
      return held ? { visible: true, because: held.because } : { visible: false, because: `none of ${parts.map((x) => x.because).join(', ')}` };
    }
  }
}

/** One line for a pair: `(b 0, h 0, q 3, k 5) hidden by causal (k <= q)`. */
export function describePair(p: Policy, at: Indices, env: MaskEnv): string {
  const r = explainPair(p, at, env);
  return `(b ${at.b}, h ${at.h}, q ${at.q}, k ${at.k}) ${r.visible ? 'visible: ' : 'hidden by '}${r.because}`;
}
