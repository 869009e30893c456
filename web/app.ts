// The playground page: a spec in an editor checked as you type, every mask drawn for dims you set, and generation
// on `navigator.gpu` with the same compiler and runtime modules as the CLI, bundled by esbuild. Each part reports
// its own errors, so a spec that cannot run still shows its masks and stays editable.
//
// Query parameters (page-params.ts): `spec` (a .mdl URL), `weights` (a safetensors URL; default seeded weights),
// `tokenizer` (a tokenizer.json URL; default the byte-level tokenizer), `source`, `input`, `max`, `seed`, `temperature`, `topk`, `topp`, `beams`, `run=0` (do not generate on load), and
// the mask fields under the names of mdl mask's flags (`dims=T=9`, `tokens=tgt=5,6,0`, `tiles=2x2`…).
// Without `spec`, the spec last edited here (kept in local storage) opens, else the translator.

import { checkSource, type CheckResult } from '../src/check/check.ts';
import type { CheckedModel } from '../src/check/model.ts';
import { lower } from '../src/lower/passes.ts';
import { acquireGpu, type GpuContext } from '../src/runtime/device.ts';
import { probeInputs, rolesOf } from '../src/runtime/generate.ts';
import { seededWeights } from '../src/runtime/init-weights.ts';
import { runProgram } from '../src/runtime/program.ts';
import { byteTokenizer, tokenizerOptionsOf, type Tokenizer } from '../src/runtime/tokenizer.ts';
import { tokenizerFromJsonText } from '../src/runtime/tokenizer-json.ts';
import { loadWeights } from '../src/runtime/weights.ts';
import { createEditor } from './editor.ts';
import { clearError, diagnosticLine, fetchBytes, fetchText, showError } from './errors.ts';
import { runGeneration, timingsLine, type Generated, type Loaded, type Strategy } from './generate-view.ts';
import { MaskInspector } from './mask-inspector.ts';
import { MASK_PARAM_NAMES, readParams } from './page-params.ts';
import { wireTrain } from './train-panel.ts';
import { weightsFile, type Trained } from './train-view.ts';

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
    /** The first generation after loading, with the probe logits. */
    mdlResult?: PageResult;
    /** Set when that first generation failed. */
    mdlError?: string;
    /** Every finished generation, last one last. */
    mdlRuns?: Generated[];
    /** The latest check of the editor's text. */
    mdlCheck?: { ok: boolean; diagnostics: string[] };
    mdlMasks?: MaskInspector;
    /** Set once the spec is open and its masks drawn (before any generation). */
    mdlReady?: boolean;
    mdlSpecText?: () => string;
  }
}

const $ = <T extends HTMLElement = HTMLElement>(id: string) => document.getElementById(id) as T;
const STORAGE_KEY = 'mdl-playground-spec';
const DEFAULT_SPEC = 'specs/translator.mdl';
const DEFAULT_SOURCE = '我喜欢吃苹果';
const DEFAULT_PROMPT = 'Hello';

const { params, problems } = readParams(location.search);
if (problems.length) showError($('params-error'), 'query parameters not used as given', problems);

// The mask fields live in the page's address too, so that a link shows the same pictures.
const inspector = new MaskInspector($('mask-form'), $('masks'), (query) => {
  const url = new URL(location.href);
  for (const key of MASK_PARAM_NAMES) url.searchParams.delete(key);
  for (const [key, value] of query) url.searchParams.append(key, value);
  history.replaceState(null, '', url);
});
let addressRead = false;
window.mdlMasks = inspector;
let specName = DEFAULT_SPEC;
let model: CheckedModel | undefined;
let checkedText = '';

/** Shows the diagnostics of a check under the editor, one item each, and draws the masks of a model that checks. */
function onChecked(result: CheckResult, text: string): void {
  const list = $('diagnostics');
  list.replaceChildren();
  for (const d of result.diagnostics) {
    const li = document.createElement('li');
    li.className = `diag-${d.severity}`;
    li.dataset.line = String(d.span.line);
    li.dataset.code = d.code;
    li.textContent = diagnosticLine(d);
    list.append(li);
  }
  window.mdlCheck = { ok: !!result.model, diagnostics: result.diagnostics.map(diagnosticLine) };
  if (text === checkedText) return;
  checkedText = text;
  if (result.model) {
    model = result.model;
    loaded = undefined;
    if (!addressRead) {
      // The first spec that checks takes the mask fields from the address; names it lacks are reported.
      addressRead = true;
      const unknown = inspector.setFromAddress(new URLSearchParams(location.search), result.model);
      if (unknown.length) showError($('params-error'), 'query parameters not used as given', [...problems, ...unknown]);
    }
    inspector.show(result.model, specName);
    showRoles(result.model);
    $('status').textContent = `${result.model.name}: checked`;
  }
}

