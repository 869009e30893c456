// Why a target was missed, in words, from the run's own numbers. Kept apart from the tables so that the reasoning
// can be read (and corrected) without wading through formatting code. Every sentence states a measured number or a
// bound derived from one; nothing here is a guess about another machine.

import { attentionFlops } from './data.ts';
import { explainChromium } from './chromium-report.ts';
import { fusedGflops, judgeTargets, largestLength, rowAt, timingOf, type BenchResults } from './results.ts';

const pct = (x: number) => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
const g = (x: number) => x.toFixed(2);

export function explainTargets(r: BenchResults): string[] {
  const targets = judgeTargets(r);
  const missed = targets.filter((t) => t.met === false);
  if (missed.length === 0) return ['Every target was met in this run.'];
  const L = largestLength(r);
  const none = rowAt(r, L, 'none');
  const lines = [`Missed in this run: ${missed.map((t) => t.what).join('; ')}. Why, from this run's numbers:`, ''];
  const fused = none ? fusedGflops(none) : undefined;
  const flops = attentionFlops(1, 8, L, L, 64);
  if (missed.some((t) => t.what.startsWith('fused vs')) && none && fused) {
    const rate = (who: 'unfused' | 'tfjs') => {
      const t = timingOf(none, who);
      return t ? `${g(flops / (t.median * 1e6))} GFLOP/s` : 'not measured';
    };
    lines.push(
      `- **Fused vs unfused / tfjs.** At L=${L} the fused kernel does the attention arithmetic at ${g(fused)} GFLOP/s; counted the same way, the unfused path reaches ${rate('unfused')} and tfjs ${rate('tfjs')}, and the best dense matmul on this adapter ${g(r.matmul.gflops)} GFLOP/s. ` +
        `What fusion saves is the ${((8 * L * L * 4 * 3) / 2 ** 20).toFixed(0)} MiB of score and probability traffic (written, read, written, read) that the unfused path moves at L=${L}. ` +
        (r.env.software
          ? 'On a software adapter that traffic goes to the CPU\'s cached memory, so it costs little next to the arithmetic, and the ratio is roughly the ratio of arithmetic rates; a GPU pays for it in device-memory bandwidth, which is where the targets were set.'
          : 'The ratio is what this adapter gives; see the detail table for the spread.'),
    );
  }
  for (const id of ['causal', 'window'] as const) {
    const t = missed.find((x) => x.what.startsWith(id === 'causal' ? 'causal' : 'window'));
    const row = rowAt(r, L, id);
    if (!t || !row || !none) continue;
    const computed = 1 - row.tiles.empty / row.tiles.total;
    const ratio = row.fused.median / none.fused.median;
    lines.push(
      `- **${row.mask.label} / none.** With ${row.tileShape} tiles, ${pct(computed)} of the tiles are not EMPTY and must be computed (${pct(row.visible)} of the pairs are visible), so at this tile size the kernel still does about ${computed.toFixed(2)} of the unmasked work (PARTIAL tiles cost a little less, since masked keys skip their exp and their V row); the time ratio measured ${ratio.toFixed(2)}. ` +
        'Smaller key tiles would skip more of the band at the edges, at the price of more passes over the tile loop; the tuner chooses tile shapes per adapter.' +
        (id === 'window' && r.windowSkip ? windowSkipNote(r) : ''),
    );
  }
  const inChromium = missed.find((t) => t.what.includes('Chromium'));
  if (inChromium && r.chromium) lines.push(...explainChromium(r.chromium, Number(/L=(\d+)/.exec(inChromium.what)![1])));
  const share = missed.find((t) => t.what.startsWith('fused share'));
  if (share && fused) {
    lines.push(
      `- **Share of the arithmetic peak.** The peak kernel is chains of vec4 FMAs on registers (${g(r.peak.gflops)} GFLOP/s). Attention also loads K and V rows (bounds-checked by Dawn), computes an exp and a running max per score and branches per tile, so it reaches ${pct(fused / r.peak.gflops)} of that peak; against the adapter's best dense matmul (${g(r.matmul.gflops)} GFLOP/s), the closer ceiling for a kernel that reads its operands from memory, it reaches ${pct(fused / r.matmul.gflops)}.`,
    );
  }
  return lines;
}

/** The window section's own run, when it is newer evidence than the attention table's. */
function windowSkipNote(r: BenchResults): string {
  const w = r.windowSkip!;
  const rows = w.rows.map((row) => `${row.shape} ${(row.windowMs / row.noneMs).toFixed(3)} against a bound of ${(1 - row.tiles.empty / row.tiles.total).toFixed(3)}`);
  return ` The window section below, measured on its own at L=${w.length} (load ${w.load[0].toFixed(1)}) with the current kernels, which walk only the key tiles between the first and the last non-EMPTY one of each query tile: ${rows.join('; ')}.`;
}
