// BENCHMARKS.md from one run's results: the adapter and machine state first (every number below depends on them),
// then the targets, then each measurement with absolute times beside the ratios.

import { renderMatmulTilings } from './matmul-tilings.ts';
import { renderAttentionShapes } from './attention-shapes.ts';
import { renderPrefill } from './prefill.ts';
import { renderWindowSkip } from './window-skip.ts';
import { renderDecodeAttention, renderModelDecode } from './decode-report.ts';
import { renderChromium } from './chromium-report.ts';
import type { Timing } from '../src/tune/measure.ts';
import { COMPARATORS, MAX_DIFF, WRONG_RESULT, type AttentionRow, type Comparator } from './attention-suite.ts';
import { backwardRatios, renderBackwardTable, type BackwardRow } from './attention-backward.ts';
import { renderStartup } from './cli-startup.ts';
import { renderTraining } from './training.ts';
import { attentionFlops } from './data.ts';
import { DOCUMENTS, WINDOW } from './masks.ts';
import { fusedGflops, judgeTargets, largestLength, rowAt, speedup, timingOf, type BenchResults, type Section } from './results.ts';

const NAMES: Record<Comparator, string> = { unfused: 'unfused (3 dispatches)', tfjs: 'tfjs-webgpu', ort: 'ORT Web (WebGPU EP)' };

function ms(t: Timing | number | undefined): string {
  const v = typeof t === 'number' ? t : t?.median;
  if (v === undefined) return '—';
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

function spread(t: Timing): string {
  return `${ms(t.min)}–${ms(t.max)}, n=${t.samples.length}`;
}

function pct(x: number): string {
  return `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
}

function load(l: number[]): string {
  return l.map((x) => x.toFixed(2)).join(' / ');
}

function comparatorCell(row: AttentionRow, who: Comparator): string {
  const o = row.others[who];
  if ('skipped' in o) return o.skipped.startsWith('same dense work') ? '(as none)' : 'n/a';
  return `${ms(o.timing)} ms (${speedup(row, who)!.toFixed(2)}×)`;
}

function attentionTable(r: BenchResults, length: number): string[] {
  const rows = r.attention.filter((x) => x.length === length);
  const lines = [
    `| mask | visible pairs | tiles skipped | mdl fused | ${COMPARATORS.map((c) => NAMES[c]).join(' | ')} |`,
    `| --- | ---: | ---: | ---: | ${COMPARATORS.map(() => '---:').join(' | ')} |`,
  ];
  for (const row of rows) {
    const skipped = row.tiles.empty / row.tiles.total;
    lines.push(
      `| ${row.mask.label} | ${pct(row.visible)} | ${pct(skipped)} | ${ms(row.fused)} ms | ${COMPARATORS.map((c) => comparatorCell(row, c)).join(' | ')} |`,
    );
  }
  return lines;
}

function correctness(r: BenchResults): string[] {
  const worst: Record<string, number> = {};
  let oracle = 0;
  for (const row of r.attention) {
    if (row.oracleDiff !== undefined) oracle = Math.max(oracle, row.oracleDiff);
    for (const c of COMPARATORS) {
      const o = row.others[c];
      if ('maxDiff' in o) worst[c] = Math.max(worst[c] ?? 0, o.maxDiff);
    }
  }
  const smallest = Math.min(...r.attention.map((x) => x.length));
  return [
    `Every output was compared with mdl's before its time was kept (one more than ${MAX_DIFF} away drops the time). Largest absolute difference from mdl's fused output among the kept:`,
    `mdl fused vs the f64 CPU oracle at L=${smallest} ${oracle.toExponential(1)}; ` +
      COMPARATORS.filter((c) => worst[c] !== undefined).map((c) => `${NAMES[c]} ${worst[c].toExponential(1)}`).join(', ') +
      ` (ORT on a strided sample of the output, the others on all of it).`,
  ];
}

/** Comparators whose output disagreed with mdl's: their cells read n/a, and this says why. */
function wrongResults(r: BenchResults): string[] {
  return COMPARATORS.flatMap((c) => {
    const cases = r.attention.flatMap((row) => {
      const o = row.others[c];
      return 'skipped' in o && o.skipped.startsWith(WRONG_RESULT) ? [`L=${row.length} ${row.mask.label} (${o.skipped.slice(WRONG_RESULT.length + 2)})`] : [];
    });
    if (cases.length === 0) return [];
    return [`- **${NAMES[c]} computed something else** — output more than ${MAX_DIFF} from mdl's, so no time is reported (n/a) for: ${cases.join(', ')}.`];
  });
}