const editor = createEditor($('editor'), '', () => specName, (result, text) => {
  onChecked(result, text);
  // An edited spec is kept here, so that reloading the page (without ?spec=) brings it back.
  if (text !== openedText) {
    localStorage.setItem(STORAGE_KEY, JSON.stringify({ name: specName, text }));
    const url = new URL(location.href);
    if (url.searchParams.has('spec')) {
      url.searchParams.delete('spec');
      history.replaceState(null, '', url);
    }
  }
}, () => opened);
let opened = false;
window.mdlSpecText = () => editor.text();
let openedText = '';

/** Puts a spec in the editor and checks it at once (typing is checked after a pause). */
function openSpec(name: string, text: string): void {
  specName = name;
  openedText = text;
  opened = true;
  $('spec-name').textContent = name;
  editor.setText(text);
  onChecked(checkSource(text, name), text);
}

async function openUrl(url: string): Promise<void> {
  clearError($('spec-error'));
  try {
    openSpec(url, await fetchText(url));
    const page = new URL(location.href);
    page.searchParams.set('spec', url);
    history.replaceState(null, '', page);
    localStorage.removeItem(STORAGE_KEY);
  } catch (e) {
    showError($('spec-error'), 'the spec could not be opened', e);
    throw e;
  }
}

async function fillExamples(): Promise<void> {
  const select = $<HTMLSelectElement>('example');
  try {
    const names = JSON.parse(await fetchText('specs/index.json')) as string[];
    select.append(new Option('(choose)', ''), ...names.map((n) => new Option(n, `specs/${n}`)));
  } catch (e) {
    showError($('spec-error'), 'the list of examples could not be read', e);
  }
  select.addEventListener('change', () => select.value && void openUrl(select.value).catch(() => undefined));
  $('open-url').addEventListener('click', () => void openUrl($<HTMLInputElement>('spec-url').value.trim()).catch(() => undefined));
  $<HTMLInputElement>('spec-file').addEventListener('change', (ev) => {
    const file = (ev.target as HTMLInputElement).files?.[0];
    if (file) void openFile(file);
  });
  // A file dropped onto the editor opens as if chosen. Caught before CodeMirror, whose own drop handling would insert
  // the file's text at the drop point, inside the spec already there.
  const box = $('editor');
  const carriesFiles = (ev: DragEvent) => !!ev.dataTransfer?.types.includes('Files');
  box.addEventListener('dragover', (ev) => carriesFiles(ev) && ev.preventDefault(), { capture: true });
  box.addEventListener('drop', (ev) => {
    const file = ev.dataTransfer?.files[0];
    if (!file) return;
    ev.preventDefault();
    ev.stopPropagation();
    void openFile(file);
  }, { capture: true });
}

/** Opens a local file (chosen or dropped) and keeps it like an edit, so a reload brings it back. */
async function openFile(file: File): Promise<void> {
  clearError($('spec-error'));
  openSpec(file.name, await file.text());
  localStorage.setItem(STORAGE_KEY, JSON.stringify({ name: file.name, text: openedText }));
  const url = new URL(location.href);
  if (url.searchParams.has('spec')) {
    url.searchParams.delete('spec');
    history.replaceState(null, '', url);
  }
}

/** Only the boxes the model reads: a source box for an encoder-decoder, a prompt box otherwise. */
function showRoles(m: CheckedModel): void {
  let hasSource = false;
  try {
    hasSource = !!rolesOf(m).source;
  } catch {
    // A model without an output stack cannot generate; the run reports why.
  }
  $('source-field').hidden = !hasSource;
  $('prompt-field').hidden = hasSource;
}

let gpu: GpuContext | undefined;
let loaded: Loaded | undefined;

