// Checked model → IR: unrolls every stack into its layers and every layer into matmuls, norms, attention and adds.
//
// Parameter names follow the usual PyTorch / Hugging Face layout so that converting weights is a renaming, not a
// reshaping: linear weights are stored `[out, in]` (so matmuls read them with `transpose_b`), and names look like
// `decoder.layers.0.self_attn.q_proj.weight`. The full scheme is in the README.

import type { AttentionInfo, CheckedModel, FfnInfo, NormType, StackInfo } from '../check/model.ts';
import { rotaryDims } from '../check/embed.ts';
import { printScoreMod } from '../check/scores.ts';
import { sym, type Poly } from '../check/sym.ts';
import { irNode, type AttentionAttrs, type IrGraph, type IrNode, type Op, type OpAttrs } from './ir.ts';

export function buildIr(m: CheckedModel): IrGraph {
  return new IrBuilder(m).build();
}

class IrBuilder {
  private readonly nodes: IrNode[] = [];
  /** The same nodes by id: parameters are looked up once per use, so a list scan would make building quadratic. */
  private readonly byId = new Map<string, IrNode>();
  private readonly stackOut = new Map<string, string>();
  private readonly d: number;

  constructor(private readonly m: CheckedModel) {
    this.d = m.dModel ?? 0;
  }

  build(): IrGraph {
    const m = this.m;
    for (const inp of m.inputs.values()) {
      if (inp.shiftedFrom) continue;
      this.emit(`%${inp.name}`, 'input', [], { name: inp.name, kind: inp.kind }, inp.shape, inp.kind === 'features' ? 'f32' : 'i32', inp.span);
    }
    for (const inp of m.inputs.values()) {
      if (!inp.shiftedFrom) continue;
      const attrs: OpAttrs['shift_right'] = { bos: inp.bos ?? 0, pad: inp.pad ?? 0 };
      if (inp.eos !== undefined) attrs.eos = inp.eos;
      this.emit(`%${inp.name}`, 'shift_right', [`%${inp.shiftedFrom}`], attrs, inp.shape, 'i32', inp.span);
    }
    if (m.embed) this.param('embed.tokens.weight', [m.embed.vocab, m.embed.width]);
    if (m.embed?.positions === 'learned') this.param('embed.positions.weight', [m.embed.maxPositions ?? 1, m.embed.width]);

    for (const s of m.stacks) this.stack(s);

    const outputs: string[] = [];
    if (m.output && m.embed) {
      const from = this.stackOut.get(m.output.from) as string;
      const table = m.output.tied ? '%embed.tokens.weight' : this.param('lm_head.weight', [m.output.vocab, this.d]);
      const shape = [...this.shapeOf(from).slice(0, -1), sym.constant(m.output.vocab)];
      const bias = m.output.bias ? [this.param('lm_head.bias', [m.output.vocab])] : [];
      outputs.push(this.emit(`%${m.output.name}`, 'matmul', [from, table, ...bias], { transpose_b: true }, shape, 'f32', m.output.span));
    }
    const dims = [...m.dims.values()].filter((d) => d.kind === 'symbolic').map((d) => (d.bound === undefined ? { name: d.name } : { name: d.name, bound: d.bound }));
    return { model: m.name, dims, nodes: this.nodes, outputs };
  }

