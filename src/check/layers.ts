// Embedding, stacks, layers and the output projection: the shape rules of a transformer.
//
// The rules checked here are the ones that otherwise surface as a shape error deep inside a kernel, or worse as a
// silently wrong model: heads that do not divide the width, grouped heads that do not divide the heads, a memory
// of the wrong width, a tied projection whose table is not the embedding's shape.

import type { AttentionLayer, EmbedDecl, Expr, FfnLayer, Model, Option, StackDecl } from '../lang/ast.ts';
import type { DiagnosticBag } from '../lang/diagnostics.ts';
import type { Activation, AttentionInfo, CheckedModel, EmbedInfo, FfnInfo, LayerInfo, NormType, OutputInfo, StackInfo } from './model.ts';
import { checkEmbed, rotaryDims } from './embed.ts';
import { boolValue, namedArgs, numberValue, wordValue } from './option-values.ts';
import { dimExpr, suggest, type Declaration } from './scope.ts';
import { sym } from './sym.ts';

const ACTIVATIONS: Activation[] = ['relu', 'gelu', 'gelu_erf', 'silu', 'swiglu', 'geglu'];

export class LayerChecker {
  constructor(
    private readonly m: CheckedModel,
    private readonly names: Map<string, Declaration>,
    private readonly bag: DiagnosticBag,
  ) {}

  /** A whole positive number known at compile time (layer counts, heads, widths). */
  concrete(e: Expr, what: string): number | undefined {
    const v = dimExpr(e, (n) => this.m.dims.get(n), this.names, this.bag);
    if (!v) return undefined;
    const c = sym.asConstant(v);
    if (c === undefined) {
      this.bag.error('E306', e.span, `${what} must be known at compile time, but it is ${sym.print(v)}`, 'give it a number, or a dim defined by numbers');
      return undefined;
    }
    if (c <= 0) {
      this.bag.error('E309', e.span, `${what} must be at least 1, got ${c}`);
      return undefined;
    }
    return c;
  }

  embed(model: Model): void {
    checkEmbed(model, this.m, this.bag, (e, what) => this.concrete(e, what));
  }