/** Comparators that failed to run a case (an exception, a browser timeout): their cells read n/a, and this says why. */
function failures(r: BenchResults): string[] {
  return COMPARATORS.flatMap((c) => {
    const cases = r.attention.flatMap((row) => {
      const o = row.others[c];
      return 'skipped' in o && o.skipped.startsWith('failed') ? [`L=${row.length} ${row.mask.label}: ${o.skipped.replace(/^failed: /, '')}`] : [];
    });
    return cases.length ? [`- **${NAMES[c]} failed** (n/a) at ${cases.join('; ')}.`] : [];
  });
}

function targets(r: BenchResults): string[] {
  const lines = ['| target | goal | measured | |', '| --- | --- | --- | --- |'];
  for (const t of judgeTargets(r)) lines.push(`| ${t.what} | ${t.goal} | ${t.measured} | ${t.met === undefined ? 'not measured' : t.met ? 'met' : '**missed**'} |`);
  return lines;
}

function maskSavings(r: BenchResults): string[] {
  const L = largestLength(r);
  const none = rowAt(r, L, 'none');
  if (!none) return [];
  const lines = [
    `At L=${L}, time with the mask over time without (ideal: the share of visible pairs, or the share of tiles that are not skipped at tile granularity):`,
    '',
    '| mask | time / none | tiles not skipped | visible pairs | EMPTY / PARTIAL / FULL tiles |',
    '| --- | ---: | ---: | ---: | --- |',
  ];
  for (const row of r.attention.filter((x) => x.length === L && x.mask.id !== 'none')) {
    const t = row.tiles;
    lines.push(`| ${row.mask.label} | ${(row.fused.median / none.fused.median).toFixed(2)} | ${pct(1 - t.empty / t.total)} | ${pct(row.visible)} | ${t.empty} / ${t.partial} / ${t.full} |`);
  }
  return lines;
}

function roofline(r: BenchResults): string[] {
  const L = largestLength(r);
  const none = rowAt(r, L, 'none');
  const g = none ? fusedGflops(none) : undefined;
  const lines = [
    '| measure | GFLOP/s | fused kernel as a share |',
    '| --- | ---: | ---: |',
    `| arithmetic peak (vec4 FMA chains, no memory traffic) | ${r.peak.gflops.toFixed(2)} | ${g ? pct(g / r.peak.gflops) : '—'} |`,
    `| best dense matmul, N=${r.matmul.n} (${r.matmul.best}) | ${r.matmul.gflops.toFixed(2)} | ${g ? pct(g / r.matmul.gflops) : '—'} |`,
    `| mdl fused attention, L=${L}, no mask (4·L²·D·H FLOPs) | ${g?.toFixed(2) ?? '—'} | |`,
  ];
  const others = Object.entries(r.matmul.candidates).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
  lines.push('', `Matmul candidates (GFLOP/s): ${others}.`);
  return lines;
}

