import { acquireGpu } from '../../src/runtime/device.ts';
import { lower } from '../../src/lower/passes.ts';
import { CachedDecoder } from '../../src/runtime/cached-decoder.ts';
import { stepInputs } from '../../src/runtime/generate.ts';
import { seededWeights } from '../../src/runtime/init-weights.ts';
import { decodeModel } from '../model-decode.ts';
async function main() {
  const gpu = await acquireGpu({ skipWorkgroupZeroInit: true });
  const m = decodeModel();
  const lowered = lower(m, { decodeTiles: () => ({ q: 1, k: 16, lanes: 16, splitKeys: true }) });
  const weights = seededWeights(lowered.ir, 1);
  const tokens = (n: number) => Array.from({ length: n }, (_, i) => 3 + ((i * 7919) % 250));
  const d = new CachedDecoder(gpu, lowered, m, weights);
  await d.next(stepInputs(m, tokens(64), []).run);
  const t: number[] = [];
  for (let i = 0; i < 30; i++) { const run = stepInputs(m, tokens(65 + i), []).run; const t0 = performance.now(); await d.next(run); t.push(performance.now() - t0); }
  const med = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
  console.log(process.env.MDL_SERIAL_MAP ? 'serial' : 'overlap', 'step', med(t.slice(2)).toFixed(2), 'host', med(d.hostMs.slice(3)).toFixed(2));
  d.destroy(); gpu.release();
}
main();
