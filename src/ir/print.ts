// The IR's stable text form (`mdl dump --stage ir`). One node a line:
//
//   %dec.layers.0.self_attn.q_proj = matmul(%x, %w, %b) {transpose_b} : f32[B, T, 256]   @12:5
//
// Attributes print sorted by key and parameters are listed before the computation, so the text is the same on every
// run and a pass's effect shows as a small diff.

import { sym } from '../check/sym.ts';
import { attrEntries, type AttrValue, type IrGraph, type IrNode } from './ir.ts';

export function printIr(g: IrGraph, opts: { spans?: boolean } = {}): string {
  const dims = g.dims.map((d) => (d.bound === undefined ? d.name : `${d.name} <= ${d.bound}`)).join(', ');
  const out = [`graph ${g.model}(${dims}) {`];
  for (const n of g.nodes) out.push(`  ${printNode(n, opts.spans ?? true)}`);
  out.push(`  return ${g.outputs.join(', ')}`);
  out.push('}');
  return out.join('\n') + '\n';
}

function printNode(n: IrNode, spans = true): string {
  const attrs = attrEntries(n)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([k, v]) => printAttr(k, v))
    .filter((s) => s !== '');
  const attrText = attrs.length ? ` {${attrs.join(', ')}}` : '';
  const shape = `${n.dtype}[${n.shape.map((p) => sym.print(p)).join(', ')}]`;
  const at = spans && n.span ? `   @${n.span.line}:${n.span.col}` : '';
  return `${n.id} = ${n.op}(${n.args.join(', ')})${attrText} : ${shape}${at}`;
}

function printAttr(key: string, v: AttrValue | undefined): string {
  if (v === undefined) return '';
  if (v === true) return key;
  if (v === false || v === '') return '';
  if (Array.isArray(v)) return `${key} = [${v.join(', ')}]`;
  if (typeof v === 'string') return `${key} = ${/^[\w.]+$/.test(v) ? v : JSON.stringify(v)}`;
  return `${key} = ${Number.isInteger(v) ? v : Number(v.toPrecision(6))}`;
}