function batchDecode(r: BenchResults): string[] {
  const b = r.batchDecode;
  if (!b) return ['Not measured in this run (`npm run bench -- --only batch` measures it alone).'];
  const base = b.rows.find((x) => x.batch === 1 && !x.mixed)?.decodeTokensPerSecond.median;
  const first = b.rows[0];
  const load = (l: number[]) => l.map((x) => x.toFixed(1)).join(', ');
  const lines = [
    `${first.prompt}-token prompts (a different one per row), ${first.newTokens} new tokens per row, greedy, the two-layer decoder of the section above (\`bench/batch-decode.ts\`). One run of the decode-step program per step for the whole batch, each row with its own region of the KV cache. Tokens/s counts every row's tokens; "decode" leaves out the first step (the prefill).`,
    '',
    `Measured ${b.date} on ${b.adapter}. Every batch size ran in turn, round after round, in one process, so the ratios compare runs made side by side under the same load; the machine was shared with other work (load average ${load(b.loadBefore)} before, ${load(b.loadAfter)} after), which moves the absolute numbers more than the ratios. Median (min–max) of ${first.decodeTokensPerSecond.samples.length} rounds after a warm-up.`,
    '',
    "The last row gives each of 16 rows its own prompt length (32 down to 17 tokens): the rows prefill in one run per length (16 runs, in the first step), their caches are merged, and from then on every row decodes in the same run, at its own position (the decode step reads each row's start position and attention window from small per-row buffers).",
    '',
    '| B | prompt lengths | decode tokens/s | × B = 1 | tokens/s with the prefill |',
    '| ---: | --- | ---: | ---: | ---: |',
  ];
  const tps = (t: Timing) => `${t.median.toFixed(1)} (${t.min.toFixed(1)}–${t.max.toFixed(1)})`;
  for (const x of b.rows) lines.push(`| ${x.batch} | ${x.mixed ? `${x.batch} different` : 'one'} | ${tps(x.decodeTokensPerSecond)} | ${base ? (x.decodeTokensPerSecond.median / base).toFixed(2) : '–'}× | ${tps(x.totalTokensPerSecond)} |`);
  const b16 = b.rows.find((x) => x.batch === 16 && !x.mixed);
  if (b16 && base) {
    const ratio = b16.decodeTokensPerSecond.median / base;
    const mixed = b.rows.find((x) => x.batch === 16 && x.mixed);
    const mixedRatio = mixed ? mixed.decodeTokensPerSecond.median / base : undefined;
    const verdict = (x: number) => `${x >= 4 ? 'met' : 'missed'} (${x.toFixed(2)}×)`;
    lines.push('', `Target: B = 16 gives at least 4× the decode tokens/s of B = 1. With one prompt length: ${verdict(ratio)}.${mixedRatio === undefined ? '' : ` With a different length per row: ${verdict(mixedRatio)}.`}`);
  }
  return lines;
}

function compile(r: BenchResults): string[] {
  const c = r.compile;
  return [
    `${c.launches} kernel launches, ${c.kernels} distinct WGSL kernels (${(c.wgslBytes / 1024).toFixed(1)} KiB). Medians per stage:`,
    '',
    `| ${c.stages.map((s) => s.name).join(' | ')} | total |`,
    `| ${c.stages.map(() => '---:').join(' | ')} | ---: |`,
    `| ${c.stages.map((s) => `${s.ms.toFixed(1)} ms`).join(' | ')} | **${c.totalMs.toFixed(1)} ms** |`,
  ];
}

function deepCompile(r: BenchResults): string[] {
  const rows = r.deepCompile ?? [];
  if (rows.length === 0) return ['Not measured in this run.'];
  const lines = [
    'The same spec with more layers: lowering is linear in depth, so the time per layer stays flat. Medians of two runs after a warm-up (`npx tsx bench/compile-time.ts` measures this part alone).',
    '',
    '| layers | kernel launches | total | per layer |',
    '| ---: | ---: | ---: | ---: |',
  ];
  for (const { layers, timing } of rows) lines.push(`| ${layers} | ${timing.launches} | ${(timing.totalMs / 1000).toFixed(2)} s | ${(timing.totalMs / layers).toFixed(2)} ms |`);
  return lines;
}

