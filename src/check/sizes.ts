// Sizes no device can hold. A spec with `d_model = 1000000000000` is well formed, but every weight and activation
// built from it would be larger than a kernel can index, and the failure would otherwise come late, from deep inside
// lowering or the runtime. Each tensor is checked here, at its largest (symbolic dims at their bounds), against the
// one limit every backend shares.

import type { Span } from '../lang/ast.ts';
import type { DiagnosticBag } from '../lang/diagnostics.ts';
import { isGated, type CheckedModel, type StackInfo } from './model.ts';
import { sym } from './sym.ts';

/** Elements of one tensor: kernels index buffers with 32-bit integers, and typed arrays stop at 2^31 - 1 as well. */
export const MAX_TENSOR_ELEMENTS = 2 ** 31 - 1;

export function checkSizes(m: CheckedModel, bag: DiagnosticBag): void {
  const reported = new Set<Span>();
  const limit = (what: string, dims: [string, number][], span: Span, hint: string): void => {
    const elements = dims.reduce((p, [, n]) => p * n, 1);
    if (elements <= MAX_TENSOR_ELEMENTS || reported.has(span)) return;
    reported.add(span);
    const shape = dims.map(([name, n]) => `${name} ${n}`).join(' × ');
    bag.error('E316', span, `${what} would hold ${elements.toExponential(2)} elements (${shape}), more than ${MAX_TENSOR_ELEMENTS} (2^31 - 1), the most a kernel can index`, hint);
  };

  const e = m.embed;
  if (e) {
    limit('the token embedding table', [['vocab', e.vocab], ['width', e.width]], e.span, 'use a smaller vocabulary or model width');
    if (e.positions === 'learned' && e.maxPositions !== undefined) limit('the learned position table', [['positions', e.maxPositions], ['width', e.width]], e.span, 'learn fewer positions');
  }
  for (const s of m.stacks) {
    if (s.positions) limit(`the learned position table of stack '${s.name}'`, [['positions', s.positions.maxPositions], ['width', s.width]], s.span, 'learn fewer positions');
    const rows = rowsOf(m, s);
    for (const layer of s.layers) {
      if (layer.kind === 'attention') {
        limit('an attention projection', [['width', s.width], ['width', s.width]], layer.span, 'use a smaller model width');
      } else if (layer.kind === 'ffn') {
        const hidden = isGated(layer.activation) ? 2 * layer.width : layer.width;
        limit('a feed-forward weight', [['width', s.width], ['hidden', hidden]], layer.span, 'use a smaller feed-forward width');
        if (rows) limit('a feed-forward activation', [...rows, ['hidden', hidden]], layer.span, 'bound the batch and sequence dims lower, or use a smaller feed-forward width');
      }
    }
    if (rows) limit(`an activation of stack '${s.name}'`, [...rows, ['width', s.width]], s.span, 'bound the batch and sequence dims lower, or use a smaller model width');
  }
  const o = m.output;
  const from = o && m.stacks.find((s) => s.name === o.from);
  if (o && from) {
    if (!o.tied) limit('the output projection', [['width', from.width], ['vocab', o.vocab]], o.span, 'use a smaller vocabulary');
    const rows = rowsOf(m, from);
    if (rows) limit('the logits', [...rows, ['vocab', o.vocab]], o.span, 'bound the batch and sequence dims lower, or use a smaller vocabulary');
  }
}

/** The batch and position dims of a stack's input at their largest, or undefined when one has no bound. */
function rowsOf(m: CheckedModel, s: StackInfo): [string, number][] | undefined {
  const input = m.inputs.get(s.source);
  if (!input) return undefined;
  const out: [string, number][] = [];
  for (const p of input.shape.slice(0, 2)) {
    const env: Record<string, number> = {};
    for (const atom of sym.atoms(p)) {
      const d = m.dims.get(atom);
      const largest = d?.concrete ?? d?.bound;
      if (largest === undefined) return undefined;
      env[atom] = largest;
    }
    const n = sym.evaluate(p, env);
    if (n === undefined) return undefined;
    out.push([sym.print(p), n]);
  }
  return out;
}
