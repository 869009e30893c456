// The browser page: compiles a spec with the same compiler as the CLI, runs it with the same runtime module on
// `navigator.gpu`, shows the generated tokens and draws every mask of the model. Query parameters: `spec` (a .mdl
// URL, default the translator), `weights` (a safetensors URL; default seeded weights), `tokenizer` (a tokenizer.json
// URL, with tokenizer_config.json fetched beside it when there is one; default the byte-level tokenizer), `source`,
// `input`, `max` (tokens to generate), `seed`.

import { checkSource } from '../src/check/check.ts';
import type { CheckedModel } from '../src/check/model.ts';
import { denseMask } from '../src/masks/evaluate.ts';
import { toPredicate, printPolicy } from '../src/masks/policy.ts';
import { lower } from '../src/lower/passes.ts';
import { acquireGpu } from '../src/runtime/device.ts';
import { CachedDecoder } from '../src/runtime/cached-decoder.ts';
import { generate, gpuForward, probeInputs, promptOfText, rolesOf } from '../src/runtime/generate.ts';
import { DEFAULT_SEED, seededWeights } from '../src/runtime/init-weights.ts';
import { loadWeights } from '../src/runtime/weights.ts';
import { byteTokenizer, tokenizerOptionsOf, type Tokenizer } from '../src/runtime/tokenizer.ts';
import { tokenizerFromJsonText } from '../src/runtime/tokenizer-json.ts';
import { runProgram } from '../src/runtime/program.ts';

interface PageResult {
  model: string;
  adapter: string;
  /** The encoded source (encoder-decoder) or prompt. */
  input: number[];
  tokens: number[];
  text: string;
  /** Logits of one forward pass over the prompt, for comparison with a Node run. */
  logits: number[];
  masks: string[];
  /** How the tokens were decoded: with the KV cache, or by recomputing (and why). */
  decoding: string;
}

declare global {
  interface Window {
    mdlResult?: PageResult;
    mdlError?: string;
  }
}

const params = new URLSearchParams(location.search);
const status = document.getElementById('status')!;
const output = document.getElementById('output')!;

async function main(): Promise<void> {
  const specUrl = params.get('spec') ?? 'specs/translator.mdl';
  const text = await (await fetch(specUrl)).text();
  const checked = checkSource(text, specUrl);
  if (!checked.model) throw new Error(checked.diagnostics.map((d) => `${d.span.line}:${d.span.col} ${d.message}`).join('\n'));
  const model = checked.model;
  const lowered = lower(model);
  const gpu = await acquireGpu({ skipWorkgroupZeroInit: true });
  status.textContent = `${model.name}: ${lowered.program.steps.length} kernel launches on ${gpu.describe()}`;
  // A safetensors file from `?weights=URL` (mdl serve --weights FILE serves one at /weights.safetensors), checked
  // against the spec as in Node; seeded weights otherwise.
  const weightsUrl = params.get('weights');
  let weights: Map<string, Float32Array>;
  if (weightsUrl) {
    const res = await fetch(weightsUrl);
    if (!res.ok) throw new Error(`${weightsUrl}: HTTP ${res.status}`);
    weights = loadWeights(new Uint8Array(await res.arrayBuffer()), lowered.ir, weightsUrl);
  } else {
    weights = seededWeights(lowered.ir, Number(params.get('seed') ?? DEFAULT_SEED));
  }
  const codec = await pageTokenizer(model);
  const roles = rolesOf(model);
  const source = roles.source ? codec.encode(params.get('source') ?? '我喜欢吃苹果') : undefined;
  const prompt = roles.source ? [] : promptOfText(model, codec, params.get('input') ?? 'Hello');
  const maxNew = Number(params.get('max') ?? 6);

  // One forward pass with fixed inputs, whose logits a test compares with the same run in Node.
  const probe = probeInputs(model, source, prompt);
  const logits = (await runProgram(gpu, lowered, model, { ...probe, weights })).get(lowered.program.outputs[0]) as Float32Array;

  // Decoding with the KV cache where the spec allows it, as `mdl run` does.
  let decoding = lowered.cache.unsupported ? `recomputing every step (${lowered.cache.unsupported})` : 'KV cache';
  const cache = lowered.cache.unsupported ? undefined : new CachedDecoder(gpu, lowered, model, weights);
  const tokens = await generate(model, gpuForward(gpu, lowered, model, weights), {
    prompt,
    source,
    maxNew,
    greedy: true,
    cache,
    onCacheAbandoned: (reason) => (decoding = `left the KV cache: ${reason}`),
    onToken: (_id, step) => (output.textContent = `generating… ${step + 1}/${maxNew}`),
  });
  cache?.destroy();
  const generated = codec.decode(tokens);
  output.textContent = `source: ${params.get('source') ?? (roles.source ? '我喜欢吃苹果' : '')}\ntokens: ${tokens.join(' ')}\ntext:   ${JSON.stringify(generated)}\ndecoding: ${decoding}\n${weightsUrl ? `weights: ${weightsUrl}` : '(seeded weights: the text is noise)'}`;
  const masks = drawMasks(model);
  window.mdlResult = { model: model.name, adapter: gpu.describe(), input: source ?? prompt, tokens, text: generated, logits: Array.from(logits), masks, decoding };
  gpu.release();
}