  private stack(s: StackInfo): void {
    const src = this.m.inputs.get(s.source);
    if (!src) return;
    let x: string;
    const seq = [src.shape[0], src.shape[1], sym.constant(this.d)];
    if (src.kind === 'features') {
      x = `%${src.name}`;
    } else {
      const embed = this.m.embed;
      // A stack's own position table is declared before its gather, so lowering can fuse the two as it does the
      // model-wide table.
      const table = s.positions ? this.param(`${s.name}.positions.weight`, [s.positions.maxPositions, this.d]) : undefined;
      x = this.emit(`%${s.name}.embed`, 'gather', ['%embed.tokens.weight', `%${src.name}`], { scale: embed?.scale ?? 1 }, seq, 'f32', s.span);
      if (s.positions && table) {
        // The stack's own table replaces the model-wide positions; the same op reads it.
        const p = this.emit(`%${s.name}.positions`, 'positions', [`%${src.name}`, table], { kind: 'learned', offset: s.positions.offset }, [src.shape[1], sym.constant(this.d)], 'f32', s.span);
        x = this.emit(`%${s.name}.embed_pos`, 'add', [x, p], {}, seq, 'f32', s.span);
      } else if (embed?.positions === 'sinusoidal') {
        const p = this.emit(`%${s.name}.positions`, 'positions', [`%${src.name}`], { kind: 'sinusoidal', layout: embed.sinusoidalLayout }, [src.shape[1], sym.constant(this.d)], 'f32', s.span);
        x = this.emit(`%${s.name}.embed_pos`, 'add', [x, p], {}, seq, 'f32', s.span);
      } else if (embed?.positions === 'learned') {
        const p = this.emit(`%${s.name}.positions`, 'positions', [`%${src.name}`, '%embed.positions.weight'], { kind: 'learned', offset: embed.positionOffset }, [src.shape[1], sym.constant(this.d)], 'f32', s.span);
        x = this.emit(`%${s.name}.embed_pos`, 'add', [x, p], {}, seq, 'f32', s.span);
      }
    }
    if (s.embedNorm) x = this.norm(x, `${s.name}.embed_norm`, s.embedNorm, s, seq);
    for (let i = 0; i < s.repeat; i++) {
      const prefix = `${s.name}.layers.${i}`;
      let counts = { self: 0, cross: 0, ffn: 0, norm: 0 };
      for (const layer of s.layers) {
        const key = layer.kind === 'attention' ? layer.mode : layer.kind;
        const n = counts[key]++;
        const base = `${prefix}.${key === 'self' ? 'self_attn' : key === 'cross' ? 'cross_attn' : key}${n > 0 ? n : ''}`;
        if (layer.kind === 'norm') {
          x = this.norm(x, `${base}`, layer.type, s, seq);
          continue;
        }
        const sub = (input: string) => (layer.kind === 'attention' ? this.attention(input, base, layer, seq) : this.ffn(input, base, layer, seq));
        if (s.norm.place === 'pre') {
          const normed = this.norm(x, `${base}_norm`, s.norm.type, s, seq);
          x = this.emit(`%${base}.residual`, 'add', [x, sub(normed)], {}, seq, 'f32', layer.span);
        } else if (s.norm.place === 'post') {
          const sum = this.emit(`%${base}.residual`, 'add', [x, sub(x)], {}, seq, 'f32', layer.span);
          x = this.norm(sum, `${base}_norm`, s.norm.type, s, seq);
        } else {
          x = this.emit(`%${base}.residual`, 'add', [x, sub(x)], {}, seq, 'f32', layer.span);
        }
      }
      counts = { self: 0, cross: 0, ffn: 0, norm: 0 };
    }
    if (s.norm.place === 'pre') x = this.norm(x, `${s.name}.norm`, s.norm.type, s, seq);
    this.stackOut.set(s.name, x);
  }

