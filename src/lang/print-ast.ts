// A stable text form of the AST (`mdl dump --stage ast`): one node a line, indented by depth, each with the
// line:col where it starts. Golden tests pin it, so its format changes only on purpose.

import type { Expr, Item, Layer, Model, Option, Span } from './ast.ts';

export function printAst(model: Model): string {
  const out: string[] = [];
  const at = (s: Span) => `@${s.line}:${s.col}`;
  const line = (depth: number, text: string) => out.push(`${'  '.repeat(depth)}${text}`);

  line(0, `model ${model.name.text} ${at(model.span)}`);
  for (const item of model.items) printItem(item, 1);
  return out.join('\n') + '\n';

  function printItem(item: Item, d: number): void {
    switch (item.kind) {
      case 'dim':
        line(d, `dim ${at(item.span)}`);
        for (const def of item.dims) {
          const tail = def.value ? ` = ${expr(def.value)}` : def.bound ? ` <= ${expr(def.bound)}` : '';
          line(d + 1, `${def.name.text}${tail} ${at(def.span)}`);
        }
        return;
      case 'input':
        line(d, `input ${item.name.text}: ${item.type.text}[${item.shape.map(expr).join(', ')}] ${at(item.span)}`);
        for (const a of item.attrs) line(d + 1, `${a.key.text} ${expr(a.value)} ${at(a.span)}`);
        return;
      case 'decoder_input':
        line(d, `decoder_input ${item.name.text} = ${expr(item.build)} ${at(item.span)}`);
        return;
      case 'mask':
        line(d, `mask ${item.name.text} = ${expr(item.expr)} ${at(item.span)}`);
        return;
      case 'score':
        line(d, `score ${item.name.text} = ${item.mods.map(expr).join(', ')} ${at(item.span)}`);
        return;
      case 'embed':
        line(d, `embed ${at(item.span)}`);
        for (const f of item.fields) option(f, d + 1);
        return;
      case 'stack':
        line(d, `stack ${item.name.text} x ${expr(item.repeat)} on ${item.source.text} ${at(item.span)}`);
        for (const o of item.options) option(o, d + 1);
        for (const l of item.layers) layer(l, d + 1);
        return;
      case 'output':
        line(d, `output ${item.name.text} = ${expr(item.value)} ${at(item.span)}`);
        break;
      case 'loss':
        line(d, `loss ${item.name.text} = ${expr(item.value)} ${at(item.span)}`);
        return;
    }
  }

  function layer(l: Layer, d: number): void {
    if (l.kind === 'attention') {
      line(d, `attention ${l.mode.text} ${at(l.span)}`);
      for (const o of l.options) option(o, d + 1);
    } else if (l.kind === 'ffn') {
      line(d, `ffn ${expr(l.width)} ${l.activation.text} ${at(l.span)}`);
      for (const o of l.options) option(o, d + 1);
    } else {
      line(d, `norm ${l.type.text} ${at(l.span)}`);
    }
  }

  function option(o: Option, d: number): void {
    line(d, `${o.key.text} = ${o.values.map(expr).join(' ')} ${at(o.span)}`);
  }
}

/** Expressions print fully parenthesised (except atoms), so precedence is visible in golden files. */
export function expr(e: Expr): string {
  switch (e.kind) {
    case 'number':
      return e.text;
    case 'ref':
      return e.name;
    case 'paren':
      return expr(e.inner);
    case 'unary':
      return `${e.op}${atomic(e.operand)}`;
    case 'binary': {
      // A long chain `a | b | …` is a left spine as deep as it is long: print it in a loop, not by recursion.
      const tails: string[] = [];
      let at: Expr = e;
      while (at.kind === 'binary') {
        tails.push(` ${at.op} ${expr(at.right)})`);
        at = at.left;
      }
      return `${'('.repeat(tails.length)}${expr(at)}${tails.reverse().join('')}`;
    }
    case 'call':
      return `${e.callee.text}(${e.args.map((a) => (a.name ? `${a.name.text} = ${expr(a.value)}` : expr(a.value))).join(', ')})`;
    case 'index':
      return `${e.target.text}[${e.indices.map(expr).join(', ')}]`;
  }
}

function atomic(e: Expr): string {
  const s = expr(e);
  return e.kind === 'unary' ? `(${s})` : s;
}