/** The tokenizer.json at `?tokenizer=URL` (its tokenizer_config.json beside it, if served), else the byte-level one. */
async function pageTokenizer(model: CheckedModel): Promise<Tokenizer> {
  const url = params.get('tokenizer');
  if (!url) return byteTokenizer(tokenizerOptionsOf(model));
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  const configUrl = url.replace(/tokenizer\.json$/, 'tokenizer_config.json');
  const config = configUrl !== url ? await fetch(configUrl) : undefined;
  return tokenizerFromJsonText(await res.text(), config?.ok ? await config.text() : undefined, tokenizerOptionsOf(model), url);
}

/** Draws every mask used by an attention site at a small size, with padding in the last positions. */
function drawMasks(model: CheckedModel): string[] {
  const box = document.getElementById('masks')!;
  const drawn: string[] = [];
  for (const s of model.stacks) {
    for (const l of s.layers) {
      if (l.kind !== 'attention' || !l.mask?.policy || drawn.includes(l.mask.name)) continue;
      drawn.push(l.mask.name);
      const lq = 12;
      const lk = l.queryAxis === l.keyAxis ? 12 : 16;
      const data: Record<string, Int32Array> = {};
      const strides: Record<string, number> = {};
      for (const inp of model.inputs.values()) {
        const len = inp.axis === l.keyAxis ? lk : lq;
        if (inp.kind === 'lengths') data[inp.name] = Int32Array.from([len - 3]);
        else {
          data[inp.name] = Int32Array.from({ length: len }, (_, i) => (inp.kind === 'segments' ? Math.floor(i / 5) : i < len - 3 ? 9 : (inp.pad ?? 0)));
          strides[inp.name] = len;
        }
      }
      const rows = denseMask(toPredicate(l.mask.policy), { dims: { B: 1, Lq: lq, Lk: lk, [l.queryAxis]: lq, [l.keyAxis]: lk }, data, strides });
      const cell = 14;
      const canvas = document.createElement('canvas');
      canvas.width = lk * cell;
      canvas.height = lq * cell;
      canvas.dataset.mask = l.mask.name;
      const ctx = canvas.getContext('2d')!;
      rows.forEach((row, q) =>
        row.forEach((visible, k) => {
          ctx.fillStyle = visible ? '#1f4e79' : '#eceff3';
          ctx.fillRect(k * cell, q * cell, cell - 1, cell - 1);
        }),
      );
      const fig = document.createElement('figure');
      const cap = document.createElement('figcaption');
      cap.textContent = `${l.mask.name} = ${printPolicy(l.mask.policy)} — ${s.name} ${l.mode}-attention, queries along ${l.queryAxis}, keys along ${l.keyAxis}`;
      fig.append(canvas, cap);
      box.append(fig);
    }
  }
  return drawn;
}

main().catch((e: Error) => {
  window.mdlError = `${e.message}\n${e.stack ?? ""}`;
  status.textContent = `error: ${e.message}`;
});