/** Where and how a separately measured section was run: its own conditions, since they are not the main run's. */
function sectionConditions(s: Section<unknown>): string {
  const busy = Math.max(s.loadBefore[0], s.loadAfter[0]);
  return (
    `Measured by \`${s.command}\` on ${s.date} in ${(s.seconds / 60).toFixed(1)} minutes, every row of this section side by side in that one run, on ${s.adapter}; ` +
    `load average ${load(s.loadBefore)} at the start, ${load(s.loadAfter)} at the end${busy > 1.5 ? ' (other processes were running: absolute times are inflated, the ratios within the run are what count)' : ''}.`
  );
}

/**
 * What bounds backward / forward: the arithmetic per visible pair, in head-dim-long vec4 passes. The forward does 2
 * (q·k, then P·v); the backward 7: dK/dV recomputes q·k and dO·v and accumulates P·dO and dS·q, dQ recomputes q·k and
 * dO·v and accumulates dS·k. FlashAttention-2 does 5 by adding dQ from the dK/dV pass with atomics, which would make
 * the sum's order, and so its bits, vary from run to run; mdl keeps the second walk to stay deterministic.
 */
function backwardArithmetic(ratios: (number | undefined)[]): string {
  const measured = ratios.filter((x): x is number => x !== undefined);
  const range = measured.length ? `${Math.min(...measured).toFixed(2)}–${Math.max(...measured).toFixed(2)}×` : '—';
  const rate = measured.length ? `${(3.5 / Math.max(...measured)).toFixed(2)}–${(3.5 / Math.min(...measured)).toFixed(2)}×` : '—';
  return (
    'What bounds the ratio: per visible pair the forward makes 2 passes over the head dim (q·k, then P·v) and the backward 7 ' +
    '(dK/dV: q·k, dO·v, P·dO, dS·q; dQ: q·k, dO·v, dS·k), so at the forward\'s rate of arithmetic the backward would take 3.5× the ' +
    'forward. FlashAttention-2 makes 5 (2.5×) by adding dQ from the dK/dV pass with atomics, which mdl does not use: the ' +
    'order of those additions, and so the bits of dQ, would change from run to run. The ratios above are ' +
    `${range}, so the backward runs its arithmetic at ${rate} the forward's rate: each of its invocations owns up to four rows, ` +
    'so every row it loads serves four (`src/wgsl/attention-backward-walks.ts`), where the forward reads each staged K/V row once per query row.'
  );
}

/** causal backward / unmasked backward at every length measured: on the default tiles and on the fastest forward's. */
function causalRows(rows: BackwardRow[], met: (x: number | undefined, goal: number, inCpu: number | undefined) => string): string[] {
  const lengths = [...new Set(rows.map((r) => r.length))].sort((a, b) => b - a);
  return lengths.flatMap((length) => {
    const wall = backwardRatios(rows, length);
    const cpu = backwardRatios(rows, length, true);
    const lines = [`| causal backward / unmasked backward, L=${length}, default tiles | ≤ 0.6 | ${met(wall.causal, 0.6, cpu.causal)} |`];
    if (wall.fastest && !wall.fastest.startsWith('default')) {
      // CPU time on the same shape as the wall time (the fastest forward in CPU time may be another one).
      const on = (mask: string) => rows.find((r) => r.length === length && r.mask === mask && r.shape === wall.fastest);
      const [n, c] = [on('none'), on('causal')];
      const cpuSameShape = c?.pairedCausalCpu ?? (n?.backwardCpu && c?.backwardCpu ? c.backwardCpu / n.backwardCpu : undefined);
      lines.push(`| causal backward / unmasked backward, L=${length}, tiles of the fastest forward (${wall.fastest}) | ≤ 0.6 | ${met(wall.causalFastest, 0.6, cpuSameShape)} |`);
    }
    return lines;
  });
}