  stack(decl: StackDecl): StackInfo | undefined {
    const repeat = this.concrete(decl.repeat, 'the layer count');
    const src = this.m.inputs.get(decl.source.text);
    const known = this.names.get(decl.source.text);
    if (!src) {
      if (!known) this.bag.error('E202', decl.source.span, `unknown input '${decl.source.text}'`, suggest(decl.source.text, this.names, 'input'));
      // An input that failed its own check has been reported already: say nothing more about it.
      else if (known.kind !== 'input' && known.kind !== 'decoder input') this.bag.error('E508', decl.source.span, `a stack runs over a tokens, decoder or features input, not a ${known.kind}`);
      return undefined;
    }
    if (src.kind !== 'tokens' && src.kind !== 'features') {
      this.bag.error('E508', decl.source.span, `a stack runs over tokens or features, but '${src.name}' holds ${src.kind}`, 'use it in a mask instead');
      return undefined;
    }
    const width = this.m.dModel ?? 0;
    if (src.kind === 'tokens' && !this.m.embed) this.bag.error('E510', decl.source.span, `stack '${decl.name.text}' reads tokens, but the model has no embedding`, 'add `embed tokens: learned(vocab, d_model), positions: sinusoidal`');
    if (src.kind === 'features' && src.width && this.m.dModel && sym.asConstant(src.width) !== this.m.dModel) {
      this.bag.error('E303', decl.source.span, `features '${src.name}' are ${sym.print(src.width)} wide but the model width is ${this.m.dModel}`, 'features feed the stack directly: make their width the model width');
    }
    const norm = this.normOption(decl.options);
    const info: StackInfo = { name: decl.name.text, repeat: repeat ?? 1, source: src.name, axis: src.axis ?? '?', width, norm, eps: 1e-5, bias: true, layers: [], span: decl.name.span };
    for (const o of decl.options) {
      if (o.key.text === 'norm') continue;
      if (o.key.text === 'eps') info.eps = numberValue(o.values[0], (n) => this.m.dims.get(n), this.bag, { code: 'E522', what: 'the norm epsilon', hint: 'a small positive number, e.g. eps = 1e-5 (default) or eps = 1e-6 (T5, Llama)', above: 0, max: 1 }) ?? info.eps;
      else if (o.key.text === 'bias') info.bias = boolValue(o, this.bag, 'bias') ?? true;
      else if (o.key.text === 'embed_norm') {
        const w = wordValue(o, ['none', 'layer', 'rms'] as const, this.bag, 'E527', 'the embedding norm');
        if (w && w !== 'none') info.embedNorm = w;
      } else if (o.key.text === 'positions') info.positions = this.stackPositions(o);
      else this.bag.error('E506', o.key.span, `unknown stack option '${o.key.text}'`, 'stacks take norm = pre layer | post layer | pre rms | post rms | none, eps = E, bias = true | false, embed_norm = none | layer | rms, positions = learned(MAX, offset = K)');
    }
    if (info.positions && this.m.embed?.positions === 'rotary') this.bag.error('E530', info.span, `stack '${info.name}' has its own learned positions, but the model's are rotary`, 'rotary positions act in every attention; set `positions: none` on the embed line to give stacks their own tables');
    if (info.positions && src.kind !== 'tokens') this.bag.error('E530', decl.source.span, `stack '${info.name}' has its own positions but reads features '${src.name}', which are not embedded`, 'own positions belong to a stack over tokens; drop `positions =`');
    const table = info.positions ?? (this.m.embed?.positions === 'learned' && this.m.embed.maxPositions !== undefined ? { maxPositions: this.m.embed.maxPositions, offset: this.m.embed.positionOffset } : undefined);
    if (src.kind === 'tokens' && table) {
      const axis = src.axis ? this.m.dims.get(src.axis) : undefined;
      const longest = axis?.concrete ?? axis?.bound;
      const covered = table.maxPositions - table.offset;
      if (longest === undefined || longest > covered) {
        const reach = longest === undefined ? 'has no bound' : `may reach ${longest}`;
        const rows = table.offset ? ` (${table.maxPositions} rows from offset ${table.offset})` : '';
        this.bag.error('E314', decl.source.span, `learned positions cover ${covered} positions${rows}, but ${src.axis} ${reach}`, `bound it: \`dim ${src.axis} <= ${covered}\`, or use sinusoidal or rotary positions`);
      }
    }
    for (const layer of decl.layers) {
      let li: LayerInfo | undefined;
      if (layer.kind === 'attention') li = this.attention(layer, info);
      else if (layer.kind === 'ffn') li = this.ffn(layer, info);
      else if (layer.type.text === 'layer' || layer.type.text === 'rms') li = { kind: 'norm', type: layer.type.text, span: layer.span };
      else this.bag.error('E504', layer.type.span, `unknown norm '${layer.type.text}'`, 'norms are `layer` or `rms`');
      if (li) info.layers.push(li);
    }
    if (decl.layers.length === 0) this.bag.error('E505', decl.name.span, `stack '${info.name}' has no layers`, 'add attention and ffn layers between the braces');
    return repeat === undefined ? undefined : info;
  }

  /** `positions = learned(MAX, offset = K)`: the stack's own table; other schemes stay model-wide on the embed line. */
  private stackPositions(o: Option): StackInfo['positions'] {
    const v = o.values[0];
    const positional = v?.kind === 'call' ? v.args.filter((a) => !a.name) : [];
    if (o.values.length !== 1 || v.kind !== 'call' || v.callee.text !== 'learned' || positional.length !== 1) {
      this.bag.error('E530', (v ?? o.key).span, 'a stack\'s own positions are learned(MAX) or learned(MAX, offset = K)', 'for example `positions = learned(context, offset = 2)`; sinusoidal and rotary positions go on the embed line');
      return undefined;
    }
    const max = this.concrete(positional[0].value, 'the number of learned positions');
    let offset = 0;
    for (const a of namedArgs(v)) {
      if (a.key.text !== 'offset') this.bag.error('E506', a.key.span, `learned(…) positions have no argument '${a.key.text}'`, 'learned positions take offset = K (default 0)');
      else offset = numberValue(a.values[0], (n) => this.m.dims.get(n), this.bag, { code: 'E526', what: 'the position offset', hint: 'a whole number of table rows to skip, e.g. offset = 2 (BART)', min: 0, integer: true }) ?? 0;
    }
    return max === undefined ? undefined : { maxPositions: max, offset };
  }

