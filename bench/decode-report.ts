// The report's two decode sections: the attention kernel of a decode step alone, and a whole model's decode step with
// the KV cache, each kernel side by side, the host time per token, and the decode target (the step at a 1024-token
// prompt within 1.5× the step at a 64-token one) judged from the run's own numbers.

import type { Timing } from '../src/tune/measure.ts';
import type { DecodeRow } from './decode.ts';
import type { DecodeTuning, ModelDecodeRow } from './model-decode.ts';
import type { Section } from './results.ts';

/** Where the decode sections were measured when `--only decode` measured them apart from the rest of the report. */
export type DecodeRunSection = Section<DecodeTuning>;

/** The decode target: a step after a 1024-token prompt at most this many times a step after a 64-token one. */
export const DECODE_GROWTH_TARGET = 1.5;

const ms = (t: Timing | number | undefined): string => {
  const v = typeof t === 'number' ? t : t?.median;
  if (v === undefined) return '—';
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
};
const load = (l: number[]) => l.map((x) => x.toFixed(2)).join(' / ');
const ratio = (a: Timing | undefined, b: Timing | undefined) => (a && b ? `${(a.median / b.median).toFixed(2)}×` : '—');

function conditions(run: DecodeRunSection | undefined): string[] {
  if (!run) return [];
  return [
    `Measured by \`${run.command}\` on ${run.date} in ${(run.seconds / 60).toFixed(1)} minutes on ${run.adapter}, both decode sections in that one run, every kernel of a row side by side; load average ${load(run.loadBefore)} at the start, ${load(run.loadAfter)} at the end${Math.max(run.loadBefore[0], run.loadAfter[0]) > 1.5 ? ' (other processes were running: absolute times are inflated, the ratios within the run are what count)' : ''}.`,
    '',
  ];
}

export function renderDecodeAttention(rows: DecodeRow[], run: DecodeRunSection | undefined): string[] {
  const split = rows.some((d) => d.fusedSplit);
  const lines = [
    ...conditions(run),
    `| cached keys | mdl fused, default tiles | mdl fused, decode tiles (${rows[0]?.decodeTiles ?? '—'}) |${split ? ` split-key kernel (${rows.find((d) => d.splitTiles)?.splitTiles}) | decode tiles / split-key |` : ''} unfused | unfused / best fused |`,
    `| ---: | ---: | ---: |${split ? ' ---: | ---: |' : ''} ---: | ---: |`,
  ];
  for (const d of rows) {
    const best = Math.min(d.fusedDefault.median, d.fusedDecode?.median ?? Infinity, d.fusedSplit?.median ?? Infinity);
    const splitCells = split ? ` ${ms(d.fusedSplit)} ms | ${ratio(d.fusedDecode, d.fusedSplit)} |` : '';
    lines.push(`| ${d.position} | ${ms(d.fusedDefault)} ms | ${ms(d.fusedDecode)} ms |${splitCells} ${ms(d.unfused)} ms | ${(d.unfused.median / best).toFixed(2)}× |`);
  }
  if (run) {
    const t = run.rows;
    const variants = t.variants.map((v) => `${v.tiles} ${v.ms === undefined ? `rejected (${v.rejected})` : `${ms(v.ms)} ms`}`).join(', ');
    lines.push('', `The tuner on the decode step's attention of the model below (${t.problem}; \`mdl tune\` measures the same candidates for every decode site): ${variants}. It picks **${t.picked}**; the split-key columns run ${t.split.k}-key tiles over ${t.split.lanes} lanes, the fastest split-key shape it timed.`);
  }
  return lines;
}