/** The lowered model, a device, weights and a tokenizer for the current spec (kept until the spec changes). */
async function load(m: CheckedModel): Promise<Loaded> {
  if (loaded?.model === m) return loaded;
  const lowered = lower(m);
  gpu ??= await acquireGpu({ skipWorkgroupZeroInit: true });
  const codec = await pageTokenizer(m);
  // A safetensors file from `?weights=URL` (mdl serve --weights FILE serves one at /weights.safetensors), checked
  // against the spec as in Node; seeded weights otherwise.
  // Weights trained on this page are checked against the spec like a file (they are one, written in memory).
  const weights =
    trained?.model === m && $<HTMLInputElement>('train-use').checked
      ? loadWeights(weightsFile(trained), lowered.ir, 'the weights trained here')
      : params.weights
        ? loadWeights(await fetchBytes(params.weights), lowered.ir, params.weights)
        : seededWeights(lowered.ir, Number($<HTMLInputElement>('gen-seed').value));
  loaded = { model: m, lowered, gpu, weights, codec };
  $('status').textContent = `${m.name}: ${lowered.program.steps.length} kernel launches on ${gpu.describe()}`;
  return loaded;
}

/** The tokenizer.json at `?tokenizer=URL` (with its tokenizer_config.json, when one is served beside it), else the byte-level one. */
async function pageTokenizer(m: CheckedModel): Promise<Tokenizer> {
  if (!params.tokenizer) return byteTokenizer(tokenizerOptionsOf(m));
  const configUrl = params.tokenizer.replace(/tokenizer\.json$/, 'tokenizer_config.json');
  const config = configUrl !== params.tokenizer ? await fetch(configUrl) : undefined;
  return tokenizerFromJsonText(await fetchText(params.tokenizer), config?.ok ? await config.text() : undefined, tokenizerOptionsOf(m), params.tokenizer);
}

function strategy(): Strategy {
  const num = (id: string) => Number($<HTMLInputElement>(id).value);
  const kind = $<HTMLSelectElement>('gen-strategy').value as Strategy['kind'];
  const s: Strategy = { kind, maxNew: num('gen-max'), seed: num('gen-seed') };
  const bad: string[] = [];
  if (!Number.isInteger(s.maxNew) || s.maxNew < 1) bad.push(`max new tokens must be a whole number of at least 1, not '${$<HTMLInputElement>('gen-max').value}'`);
  if (!Number.isInteger(s.seed) || s.seed < 0) bad.push(`seed must be a whole number of at least 0, not '${$<HTMLInputElement>('gen-seed').value}'`);
  if (kind === 'sample') {
    s.temperature = num('gen-temperature');
    s.topK = num('gen-topk');
    s.topP = num('gen-topp');
    if (!(s.temperature > 0)) bad.push(`temperature must be above 0, not '${$<HTMLInputElement>('gen-temperature').value}'`);
    if (!Number.isInteger(s.topK) || s.topK < 0) bad.push(`top-k must be a whole number (0: all tokens), not '${$<HTMLInputElement>('gen-topk').value}'`);
    if (!(s.topP > 0 && s.topP <= 1)) bad.push(`top-p must be in (0, 1], not '${$<HTMLInputElement>('gen-topp').value}'`);
  }
  if (kind === 'beam') {
    s.beams = num('gen-beams');
    if (!Number.isInteger(s.beams) || s.beams < 1) bad.push(`beams must be a whole number of at least 1, not '${$<HTMLInputElement>('gen-beams').value}'`);
  }
  if (bad.length) throw bad;
  return s;
}

let stopping = false;
let trained: Trained | undefined;