  private normOption(options: Option[]): StackInfo['norm'] {
    const o = opt(options, 'norm');
    if (!o) return { place: 'pre', type: 'layer' };
    const words = o.values.map((v) => (v.kind === 'ref' ? v.name : '?'));
    if (words.length === 1 && words[0] === 'none') return { place: 'none', type: 'layer' };
    const [place, type] = words;
    if ((place === 'pre' || place === 'post') && (type === 'layer' || type === 'rms') && words.length === 2) return { place, type: type as NormType };
    this.bag.error('E504', o.span, `unknown norm arrangement '${words.join(' ')}'`, 'write norm = pre layer, post layer, pre rms, post rms or none');
    return { place: 'pre', type: 'layer' };
  }

  private attention(layer: AttentionLayer, stack: StackInfo): AttentionInfo | undefined {
    const mode = layer.mode.text;
    if (mode !== 'self' && mode !== 'cross') {
      this.bag.error('E501', layer.mode.span, `unknown attention '${mode}'`, 'attention is `self` or `cross`');
      return undefined;
    }
    const allowed = ['heads', 'kv_heads', 'mask', 'score', 'bias', 'scale', ...(mode === 'cross' ? ['memory'] : [])];
    for (const o of layer.options) if (!allowed.includes(o.key.text)) this.bag.error('E506', o.key.span, `unknown option '${o.key.text}' for ${mode}-attention`, `options: ${allowed.join(', ')}`);
    const headsOpt = opt(layer.options, 'heads');
    if (!headsOpt) {
      this.bag.error('E507', layer.span, 'attention needs a head count', 'add `heads = N`');
      return undefined;
    }
    const heads = this.concrete(headsOpt.values[0], 'heads');
    const kvOpt = opt(layer.options, 'kv_heads');
    const kvHeads = kvOpt ? this.concrete(kvOpt.values[0], 'kv_heads') : heads;
    const width = stack.width;
    // Each rule is checked on its own so that one run reports every problem of the line.
    let ok = heads !== undefined && kvHeads !== undefined;
    if (heads !== undefined && width && width % heads !== 0) {
      this.bag.error('E301', headsOpt.values[0].span, `the model width ${width} is not divisible by ${heads} heads`, `choose heads dividing ${width}, e.g. ${divisorsNear(width, heads)}`);
      ok = false;
    }
    if (heads !== undefined && kvHeads !== undefined && heads % kvHeads !== 0) {
      this.bag.error('E302', (kvOpt ?? headsOpt).values[0].span, `${heads} heads cannot be shared evenly by ${kvHeads} key/value heads`, `kv_heads must divide heads, e.g. ${divisorsNear(heads, kvHeads)}`);
      ok = false;
    }
    if (heads !== undefined && width && width % heads === 0 && !fitsAttentionKernel(width / heads)) {
      const fits = divisors(width).filter((h) => fitsAttentionKernel(width / h));
      fits.sort((a, b) => Math.abs(a - heads) - Math.abs(b - heads));
      this.bag.error(
        'E315',
        headsOpt.values[0].span,
        `each of the ${heads} heads is ${width / heads} wide (${width} / ${heads}), but attention kernels take heads ${MIN_HEAD_DIM} to ${MAX_HEAD_DIM} wide, in steps of 4`,
        fits.length ? `choose heads = ${fits.slice(0, 3).sort((a, b) => a - b).join(', ')}` : `choose a model width that is a multiple of 4 heads up to ${MAX_HEAD_DIM} wide`,
      );
      ok = false;
    }
    const headDim = width / (heads ?? 1);
    const info: AttentionInfo = { kind: 'attention', mode, heads: heads ?? 1, kvHeads: kvHeads ?? 1, headDim, queryAxis: stack.axis, keyAxis: stack.axis, bias: stack.bias, scale: 1 / Math.sqrt(headDim), span: layer.span };
    const biasOpt = opt(layer.options, 'bias');
    if (biasOpt) info.bias = boolValue(biasOpt, this.bag, 'bias') ?? info.bias;
    const scaleOpt = opt(layer.options, 'scale');
    if (scaleOpt) info.scale = numberValue(scaleOpt.values[0], (n) => this.m.dims.get(n), this.bag, { code: 'E523', what: 'the attention scale', hint: 'a positive number multiplying q·k, e.g. scale = 1 (T5); the default is 1 / sqrt(head width)', above: 0 }) ?? info.scale;
    const rotary = this.m.embed?.positions === 'rotary' ? this.m.embed.rotary : undefined;
    if (ok && rotary && rotaryDims(rotary, headDim) === undefined) {
      this.bag.error('E524', layer.span, `rotary fraction ${rotary.fraction} of ${headDim}-wide heads is ${rotary.fraction * headDim} dims, not a whole even number`, 'choose a fraction that rotates an even number of each head\'s dims');
      ok = false;
    }
    if (mode === 'cross' && !this.memory(layer, info, stack)) ok = false;
    const maskOpt = opt(layer.options, 'mask');
    if (maskOpt) {
      const e = maskOpt.values[0];
      if (e.kind === 'ref' && this.names.get(e.name)?.kind === 'mask') info.mask = this.m.masks.get(e.name);
      else if (e.kind === 'ref' && this.names.has(e.name) && this.names.get(e.name)?.kind !== 'mask') this.bag.error('E203', e.span, `'${e.name}' is a ${this.names.get(e.name)?.kind}, not a mask`);
      else info.mask = { name: `${stack.name}.${mode}${stack.layers.length}.mask`, expr: e, span: e.span };
    }
    const scoreOpt = opt(layer.options, 'score');
    if (scoreOpt) {
      const e = scoreOpt.values[0];
      const s = e.kind === 'ref' ? this.m.scores.get(e.name) : undefined;
      if (s) info.score = s;
      else if (e.kind === 'ref' && !this.names.has(e.name)) this.bag.error('E202', e.span, `unknown score '${e.name}'`, suggest(e.name, this.names, 'score'));
      else this.bag.error('E203', e.span, 'score takes the name of a `score` declaration');
    }
    return ok ? info : undefined;
  }

