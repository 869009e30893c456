// The report's tables for mdl and ORT Web in one Chromium (bench/chromium-attention.ts), and the targets judged from
// them: fused attention against ORT Web and against the unfused path, all timed in the same page.

import { median } from '../src/tune/measure.ts';
import { bestMdl, CHROMIUM_MAX_DIFF, comparatorMs, defaultMdl, type ChromiumRow, type ChromiumSection, type Runtime } from './chromium-attention.ts';

const ms = (v: number | undefined) => (v === undefined ? '—' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const paired = (r: ChromiumRow) => {
  const x = pairedOrtRatio(r);
  return x === undefined ? '—' : `${x.toFixed(2)}×`;
};
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? '—' : `${(a / b).toFixed(2)}×`);

/** ORT's (or the unfused path's) time over mdl's fastest shape, both in one runtime; undefined when either is missing. */
export function chromiumSpeedup(row: ChromiumRow, who: 'ort' | 'unfused', runtime: Runtime = 'chromium'): number | undefined {
  const best = bestMdl(row, runtime);
  const other = comparatorMs(row, who, runtime);
  return best && other !== undefined ? other / best.ms : undefined;
}

/**
 * The median over rounds of ORT's sample over mdl's best shape's sample of the same round. Samples of one round are
 * taken back to back, so a load that comes and goes on a shared machine falls on both sides of each ratio.
 */
export function pairedOrtRatio(row: ChromiumRow): number | undefined {
  const best = bestMdl(row, 'chromium');
  const ort = row.contenders.find((c) => c.kind === 'ort');
  const a = ort && row.samples[ort.id];
  const b = best && row.samples[best.contender.id];
  if (!a?.length || !b?.length || a.length !== b.length) return undefined;
  return median(a.map((x, i) => x / b[i]));
}

export function chromiumRowAt(s: ChromiumSection | undefined, length: number, maskId: string): ChromiumRow | undefined {
  return s?.rows.find((r) => r.length === length && r.maskId === maskId);
}

function cellOf(row: ChromiumRow, kind: 'ort' | 'unfused', runtime: Runtime = 'chromium'): string {
  const id = row.contenders.find((c) => c.kind === kind && c.runtime === runtime)?.id ?? `${runtime} ${kind}`;
  if (row.skipped[id]) return row.skipped[id].startsWith('wrong result') ? 'n/a (wrong result)' : '(as none)';
  const v = comparatorMs(row, kind, runtime);
  return v === undefined ? '—' : `${ms(v)} ms`;
}

export function renderChromium(s: ChromiumSection | undefined): string[] {
  if (!s) return ['Not measured in this run (`npm run bench -- --only chromium` measures it alone).'];
  const lines = [
    `Measured by \`${s.command}\` on ${s.date} in ${(s.seconds / 60).toFixed(1)} minutes; load average (1/5/15 min) ${s.loadBefore.map((x) => x.toFixed(2)).join(' / ')} at the start, ${s.loadAfter.map((x) => x.toFixed(2)).join(' / ')} at the end.`,
    '',
    `mdl's fused kernels run inside the headless Chromium page that runs ONNX Runtime Web ${s.ortVersion} (\`bench/ort/mdl-page.ts\`, bundled by esbuild from the same generator and runtime modules as the CLI), on the page's WebGPU device (${s.browserAdapter}${s.ortWorkaround ? `; ORT on a device of its own: ${s.ortWorkaround}` : ''}), and the same kernels in Node on Dawn from the \`webgpu\` package (${s.nodeAdapter}). The unfused path (three dispatches, the score matrix in memory) runs in the same page. B=1, H=8, D=64, f32. Each contender had ${s.warmup} warm-up run, then ${s.rounds} rounds took one sample of every contender in turn; medians. A sample is, for every contender alike, performance.now() around the submit and the queue's onSubmittedWorkDone, inputs and output resident on the device. Every output was compared in full with mdl's Node output (itself compared with the f64 CPU oracle at the smallest length) before its time was kept (limit ${CHROMIUM_MAX_DIFF}).`,
    '',
    "mdl's shapes: the default (what the suite runs when nothing was tuned) and the tuner's row-wise candidates (`attentionVariants`). **mdl best** is the fastest of them in that runtime — the tuner keeps the fastest shape it measures. Ratios are the other path's median over mdl's best in the same runtime (higher = mdl faster); **paired** is the median over the rounds of ORT's sample over mdl's best shape's sample in the same round, which a load that comes and goes moves less. The unfused path also runs in Node, the baseline of the rest of the report.",
    '',
    '| L | mask | mdl best, Chromium | ORT Web, Chromium | ORT / mdl | paired | unfused, Chromium | unfused / mdl | mdl default, Chromium | mdl best, Node/Dawn | mdl default, Node/Dawn | unfused, Node/Dawn | unfused / mdl, Node |',
    '| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const r of s.rows) {
    const best = bestMdl(r, 'chromium');
    const node = bestMdl(r, 'node');
    const cell = (b: typeof best) => (b ? `${ms(b.ms)} ms (${b.contender.label.replace(/ \((default|tuned)\)$/, '')})` : '—');
    lines.push(
      `| ${r.length} | ${r.mask} | ${cell(best)} | ${cellOf(r, 'ort')} | ${ratio(comparatorMs(r, 'ort'), best?.ms)} | ${paired(r)} | ${cellOf(r, 'unfused')} | ${ratio(comparatorMs(r, 'unfused'), best?.ms)} | ${ms(defaultMdl(r, 'chromium'))} ms | ${cell(node)} | ${ms(defaultMdl(r, 'node'))} ms | ${cellOf(r, 'unfused', 'node')} | ${ratio(comparatorMs(r, 'unfused', 'node'), node?.ms)} |`,
    );
  }
  const oracle = Math.max(...s.rows.map((r) => r.oracleDiff ?? 0));
  const worst = Math.max(...s.rows.flatMap((r) => Object.entries(r.maxDiff).filter(([id]) => !r.skipped[id]).map(([, d]) => d)));
  const wrong = s.rows.flatMap((r) => Object.entries(r.skipped).filter(([, why]) => why.startsWith('wrong')).map(([id, why]) => `${id} at L=${r.length} ${r.mask} (${why})`));
  lines.push('', `Largest difference from mdl's Node output among the kept: ${worst.toExponential(1)}; mdl's Node output vs the f64 oracle at L=${Math.min(...s.rows.map((r) => r.length))}: ${oracle.toExponential(1)}.${wrong.length ? ` Dropped as wrong: ${wrong.join('; ')}.` : ''}`);
  lines.push('', 'Every contender (median, min–max of the rounds):', '', '| L | mask | contender | median | min–max |', '| ---: | --- | --- | ---: | --- |');
  for (const r of s.rows) {
    for (const c of r.contenders) {
      const samples = r.samples[c.id];
      if (!samples?.length) continue;
      lines.push(`| ${r.length} | ${r.mask} | ${c.runtime === 'node' ? 'Node/Dawn' : 'Chromium'}: ${c.kind === 'mdl' ? `mdl ${c.label}` : c.label} | ${ms(median(samples))} ms | ${ms(Math.min(...samples))}–${ms(Math.max(...samples))} |`);
    }
  }
  return lines;
}

