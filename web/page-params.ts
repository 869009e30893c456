// The page's query parameters, checked: a value that cannot be used is reported with what was used instead, and an
// unknown parameter is reported, so that `?max=-1` or `?mx=3` never silently does nothing.

import { DEFAULT_SEED } from '../src/runtime/init-weights.ts';

export interface PageParams {
  /** A .mdl URL (relative to the page), else the spec kept in local storage, else the translator. */
  spec?: string;
  weights?: string;
  /** A tokenizer.json URL (its tokenizer_config.json fetched beside it); else the byte-level tokenizer. */
  tokenizer?: string;
  source?: string;
  input?: string;
  max: number;
  seed: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  beams?: number;
  /** Whether to generate once the page has loaded (default yes; `run=0` only checks and draws). */
  run: boolean;
}

export const PARAM_NAMES = ['spec', 'weights', 'tokenizer', 'source', 'input', 'max', 'seed', 'temperature', 'topk', 'topp', 'beams', 'run'];
/** The mask inspector's fields, named as mdl mask's flags (checked by the inspector against the spec). */
export const MASK_PARAM_NAMES = ['dims', 'lengths', 'tokens', 'segments', 'batch', 'head', 'tiles'];
export const MAX_NEW_LIMIT = 256;

export function readParams(search: string): { params: PageParams; problems: string[] } {
  const q = new URLSearchParams(search);
  const problems: string[] = [];
  for (const key of new Set(q.keys())) if (!PARAM_NAMES.includes(key) && !MASK_PARAM_NAMES.includes(key)) problems.push(`unknown query parameter '${key}' (the page reads ${PARAM_NAMES.join(', ')}, and the mask fields ${MASK_PARAM_NAMES.join(', ')})`);
  const whole = (key: string, min: number, max: number, fallback: number | undefined): number | undefined => {
    const text = q.get(key);
    if (text === null) return fallback;
    const n = /^\s*-?\d+\s*$/.test(text) ? Number(text) : NaN;
    if (Number.isSafeInteger(n) && n >= min && n <= max) return n;
    problems.push(`${key}=${text}: expected a whole number from ${min} to ${max}${fallback === undefined ? '; ignored' : `; using ${fallback}`}`);
    return fallback;
  };
  const real = (key: string, ok: (v: number) => boolean, range: string): number | undefined => {
    const text = q.get(key);
    if (text === null) return undefined;
    const n = text.trim() === '' ? NaN : Number(text);
    if (Number.isFinite(n) && ok(n)) return n;
    problems.push(`${key}=${text}: expected ${range}; ignored`);
    return undefined;
  };
  const run = q.get('run');
  if (run !== null && run !== '0' && run !== '1') problems.push(`run=${run}: expected 0 or 1; using 1`);
  return {
    params: {
      spec: q.get('spec') ?? undefined,
      weights: q.get('weights') ?? undefined,
      tokenizer: q.get('tokenizer') ?? undefined,
      source: q.get('source') ?? undefined,
      input: q.get('input') ?? undefined,
      max: whole('max', 1, MAX_NEW_LIMIT, 6)!,
      seed: whole('seed', 0, 2 ** 32 - 1, DEFAULT_SEED)!,
      temperature: real('temperature', (v) => v > 0, 'a number above 0'),
      topK: whole('topk', 0, 1 << 20, undefined),
      topP: real('topp', (v) => v > 0 && v <= 1, 'a number in (0, 1]'),
      beams: whole('beams', 1, 16, undefined),
      run: run !== '0',
    },
    problems,
  };
}