  private memory(layer: AttentionLayer, info: AttentionInfo, stack: StackInfo): boolean {
    const memOpt = opt(layer.options, 'memory');
    if (!memOpt || memOpt.values[0].kind !== 'ref') {
      this.bag.error('E502', layer.span, 'cross-attention needs a memory to attend to', 'add `memory = encoder` (a stack) or a features input');
      return false;
    }
    const ref = memOpt.values[0];
    const name = ref.name;
    info.memory = name;
    if (name === stack.name) {
      this.bag.error('E204', ref.span, `stack '${name}' cannot attend to its own output`, 'cross-attention reads an earlier stack');
      return false;
    }
    const memStack = this.m.stacks.find((s) => s.name === name);
    const memInput = this.m.inputs.get(name);
    if (memStack) {
      info.keyAxis = memStack.axis;
      if (memStack.width !== stack.width) {
        this.bag.error('E303', ref.span, `memory '${name}' is ${memStack.width} wide but this stack is ${stack.width} wide`, 'cross-attention keys and values must have the model width');
        return false;
      }
      return true;
    }
    if (memInput?.kind === 'features') {
      info.keyAxis = memInput.axis ?? '?';
      const w = memInput.width && sym.asConstant(memInput.width);
      if (w !== stack.width) {
        this.bag.error('E303', ref.span, `memory '${name}' is ${memInput.width ? sym.print(memInput.width) : '?'} wide but this stack is ${stack.width} wide`, 'cross-attention keys and values must have the model width');
        return false;
      }
      return true;
    }
    const decl = this.names.get(name);
    if (decl?.kind === 'stack' && decl.name.span.start > stack.span.start) this.bag.error('E512', ref.span, `memory '${name}' is declared after this stack`, 'declare the memory stack first');
    else if (decl?.kind === 'stack' || decl?.kind === 'input') return false; // failed its own check, already reported
    else if (decl) this.bag.error('E203', ref.span, `'${name}' is a ${decl.kind}; a memory is a stack or a features input`);
    else this.bag.error('E202', ref.span, `unknown memory '${name}'`, suggest(name, this.names, 'stack'));
    return false;
  }

  private ffn(layer: FfnLayer, stack: StackInfo): FfnInfo | undefined {
    const width = this.concrete(layer.width, 'the ffn width');
    const act = layer.activation.text as Activation;
    if (!ACTIVATIONS.includes(act)) {
      this.bag.error('E503', layer.activation.span, `unknown activation '${layer.activation.text}'`, `activations: ${ACTIVATIONS.join(', ')}`);
      return undefined;
    }
    let bias = stack.bias;
    for (const o of layer.options) {
      if (o.key.text === 'bias') bias = boolValue(o, this.bag, 'bias') ?? bias;
      else this.bag.error('E506', o.key.span, `unknown ffn option '${o.key.text}'`, 'an ffn line is `ffn WIDTH ACTIVATION` and takes bias = true | false');
    }
    return width === undefined ? undefined : { kind: 'ffn', width, activation: act, bias, span: layer.span };
  }

