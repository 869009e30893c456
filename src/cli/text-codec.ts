// Text ↔ ids for a spec: the byte-level scheme (special ids first, then the 256 UTF-8 bytes), with the special ids
// taken from the tokens input the decoder reads.

import type { CheckedModel } from '../check/model.ts';
import { rolesOf } from '../runtime/generate.ts';
import { UserError } from './user-error.ts';

export interface TextCodec {
  encode(text: string): number[];
  decode(ids: number[]): string;
}

export function textCodec(model: CheckedModel): TextCodec {
  const { target, decoderInput } = rolesOf(model);
  const specials = [target.pad, target.bos, target.eos, decoderInput?.bos, decoderInput?.eos].filter((x): x is number => x !== undefined);
  const first = Math.max(-1, ...specials) + 1;
  const vocab = model.embed?.vocab ?? 0;
  return {
    encode(text) {
      if (first + 256 > vocab) throw new UserError(`${model.name}: text needs a vocabulary of at least ${first + 256} ids (specials, then 256 bytes); give --tokens instead`);
      return [...new TextEncoder().encode(text)].map((b) => first + b);
    },
    decode(ids) {
      const bytes = ids.filter((id) => id >= first && id < first + 256).map((id) => id - first);
      return new TextDecoder('utf-8', { fatal: false }).decode(Uint8Array.from(bytes));
    },
  };
}