/** What the tile classes allow: the share of the causal mask's tiles that are not EMPTY, per length and shape. */
function causalBound(rows: BackwardRow[]): string {
  const bounds = rows
    .filter((r) => r.mask === 'causal')
    .map((r) => `L=${r.length} ${r.shape} ${((r.tiles - r.emptyTiles) / r.tiles).toFixed(2)}`);
  return (
    `The causal pass cannot go below the share of its tiles that are not EMPTY (${bounds.join(', ')}): at L=256 that ` +
    'leaves 0.04 of the goal to everything that does not shrink with the visible tiles (the delta kernel, each walk\'s ' +
    'loads and stores of its own rows, the PARTIAL tiles\' masked pairs). Each ratio is the median of its rounds; the ' +
    'rounds of one run differ among themselves by several hundredths on this shared machine.'
  );
}

function backwardSection(r: BenchResults): string[] {
  const s = r.backward;
  if (!s) return ['Not measured yet (`npm run bench -- --only backward`).'];
  const longest = Math.max(...s.rows.map((x) => x.length));
  const { vsDefault: ratio, vsFastest, fastest } = backwardRatios(s.rows, longest);
  const cpu = backwardRatios(s.rows, longest, true);
  const one = (x: number | undefined, goal: number) => `${x?.toFixed(2) ?? '—'}${x !== undefined && x <= goal ? ' (met)' : ' (missed)'}`;
  // Wall time as the targets are stated, and CPU time: the work done, which the machine's other load disturbs less.
  const met = (x: number | undefined, goal: number, inCpu: number | undefined) => `${one(x, goal)}; CPU time: ${one(inCpu, goal)}`;
  return [
    sectionConditions(s),
    '',
    'The fused FlashAttention-2-style backward (delta, then dK/dV walking key tiles, then dQ walking query tiles, over the forward\'s tile classes) against the forward kernel that also writes the log-sum-exp (`bench/attention-backward.ts`). The backward runs on its forward\'s tiles (they share the tile classes), so it is measured once per forward shape: the default one and each row-wise shape the tuner measures (the fastest forward on SwiftShader is one of those).',
    '',
    '| target | goal | measured |',
    '| --- | --- | --- |',
    `| backward / forward, L=${longest}, no mask, default forward | ≤ 3× (FlashAttention-2: about 2.5×) | ${met(ratio, 3, cpu.vsDefault)} |`,
    `| backward / forward, L=${longest}, no mask, fastest forward measured (${fastest ?? '—'}; in CPU time ${cpu.fastest ?? '—'}) | ≤ 3× | ${met(vsFastest, 3, cpu.vsFastest)} |`,
    ...causalRows(s.rows, met),
    '',
    causalBound(s.rows),
    '',
    backwardArithmetic([ratio, vsFastest, cpu.vsDefault, cpu.vsFastest]),
    '',
    // The table's title line, then a blank line, so that Markdown renders the table as a table.
    ...renderBackwardTable(s.rows).split('\n').flatMap((line, i) => (i === 0 ? [line, ''] : [line])),
  ];
}

function trainingSection(r: BenchResults): string[] {
  const s = r.training;
  if (!s) return ['Not measured yet (`npm run bench -- --only training`).'];
  const ratios = s.rows.filter((x) => x.tfjs).map((x) => `${x.model} ${(x.tfjs!.median / x.mdl.median).toFixed(2)}×`);
  return [
    sectionConditions(s),
    '',
    "One optimizer step — forward, loss, backward, Adam — on one batch, in counted tokens per second (medians after a warm-up step). mdl runs its training, accumulate and optimizer programs with the weights and moments resident on the device (`mdl train`'s default backend); tfjs-webgpu runs the same model, built node by node from the spec's training graph in tfjs ops (`bench/tfjs-training.ts`), with its autodiff and `tf.train.adam`, on the same Dawn device; the CPU reference is `mdl train --backend cpu`. All start from mdl's seeded weights on the same batch and labels, with AdamW's weight decay at 0 (Adam) and no clipping; the first step's losses must agree to 1e-3 before anything is timed.",
    '',
    `Target: mdl ≥ 3× tfjs. Measured: ${ratios.join(', ') || 'tfjs not timed'}. mdl's step runs the matmul tiling that was fastest for it (below); under a register tiling the backward products dX = dY · W and dW = dYᵀ · X are register-blocked too (16×4 outputs an invocation, read as vec4s where the widths are multiples of 4: \`matmul_grad\`), and the forward ones keep their blocks in registers unrolled. The other backward kernels give each invocation one output row or column, summed in a fixed order (no atomics); the norms keep each row's mean and inverse deviation from the forward pass for their backward, and the token table's gradient reads the ids once per table row.`,
    '',
    ...renderTraining(s.rows),
  ];
}

