// `mdl demo [FILE]`: the quick start's first command. It takes a shipped spec (the translator by default) through
// the whole pipeline — check, lower to WGSL, draw a mask, generate on WebGPU — and shows what each stage made of it,
// with timings. The translator generates with the weights mdl trained for it (weights/, see demo-weights.ts) and says
// plainly whether each translation matches the reference; any other spec runs on seeded weights.

import type { Command } from 'commander';
import { join, relative } from 'node:path';
import { sym } from '../check/sym.ts';
import { lower } from '../lower/passes.ts';
import { DEMO_SOURCE, heldOutPairs, TRAINING_RECORD, trainedWeightsFor } from './demo-weights.ts';
import { drawMask } from './mask-command.ts';
import { requireModel } from './load.ts';
import { repoRoot } from './repo-root.ts';
import { runModel } from './run-command.ts';

export const DEFAULT_SPEC = join(repoRoot(), 'specs', 'translator.mdl');

/** The translation of DEMO_SOURCE in the training data. */
const DEMO_EXPECTED = 'I like to eat apples';
/** What the demo repeats from the weights' record (the rest is in weights/translator.txt). */
const SHOWN_FACTS = ['steps', 'trained in'];
/** Held-out pairs translated after it. */
const HELD_OUT_SHOWN = 3;
/** Target tokens to generate at most: the longest English sentence of data/zh-en is 44 bytes (fewer words), and eos ends it. */
const MAX_SENTENCE = 60;

/** Whether a translation is the reference, said plainly either way. */
function mark(text: string, reference: string): string {
  return text === reference ? '(right)' : `(wrong: the reference is "${reference}")`;
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run a shipped spec end to end (default: specs/translator.mdl)')
    .argument('[file]', '.mdl spec', DEFAULT_SPEC)
    .option('--backend <name>', 'gpu or cpu', 'gpu')
    .action(async (file: string, opts: { backend: string }) => {
      const say = (s: string) => process.stdout.write(`${s}\n`);
      const t0 = performance.now();
      const { model } = requireModel(file);
      const lowered = lower(model);
      const ms = (performance.now() - t0).toFixed(1);
      const params = lowered.ir.nodes.filter((n) => n.op === 'param').reduce((s, n) => s + n.shape.reduce((p, d) => p * (sym.asConstant(d) ?? 0), 1), 0);
      say(`1. checked and compiled ${model.name} in ${ms} ms: ${lowered.program.steps.length} kernel launches, ${lowered.rendered.kernels.length} distinct WGSL kernels, ${params.toLocaleString('en-US')} parameters`);
      say('2. attention sites and their masks (compiled into each attention kernel as a predicate):');
      for (const s of model.stacks) {
        for (const l of s.layers) {
          if (l.kind !== 'attention') continue;
          say(`   ${s.name} × ${s.repeat}: ${l.mode}-attention, ${l.heads} heads, queries along ${l.queryAxis}, keys along ${l.keyAxis}, mask ${l.mask?.name ?? 'none'}`);
        }
      }
      const decoderMask = model.stacks.at(-1)?.layers.find((l) => l.kind === 'attention' && l.mask);
      if (decoderMask?.kind === 'attention' && decoderMask.mask) {
        say(`3. the mask ${decoderMask.mask.name}, drawn for a target of 6 tokens and 2 of padding:`);
        const dims = [...model.dims.values()].filter((d) => d.kind === 'symbolic' && d.name !== 'B').map((d) => `${d.name}=8`).join(',');
        const text = drawMask(model, { mask: decoderMask.mask.name, dims, batch: '0', head: '0', tiles: '4x4', tokens: tokensFlag(model) });
        say(text.split('\n').slice(3).map((l) => `   ${l}`).join('\n').trimEnd());
      }
      const source = model.stacks.length > 1 ? DEMO_SOURCE : undefined;
      const trained = trainedWeightsFor(file, lowered.ir);
      const vocab = trained && !('missing' in trained) ? trained.vocab : undefined;
      const run = (src: string | undefined, weights: string | undefined, maxNew: string, progress: (line: string) => void) =>
        runModel(model, { source: src, input: src ? '' : 'Hello', maxNew, seed: '1', backend: opts.backend, weights, vocab }, progress);
      const toStderr = (line: string) => process.stderr.write(line);
      let r: Awaited<ReturnType<typeof run>>;
      if (trained && !('missing' in trained)) {
        say(`4. translating with weights that mdl trained: ${relative(process.cwd(), trained.path)}, vocabulary ${relative(process.cwd(), trained.vocab)} (${trained.facts.filter(([k]) => SHOWN_FACTS.includes(k)).map(([k, v]) => `${k} ${v}`).join('; ')})`);
        r = await run(source, trained.path, String(MAX_SENTENCE), toStderr);
        say(`   ${source} → ${r.text}   ${mark(r.text, DEMO_EXPECTED)}`);
        let right = r.text === DEMO_EXPECTED ? 1 : 0;
        const held = heldOutPairs(HELD_OUT_SHOWN);
        if (held.length) say(`   held out (the first ${held.length} pairs of data/zh-en/test.tsv; training never saw these sentences):`);
        for (const p of held) {
          const h = await run(p.source, trained.path, String(MAX_SENTENCE), () => {});
          say(`   ${p.source} → ${h.text}   ${mark(h.text, p.reference)}`);
          if (h.text === p.reference) right++;
        }
        const shown = held.length + 1;
        say(`   ${right} of ${shown} right${right < shown ? `: these weights do not translate well yet (${relative(process.cwd(), TRAINING_RECORD)} says how far they got)` : ''}`);
      } else {
        if (trained) say(`4. no trained weights: ${trained.missing}`);
        say(`${trained ? '  ' : '4.'} generating${source ? ` from the source ${source}` : ''} (seeded weights, so the text is noise; the point is the pipeline):`);
        r = await run(source, undefined, '8', toStderr);
        say(`   tokens ${r.tokens.join(' ')}`);
      }
      const t = r.timings;
      say(`   on ${r.adapter ?? 'the CPU reference'}: compile ${t.compileMs} ms, first token ${t.firstTokenMs} ms, prefill ${t.prefillTokensPerSecond} tok/s, decode ${t.decodeTokensPerSecond} tok/s`);
      say(`   ${r.decoding.cache ? 'decoded with a KV cache: the source encoded once, one new position per step' : `recomputed every position at every step (${r.decoding.reason})`}`);
      if (trained && !('missing' in trained)) say(`   to retrain these weights: ${trained.command}`);
      const shown = relative(process.cwd(), file) || file;
      say(`done in ${((performance.now() - t0) / 1000).toFixed(1)} s. Next: npx mdl mask ${shown} --mask NAME --dims …, npx mdl compile ${shown}, npx mdl run ${shown} --help`);
    });
}

/** Six real target tokens and two of padding, for the tokens input the decoder reads (if any). */
function tokensFlag(model: ReturnType<typeof requireModel>['model']): string[] {
  const target = [...model.inputs.values()].find((i) => [...model.inputs.values()].some((d) => d.shiftedFrom === i.name));
  return target ? [`${target.name}=10,11,12,13,14,15,${target.pad ?? 0},${target.pad ?? 0}`] : [];
}