export function renderModelDecode(rows: ModelDecodeRow[], run: DecodeRunSection | undefined, attention: DecodeRow[] = []): string[] {
  const split = rows.some((d) => d.cachedSplit);
  const host = rows.some((d) => d.hostMs);
  const lines = split
    ? [
        ...conditions(run),
        '| prompt length | step, decode tiles | step, split-key kernel | decode tiles / split-key | host time per step (decode tiles / split-key) | device wait per step (decode tiles / split-key) | full recomputation | recomputation / best cached |',
        '| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      ]
    : ['| prompt length | decode step with the KV cache | full recomputation | recomputation / cache |', '| ---: | ---: | ---: | ---: |'];
  for (const d of rows) {
    if (!split) {
      lines.push(`| ${d.position} | ${ms(d.cached)} ms | ${ms(d.recomputed)} ms | ${(d.recomputed.median / d.cached.median).toFixed(1)}× |`);
      continue;
    }
    const best = Math.min(d.cached.median, d.cachedSplit!.median);
    lines.push(`| ${d.position} | ${ms(d.cached)} ms | ${ms(d.cachedSplit)} ms | ${ratio(d.cached, d.cachedSplit)} | ${host ? `${ms(d.hostMs)} / ${ms(d.hostMsSplit)} ms` : '—'} | ${d.waitMs ? `${ms(d.waitMs)} / ${ms(d.waitMsSplit)} ms` : '—'} | ${ms(d.recomputed)} ms | ${(d.recomputed.median / best).toFixed(1)}× |`);
  }
  const [short, long] = [rows.find((d) => d.position === 64), rows.find((d) => d.position === 1024)];
  if (split && short && long) {
    const growth = (a?: Timing, b?: Timing) => (a && b ? a.median / b.median : undefined);
    const old = growth(long.cached, short.cached)!;
    const now = growth(long.cachedSplit, short.cachedSplit)!;
    const verdict = (x: number) => (x <= DECODE_GROWTH_TARGET ? 'met' : '**missed**');
    lines.push(
      '',
      `Target: a step after a 1024-token prompt within ${DECODE_GROWTH_TARGET}× a step after a 64-token one. Split-key kernel: ${now.toFixed(2)}× (${verdict(now)}); decode tiles: ${old.toFixed(2)}× (${verdict(old)}).`,
    );
    const [a64, a1024] = [attention.find((d) => d.position === 64), attention.find((d) => d.position === 1024)];
    if (a64?.fusedSplit && a1024?.fusedSplit && a64.fusedDecode && a1024.fusedDecode) {
      lines.push(
        '',
        `Attention is a small part of this model's step: the kernel alone takes ${ms(a1024.fusedSplit)} ms (split-key) at 1024 cached keys with eight heads, and this model runs it with two heads in each of two layers; the rest of the step (matmuls of one row, norms, the output projection) does not depend on the prompt length. The attention kernel alone (the section above, eight heads) grows ${(a1024.fusedDecode.median / a64.fusedDecode.median).toFixed(1)}× from 64 to 1024 cached keys with the decode tiles, which walk every key tile in one workgroup per head, and ${(a1024.fusedSplit.median / a64.fusedSplit.median).toFixed(1)}× with the split-key kernel, whose lanes share the keys.${long.launches && short.waitMsSplit && long.waitMsSplit ? ` A decode step of this model is ${long.launches} kernel launches whatever the prompt length, and its device wait (split-key) is ${ms(short.waitMsSplit)} ms at 64 and ${ms(long.waitMsSplit)} ms at 1024.` : ''}`,
      );
    }
    if (host && long.hostMsSplit && short.hostMsSplit) {
      lines.push(
        '',
        `Host time per step is the decoder's own work from the call until the step's work is submitted: the new row's inputs, tile classes, \`writeBuffer\` of inputs, positions and uniforms, bind groups (reused across steps unless a cache grew), and encoding. Device wait is from that submit until the logits are readable on the host: the step's kernels (matmuls, norms, attention over the cached keys) and the handover. With the split-key kernel the host part is ${ms(short.hostMsSplit)} ms${short.waitMsSplit ? ` and the wait ${ms(short.waitMsSplit)} ms` : ''} of the ${ms(short.cachedSplit)} ms step at 64, ${ms(long.hostMsSplit)} ms${long.waitMsSplit ? ` and ${ms(long.waitMsSplit)} ms` : ''} of ${ms(long.cachedSplit)} ms at 1024 (medians of separate samples, so they need not add up exactly; the step time also counts the logits' copy and the checks before a call).`,
      );
    }
  }
  return lines;
}