function detail(r: BenchResults): string[] {
  const lines = ['| L | mask | mdl fused | ' + COMPARATORS.map((c) => NAMES[c]).join(' | ') + ' | fused tiles |', '| --- | --- | --- | ' + COMPARATORS.map(() => '---').join(' | ') + ' | --- |'];
  for (const row of r.attention) {
    const cell = (c: Comparator) => {
      const t = timingOf(row, c);
      return t ? `${ms(t)} (${spread(t)})` : '—';
    };
    lines.push(`| ${row.length} | ${row.mask.label} | ${ms(row.fused)} (${spread(row.fused)}) | ${COMPARATORS.map(cell).join(' | ')} | ${row.tileShape} |`);
  }
  return lines;
}

export function renderReport(r: BenchResults, analysis: string[]): string {
  const e = r.env;
  const lengths = [...new Set(r.attention.map((x) => x.length))];
  const unavailable = Object.entries(e.unavailable).map(([k, why]) => `- **${NAMES[k as Comparator]} did not run:** ${why}`);
  const L = largestLength(r);
  const none = rowAt(r, L, 'none');
  return [
    '# Benchmarks',
    '',
    `Produced by \`${e.command}\` on ${e.date} in ${(e.seconds / 60).toFixed(1)} minutes. Everything below was measured in that one run, on one adapter.`,
    '',
    `- **Adapter (mdl, tfjs, unfused; Dawn in Node):** ${e.adapter}`,
    `- **Adapter (ONNX Runtime Web; Chromium):** ${e.browserAdapter ?? 'not started'}`,
    `- **Machine:** ${e.cpus} × ${e.cpuModel}, Node ${e.node}. Load average (1/5/15 min) ${load(e.loadBefore)} at the start, ${load(e.loadAfter)} at the end` +
      (Math.max(e.loadBefore[0], e.loadAfter[0]) > e.cpus * 0.75
        ? ` — **other processes were running on this machine during the run**, so absolute times are inflated and noisier than on an idle machine; the ratios are taken within the same run and are the numbers to read.`
        : '.'),
    `- **Versions:** @tensorflow/tfjs-core and tfjs-backend-webgpu ${e.tfjsVersion ?? '—'}, onnxruntime-web ${e.ortVersion ?? '—'}.`,
    `- **Timing:** medians of several runs after a warm-up run (n per cell in the detail table); a run is submit → the device reports the work done, with inputs and outputs resident on the device. Ratios are the other path's median over mdl's (higher = mdl faster).`,
    ...(e.software
      ? [`- **This is a software adapter** (SwiftShader: Vulkan on the CPU's cores). Absolute numbers are orders of magnitude below any GPU's; what carries over is which path does less work. Run \`npm run bench -- --full\` on a GPU machine for L up to 2048.`]
      : []),
    ...unavailable,
    ...wrongResults(r),
    ...failures(r),
    '',
    '## Targets',
    '',
    ...targets(r),
    '',
    ...analysis,
    '',
    '## Attention: mdl fused vs the alternatives',
    '',
    `B=1, H=8, D=64, self-attention (Lq = Lk = L), f32. Masks: none; causal; window(${WINDOW}) (causal, the last ${WINDOW} keys); key padding with half the keys padded; ${DOCUMENTS} packed documents of L/${DOCUMENTS} tokens each, causal within a document. mdl's masks come from its own mask compiler and tile classifier; the other paths get the same mask materialised as a dense matrix (0/1 for the unfused path, an additive 0/−10³⁰ bias for tfjs and ORT).`,
    '',
    ...lengths.flatMap((len) => [`### L = ${len}`, '', ...attentionTable(r, len), '']),
    ...(lengths.some((len) => len > e.allMasksUpTo)
      ? [
          `"(as none)": above L=${e.allMasksUpTo} the comparators ran only without a mask. Their work does not depend on which pairs a mask hides (a dense score matrix and a dense mask either way), as the smaller lengths show, and measuring every mask again did not fit the run's time budget on this adapter; \`--full\` measures them all.`,
          '',
        ]
      : []),
    ...correctness(r),
    '',
    '### mdl and ORT Web in one Chromium',
    '',
    ...renderChromium(r.chromium),
    '',
    '## Mask-driven savings',
    '',
    ...maskSavings(r),
    '',
    '## Roofline',
    '',
    ...roofline(r),
    ...(none ? ['', `Fused attention FLOPs at L=${L}: ${(attentionFlops(1, 8, L, L, 64) / 1e9).toFixed(2)} GFLOP in ${ms(none.fused)} ms.`] : []),
    '',
    '## Decode step (attention part) with a KV cache',
    '',
    'One new query against L cached keys, H=8, D=64, bottom-right causal mask. This is the attention kernel of a decode step only; the projections and FFN of the step are not included.',
    '',
    ...renderDecodeAttention(r.decode, r.decodeRun),
    '',
    '## Decode step of a whole model: KV cache vs recomputation',
    '',
    'The time to the next token\'s logits after a prompt of the given length, for a two-layer decoder (width 128, two 64-wide heads, rotary positions, SwiGLU, bottom-right causal mask; `bench/model-decode.ts`). With the cache (`mdl run`\'s default) a step runs the decoder\'s kernels over the one new row (its matmuls on the skinny kernel made for a few rows) and attends over the cached keys, with the decode step\'s default one-row tiles or with the split-key kernel (one query row per workgroup, its lanes splitting the cached keys; `src/wgsl/attention-split-decode.ts`), two decoders stepping in turn; recomputation (`mdl run --no-cache`) runs the full pass. Cached samples are consecutive steps, taken at the positions just after L (the first step after the prefill is a warm-up).',
    '',
    ...renderModelDecode(r.modelDecode, r.decodeRun, r.decode),
    '',
    '## Batched decoding with the KV cache',
    '',
    ...batchDecode(r),
    '',
    '## Attention kernel shapes: default vs row-wise',
    '',
    ...renderAttentionShapes(r.attentionShapes),
    '',
    '## Matmul tilings vs tfjs',
    '',
    ...renderMatmulTilings(r.matmulTilings),
    '',
    '## Sliding window at L=1024: time against the tile bound',
    '',
    ...renderWindowSkip(r.windowSkip),
    '',
    '## Whole-model prefill: tuned vs old kernels',
    '',
    ...renderPrefill(r.prefill),
    '',
    '## Compile time: 24-layer spec, parse → WGSL',
    '',
    ...compile(r),
    '',
    ...(r.startup ? ['## CLI startup', '', ...renderStartup(r.startup), ''] : []),
    '## Compile time by depth',
    '',
    ...deepCompile(r),
    '',
    '## Attention backward',
    '',
    ...backwardSection(r),
    '',
    '## Training step: mdl vs tfjs',
    '',
    ...trainingSection(r),
    '',
    '## Detail: every attention timing',
    '',
    'Median (min–max, number of timed runs) in ms.',
    '',
    ...detail(r),
    '',
  ].join('\n');
}