  private attention(x: string, base: string, a: AttentionInfo, seq: Poly[]): string {
    const d = this.d;
    const kvWidth = a.kvHeads * a.headDim;
    const memory = a.mode === 'cross' && a.memory ? (this.stackOut.get(a.memory) ?? `%${a.memory}`) : x;
    const memShape = this.shapeOf(memory);
    const kvSeq = [memShape[0], memShape[1], sym.constant(kvWidth)];
    const q = this.linear(x, `${base}.q_proj`, d, d, seq, a);
    const k = this.linear(memory, `${base}.k_proj`, d, kvWidth, kvSeq, a);
    const v = this.linear(memory, `${base}.v_proj`, d, kvWidth, kvSeq, a);
    const embed = this.m.embed;
    const attrs: AttentionAttrs = {
      heads: a.heads,
      kv_heads: a.kvHeads,
      head_dim: a.headDim,
      mask: a.mask?.name ?? '',
      score: a.score?.name ?? '',
      scale: a.scale,
      ...(a.score ? { modifiers: a.score.mods.map(printScoreMod) } : {}),
      rope: embed?.positions === 'rotary',
      query_axis: a.queryAxis,
      key_axis: a.keyAxis,
    };
    if (embed?.positions === 'rotary') {
      Object.assign(attrs, { rope_style: embed.rotary.style, rope_theta: embed.rotary.theta, rope_dims: rotaryDims(embed.rotary, a.headDim) ?? a.headDim });
    }
    // A learned relative-position bias is a weight of the layer, named as in Hugging Face's T5; a shared one (T5's
    // own arrangement) lives in the stack's first layer and every layer reads it.
    const rel = a.score?.mods.find((x) => x.kind === 'relative_bias');
    const owner = rel?.kind === 'relative_bias' && rel.shared ? base.replace(/\.layers\.\d+\./, '.layers.0.') : base;
    const table = rel?.kind === 'relative_bias' ? [this.param(`${owner}.relative_attention_bias.weight`, [rel.buckets, a.heads])] : [];
    const o = this.emit(`%${base}.attn`, 'attention', [q, k, v, ...table], attrs, seq, 'f32', a.span);
    return this.linear(o, `${base}.o_proj`, d, d, seq, a);
  }

  private ffn(x: string, base: string, f: FfnInfo, seq: Poly[]): string {
    const d = this.d;
    const hidden = [seq[0], seq[1], sym.constant(f.width)];
    if (f.activation === 'swiglu' || f.activation === 'geglu') {
      const gate = this.linear(x, `${base}.gate_proj`, d, f.width, hidden, f);
      const up = this.linear(x, `${base}.up_proj`, d, f.width, hidden, f);
      const h = this.emit(`%${base}.${f.activation}`, f.activation, [gate, up], {}, hidden, 'f32', f.span);
      return this.linear(h, `${base}.down_proj`, f.width, d, seq, f);
    }
    const up = this.linear(x, `${base}.up_proj`, d, f.width, hidden, f);
    const h = this.emit(`%${base}.${f.activation}`, 'act', [up], { fn: f.activation }, hidden, 'f32', f.span);
    return this.linear(h, `${base}.down_proj`, f.width, d, seq, f);
  }

  private linear(x: string, name: string, inDim: number, outDim: number, shape: Poly[], at: { span: IrNode['span']; bias: boolean }): string {
    const args = [x, this.param(`${name}.weight`, [outDim, inDim])];
    if (at.bias) args.push(this.param(`${name}.bias`, [outDim]));
    return this.emit(`%${name}`, 'matmul', args, { transpose_b: true }, shape, 'f32', at.span);
  }

  /** A norm with the stack's ε; layer norms have a bias (β) unless the stack has none. */
  private norm(x: string, name: string, type: NormType, s: StackInfo, shape: Poly[]): string {
    const args = [x, this.param(`${name}.weight`, [this.d])];
    if (type === 'layer' && s.bias) args.push(this.param(`${name}.bias`, [this.d]));
    return this.emit(`%${name}`, 'norm', args, { type, eps: s.eps }, shape, 'f32');
  }

  private param(name: string, shape: number[]): string {
    const id = `%${name}`;
    if (!this.byId.has(id)) this.emit(id, 'param', [], {}, shape.map((s) => sym.constant(s)), 'f32');
    return id;
  }

  private emit<O extends Op>(id: string, op: O, args: string[], attrs: OpAttrs[O], shape: Poly[], dtype: IrNode['dtype'], span?: IrNode['span']): string {
    const node = irNode(op, span ? { id, args, attrs, shape, dtype, span } : { id, args, attrs, shape, dtype });
    this.nodes.push(node);
    if (!this.byId.has(id)) this.byId.set(id, node);
    return id;
  }

  private shapeOf(id: string): Poly[] {
    return this.byId.get(id)?.shape ?? [];
  }
}