/** Why the unmasked case stays near ORT: mdl's win comes from the tiles a mask lets it skip. */
function noMaskReason(s: ChromiumSection, length: number, shape: string): string {
  // Rows are measured minutes apart, so only ratios taken within one row (side by side) are compared here.
  const causal = chromiumRowAt(s, length, 'causal');
  const x = causal && chromiumSpeedup(causal, 'ort');
  const skipping = x !== undefined ? ` With the causal mask the same comparison gives ${x.toFixed(2)}×: ORT adds the mask as a dense bias and skips nothing, mdl skips the EMPTY tiles, which is where mdl's masked wins come from.` : '';
  return (
    `Without a mask there is nothing to skip, and the row-wise kernel (${shape}) is built the way ORT's FlashAttention program is on this adapter (one query row per invocation, 32-key K/V tiles in workgroup memory, one exp per score), so both do the same arithmetic in nearly the same way; 1.5× would need an inner loop half again as fast as ORT's on SwiftShader.` +
    skipping
  );
}

/** Why the Chromium targets were missed, from the section's own numbers. */
export function explainChromium(s: ChromiumSection, length: number): string[] {
  const out: string[] = [];
  for (const id of ['none', 'causal']) {
    const row = chromiumRowAt(s, length, id);
    const x = row && chromiumSpeedup(row, 'ort');
    if (!row || x === undefined || x >= 1.5) continue;
    const best = bestMdl(row, 'chromium')!;
    const ort = comparatorMs(row, 'ort')!;
    const node = bestMdl(row, 'node');
    const def = defaultMdl(row, 'chromium');
    out.push(
      `- **Fused vs ORT Web in one Chromium, L=${length}, ${row.mask}.** mdl's fastest shape there, ${best.contender.label}, took ${ms(best.ms)} ms, ${(100 * best.ms / ort).toFixed(0)}% of ORT's ${ms(ort)} ms (${x.toFixed(2)}×; 1.5× needs ≤ ${ms(ort / 1.5)} ms; paired by round ${pairedOrtRatio(row)?.toFixed(2) ?? '—'}×; fastest single samples ${ms(Math.min(...row.samples[best.contender.id]))} ms against ORT's ${ms(Math.min(...(row.samples[row.contenders.find((c) => c.kind === 'ort')!.id] ?? [NaN])))} ms)` +
        (def !== undefined ? `; the default shape took ${ms(def)} ms` : '') +
        (node ? `; in Node on Dawn the fastest shape took ${ms(node.ms)} ms (${node.contender.label})` : '') +
        `. ${id === 'causal' ? 'ORT computes the causal case densely with an additive bias, so its time barely changes with the mask, while mdl skips the EMPTY tiles; the remaining gap is per-tile arithmetic.' : noMaskReason(s, length, best.contender.label)}`,
    );
  }
  const none = chromiumRowAt(s, length, 'none');
  for (const runtime of ['chromium', 'node'] as const) {
    const u = none && chromiumSpeedup(none, 'unfused', runtime);
    if (!none || u === undefined || u >= 2.5) continue;
    const best = bestMdl(none, runtime)!;
    out.push(`- **Fused vs unfused ${runtime === 'node' ? "on Node's Dawn" : 'in one Chromium'}, L=${length}, no mask.** ${u.toFixed(2)}×: the unfused path took ${ms(comparatorMs(none, 'unfused', runtime))} ms, mdl's fastest shape (${best.contender.label}) ${ms(best.ms)} ms. On a software adapter the score matrix the unfused path writes and reads back stays in the CPU's caches, so fusion saves little traffic and the ratio is about the ratio of arithmetic rates.`);
  }
  return out;
}