/** One generation from the controls; the first one after loading also records the probe logits for tests. */
async function generateNow(first: boolean): Promise<void> {
  const box = $('gen-error');
  clearError(box);
  const tokensBox = $('gen-tokens');
  tokensBox.replaceChildren();
  $('timings').textContent = '';
  $('output').textContent = '';
  if (!model) throw new Error('the spec has errors (see the diagnostics under the editor)');
  const m = model;
  const s = strategy();
  const l = await load(m);
  const roles = rolesOf(m);
  const source = $<HTMLInputElement>('gen-source').value;
  const prompt = $<HTMLInputElement>('gen-prompt').value;
  stopping = false;
  $<HTMLButtonElement>('gen-run').disabled = true;
  $<HTMLButtonElement>('gen-stop').disabled = false;
  try {
    const g = await runGeneration(l, { source, prompt }, s, (id, text) => {
      const span = document.createElement('span');
      span.textContent = String(id);
      tokensBox.append(span);
      $('output').textContent = `text so far: ${JSON.stringify(text)}`;
    }, () => stopping);
    $('timings').textContent = timingsLine(g, s.kind === 'beam');
    const given = roles.source ? `source: ${source}` : `prompt: ${prompt}`;
    const weightsLine = trained?.model === m && $<HTMLInputElement>('train-use').checked ? `weights: trained here (${trained.progress.step} steps)` : params.weights ? `weights: ${params.weights}` : '(seeded weights: the text is noise)';
    // Stop ends the run after the step in progress; say so, since fewer tokens than asked can also mean an end token.
    const stoppedLine = stopping ? `\nstopped after ${g.tokens.length} of ${s.maxNew} tokens` : '';
    $('output').textContent = `${given}\ntokens: ${g.tokens.join(' ')}\ntext:   ${JSON.stringify(g.text)}\ndecoding: ${g.decoding}\n${weightsLine}${stoppedLine}`;
    (window.mdlRuns ??= []).push(g);
    if (first) {
      // One forward pass with fixed inputs, whose logits a test compares with the same run in Node.
      const input = l.codec.encode(roles.source ? source : prompt);
      const probe = probeInputs(m, roles.source ? input : undefined, roles.source ? [] : input);
      const logits = (await runProgram(l.gpu, l.lowered, m, { ...probe, weights: l.weights })).get(l.lowered.program.outputs[0]) as Float32Array;
      window.mdlResult = { model: m.name, adapter: l.gpu.describe(), input, tokens: g.tokens, text: g.text, logits: Array.from(logits), masks: inspector.drawn.map((d) => d.mask), decoding: g.decoding };
    }
  } finally {
    $<HTMLButtonElement>('gen-run').disabled = false;
    $<HTMLButtonElement>('gen-stop').disabled = true;
  }
}

function wireGenerate(): void {
  $<HTMLInputElement>('gen-source').value = params.source ?? DEFAULT_SOURCE;
  $<HTMLInputElement>('gen-prompt').value = params.input ?? DEFAULT_PROMPT;
  $<HTMLInputElement>('gen-max').value = String(params.max);
  $<HTMLInputElement>('gen-seed').value = String(params.seed);
  if (params.temperature !== undefined || params.topK !== undefined || params.topP !== undefined) $<HTMLSelectElement>('gen-strategy').value = 'sample';
  if (params.beams !== undefined) $<HTMLSelectElement>('gen-strategy').value = 'beam';
  if (params.temperature !== undefined) $<HTMLInputElement>('gen-temperature').value = String(params.temperature);
  if (params.topK !== undefined) $<HTMLInputElement>('gen-topk').value = String(params.topK);
  if (params.topP !== undefined) $<HTMLInputElement>('gen-topp').value = String(params.topP);
  if (params.beams !== undefined) $<HTMLInputElement>('gen-beams').value = String(params.beams);
  // Seeded weights depend on the seed: a new seed means new weights.
  $<HTMLInputElement>('gen-seed').addEventListener('change', () => (loaded = undefined));
  $('gen-run').addEventListener('click', () => void generateNow(false).catch((e) => showError($('gen-error'), 'generation failed', e)));
  $('gen-stop').addEventListener('click', () => (stopping = true));
}

async function main(): Promise<void> {
  wireGenerate();
  wireTrain(
    () => model,
    (t) => {
      trained = t;
      loaded = undefined;
    },
    () => (loaded = undefined),
    async () => (gpu ??= await acquireGpu({ skipWorkgroupZeroInit: true })),
    pageTokenizer,
  );
  const examples = fillExamples();
  const stored = localStorage.getItem(STORAGE_KEY);
  try {
    if (params.spec) await openUrl(params.spec);
    else if (stored) {
      const { name, text } = JSON.parse(stored) as { name: string; text: string };
      openSpec(name, text);
      openedText = '';
    } else await openUrl(DEFAULT_SPEC);
  } finally {
    // Ready also when the spec could not be opened: the page then shows why, and the editor takes a spec.
    await examples;
    window.mdlReady = true;
  }
  if (!model) throw new Error('the spec has errors (see the diagnostics under the editor)');
  $('status').textContent = `${model.name}: checked`;
  if (params.run) {
    try {
      await generateNow(true);
    } catch (e) {
      showError($('gen-error'), 'generation failed', e);
      throw e;
    }
  }
}

main().catch((e: unknown) => {
  window.mdlError = e instanceof Error ? `${e.message}\n${e.stack ?? ''}` : Array.isArray(e) ? e.join('\n') : String(e);
  $('status').textContent = 'stopped: see the message above';
});