  output(model: Model): void {
    // Without a stack there is nothing to compute an output from. After a syntax error the parser may have dropped
    // a stack (or the model's name), so the syntax error alone is reported.
    if (!model.items.some((i) => i.kind === 'stack') && !this.bag.items.some((d) => d.code.startsWith('E1'))) {
      this.bag.error('E513', model.name.span, `model '${model.name.text}' has no stack, so it has nothing to output`, 'add a stack over an input, e.g. `stack decoder x 2 on ids { attention self heads = 4 mask = causal … }`, and `output logits = project(decoder, vocab)`');
    }
    for (const item of model.items) {
      if (item.kind !== 'output') continue;
      const call = item.value;
      if (call.callee.text !== 'project') {
        this.bag.error('E509', call.span, 'the output is project(STACK, VOCAB) or project(STACK, VOCAB, tied = tokens)');
        continue;
      }
      const [fromArg, vocabArg] = call.args.filter((a) => !a.name);
      if (!fromArg || fromArg.value.kind !== 'ref' || !vocabArg) {
        this.bag.error('E509', call.span, 'project takes the stack to read and the vocabulary size', 'for example `project(decoder, vocab, tied = tokens)`');
        continue;
      }
      const from = this.m.stacks.find((s) => s.name === (fromArg.value as { name: string }).name);
      if (!from && this.names.get((fromArg.value as { name: string }).name)?.kind === 'stack') continue; // reported with the stack
      if (!from) {
        this.bag.error('E509', fromArg.value.span, `'${(fromArg.value as { name: string }).name}' is not a stack`, suggest((fromArg.value as { name: string }).name, this.names, 'stack'));
        continue;
      }
      const vocab = this.concrete(vocabArg.value, 'the output vocabulary');
      const tiedArg = call.args.find((a) => a.name?.text === 'tied');
      for (const a of call.args) if (a.name && a.name.text !== 'tied' && a.name.text !== 'bias') this.bag.error('E506', a.name.span, `project has no argument '${a.name.text}'`, 'project takes tied = tokens and bias = true | false');
      const biasArg = call.args.find((a) => a.name?.text === 'bias');
      const bias = biasArg ? (boolValue({ key: biasArg.name!, values: [biasArg.value], span: biasArg.span }, this.bag, 'bias') ?? false) : false;
      const tied = !!tiedArg && !(tiedArg.value.kind === 'ref' && tiedArg.value.name === 'none');
      if (tied && tiedArg && !(tiedArg.value.kind === 'ref' && tiedArg.value.name === 'tokens')) {
        this.bag.error('E506', tiedArg.value.span, 'tied = tokens is the only table an output can share');
      }
      if (vocab === undefined) continue;
      if (tied && this.m.embed && (this.m.embed.vocab !== vocab || this.m.embed.width !== from.width)) {
        this.bag.error('E304', call.span, `a tied projection reuses the ${this.m.embed.vocab}×${this.m.embed.width} token table, but this output is ${vocab}×${from.width}`, 'project to the embedding vocabulary from a stack of the model width, or drop `tied`');
        continue;
      }
      const info: OutputInfo = { name: item.name.text, from: from.name, vocab, tied, bias, span: item.name.span };
      this.m.output = info;
    }
  }
}

function opt(options: Option[], key: string): Option | undefined {
  return options.find((o) => o.key.text === key);
}

/** Divisors of n closest to a wanted value, for hints. */
function divisorsNear(n: number, want: number): string {
  const ds = divisors(n);
  ds.sort((a, b) => Math.abs(a - want) - Math.abs(b - want));
  return ds.slice(0, 3).sort((a, b) => a - b).join(', ');
}

/** Every divisor of n, in O(sqrt n) steps (n may be absurdly large: a model width of 10^12 is still answered). */
function divisors(n: number): number[] {
  const ds: number[] = [];
  if (!Number.isSafeInteger(n) || n > 1e14) return ds;
  for (let d = 1; d * d <= n; d++) {
    if (n % d !== 0) continue;
    ds.push(d);
    if (d * d !== n) ds.push(n / d);
  }
  return ds;
}

/** Head widths the attention kernel (src/wgsl/attention.ts) stages in workgroup memory: multiples of 4 up to 256. */
const MIN_HEAD_DIM = 4;
const MAX_HEAD_DIM = 256;
function fitsAttentionKernel(headDim: number): boolean {
  return Number.isInteger(headDim) && headDim >= MIN_HEAD_DIM && headDim <= MAX_HEAD_DIM && headDim % 4 === 0;
}
