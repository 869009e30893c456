// The mask inspector: every mask of the model drawn for dims and data the user sets, through the same view as
// `mdl mask` (src/cli/mask-view.ts) and the same figure (axes, legend, tile classes), so each picture is the PNG
// `mdl mask --out` writes for the command line shown under it. Hovering a cell says (b, h, q, k), whether the pair
// is visible, and which part of the policy decided it.

import type { CheckedModel } from '../src/check/model.ts';
import { allMasks, maskView, type MaskOptions, type MaskView } from '../src/runtime/mask-view.ts';
import { describePair } from '../src/masks/explain.ts';
import { cellAt, figurePixels } from '../src/masks/mask-figure.ts';
import { dataReads, toPredicate } from '../src/masks/policy.ts';
import { printBool } from '../src/masks/print-predicate.ts';
import { showError } from './errors.ts';

/** A form field: the flag of `mdl mask` it stands for, and its value. */
interface Field {
  flag: 'dims' | 'lengths' | 'tokens' | 'segments' | 'batch' | 'head' | 'tiles';
  name?: string;
  input: HTMLInputElement;
}

const DEFAULT_LENGTH = 12;

export class MaskInspector {
  private fields: Field[] = [];
  private model?: CheckedModel;
  private specName = 'spec.mdl';
  /** What each drawn mask was drawn with, for tests and for the hover text. */
  drawn: { mask: string; command: string }[] = [];

  /** Field values from the page's address (`dims=T=9`, `tokens=tgt=5,6,0`, `tiles=2x2`…), used until replaced. */
  private fromAddress = new Map<string, string>();
  private defaults = new Map<string, string>();

  constructor(
    private readonly form: HTMLElement,
    private readonly figures: HTMLElement,
    /** Called after every drawing with the fields that differ from their defaults, as query parameters. */
    private readonly onDrawn: (query: [string, string][]) => void = () => undefined,
  ) {}

  /**
   * Takes the mask fields from query parameters named like `mdl mask`'s flags; returns the values that name no
   * field of `model` (to be reported).
   */
  setFromAddress(q: URLSearchParams, model: CheckedModel): string[] {
    const unknown: string[] = [];
    for (const part of (q.get('dims') ?? '').split(',').filter(Boolean)) {
      const [name, value] = part.split('=');
      if (model.dims.get(name)?.kind === 'symbolic' && name !== 'B' && value !== undefined) this.fromAddress.set(`dims:${name}`, value);
      else unknown.push(`dims=${part}: the spec has no symbolic dim '${name}' to set`);
    }
    for (const flag of ['lengths', 'tokens', 'segments'] as const) {
      for (const item of q.getAll(flag)) {
        const at = item.indexOf('=');
        if (at > 0) this.fromAddress.set(`${flag}:${item.slice(0, at)}`, item.slice(at + 1));
        else unknown.push(`${flag}=${item}: expected NAME=VALUES`);
      }
    }
    for (const flag of ['batch', 'head', 'tiles'] as const) {
      const v = q.get(flag);
      if (v !== null) this.fromAddress.set(`${flag}:`, v);
    }
    return unknown;
  }

  /** Builds the fields for a (new) model, keeping the values of fields that still exist, and draws. */
  show(model: CheckedModel, specName: string): void {
    const kept = new Map([...this.fromAddress, ...this.fields.map((f): [string, string] => [`${f.flag}:${f.name ?? ''}`, f.input.value])]);
    this.defaults.clear();
    this.model = model;
    this.specName = specName;
    this.fields = [];
    this.form.replaceChildren();
    const add = (flag: Field['flag'], name: string | undefined, label: string, value: string, title: string, range?: [number, number], placeholder = '') => {
      const wrap = document.createElement('label');
      wrap.className = 'field';
      wrap.title = title;
      wrap.append(`${label} `);
      const input = document.createElement('input');
      input.dataset.flag = flag;
      if (name) input.dataset.name = name;
      input.value = kept.get(`${flag}:${name ?? ''}`) ?? value;
      this.defaults.set(`${flag}:${name ?? ''}`, value);
      input.size = range ? 4 : 14;
      input.placeholder = placeholder;
      wrap.append(input);
      if (range) {
        const slider = document.createElement('input');
        slider.type = 'range';
        slider.min = String(range[0]);
        slider.max = String(range[1]);
        slider.value = input.value;
        slider.addEventListener('input', () => {
          input.value = slider.value;
          this.draw();
        });
        input.addEventListener('input', () => (slider.value = input.value));
        wrap.append(slider);
      }
      input.addEventListener('change', () => this.draw());
      this.form.append(wrap);
      this.fields.push({ flag, name, input });
    };
    for (const d of model.dims.values()) {
      if (d.kind !== 'symbolic' || d.name === 'B') continue;
      const max = Math.min(d.bound ?? 128, 128);
      add('dims', d.name, d.name, String(Math.min(DEFAULT_LENGTH, max)), `the symbolic dim ${d.name}${d.bound ? ` (at most ${d.bound})` : ''}`, [1, max]);
    }
    // The data any mask reads, in the syntax of mdl mask's flags; empty fields take its stated defaults.
    const reads = new Map<string, Field['flag']>();
    for (const m of allMasks(model).values()) {
      for (const r of m.policy ? dataReads(m.policy) : []) {
        const input = model.inputs.get(r.input);
        if (!input) continue;
        if (input.kind === 'lengths') reads.set(input.name, 'lengths');
        else if (input.kind === 'segments') reads.set(input.name, 'segments');
        else reads.set(input.shiftedFrom ?? input.name, 'tokens');
      }
    }
    const hints = { lengths: 'one length per batch row, e.g. 5,3', tokens: 'token ids, the pad id marking padding; batch rows separated by ;', segments: 'a document id per position, e.g. 0,0,0,1,1; batch rows separated by ;' };
    for (const [name, flag] of reads) {
      const pad = model.inputs.get(name)?.pad;
      const placeholder = flag === 'lengths' ? 'full length' : flag === 'segments' ? 'one document' : `no padding${pad !== undefined ? ` (pad ${pad})` : ''}`;
      add(flag, name, `${name} (${flag})`, '', hints[flag as keyof typeof hints], undefined, placeholder);
    }
    add('batch', undefined, 'batch row', '0', 'the batch row drawn');
    add('head', undefined, 'head', '0', 'the head drawn');
    add('tiles', undefined, 'tiles', '4x4', 'tile size of the class overlay (QxK), empty for none');
    this.draw();
  }

  /** The options every mask is drawn with, as `mdl mask` takes them. */
  options(): MaskOptions {
    const value = (flag: Field['flag']) => this.fields.filter((f) => f.flag === flag && f.input.value.trim() !== '');
    return {
      dims: value('dims').map((f) => `${f.name}=${f.input.value.trim()}`).join(','),
      lengths: value('lengths').map((f) => `${f.name}=${f.input.value.trim()}`),
      tokens: value('tokens').map((f) => `${f.name}=${f.input.value.trim()}`),
      segments: value('segments').map((f) => `${f.name}=${f.input.value.trim()}`),
      batch: value('batch')[0]?.input.value.trim() ?? '0',
      head: value('head')[0]?.input.value.trim() ?? '0',
      tiles: value('tiles')[0]?.input.value.trim() || undefined,
    };
  }

  /** The fields that differ from their defaults, as query parameters named like mdl mask's flags. */
  private query(): [string, string][] {
    const out: [string, string][] = [];
    const changed = this.fields.filter((f) => f.input.value.trim() !== this.defaults.get(`${f.flag}:${f.name ?? ''}`));
    const dims = changed.filter((f) => f.flag === 'dims').map((f) => `${f.name}=${f.input.value.trim()}`);
    if (dims.length) out.push(['dims', dims.join(',')]);
    for (const f of changed) if (f.flag !== 'dims') out.push([f.flag, f.name ? `${f.name}=${f.input.value.trim()}` : f.input.value.trim()]);
    return out;
  }

  draw(): void {
    const model = this.model;
    if (!model) return;
    this.onDrawn(this.query());
    this.figures.replaceChildren();
    this.drawn = [];
    const opts = this.options();
    for (const mask of allMasks(model).values()) {
      const fig = document.createElement('figure');
      fig.dataset.mask = mask.name;
      this.figures.append(fig);
      if (!mask.policy) continue;
      let view: MaskView;
      let axes: string | undefined;
      try {
        try {
          view = maskView(model, { ...opts, mask: mask.name });
        } catch (e) {
          // A mask no attention site uses may not fix its axes: draw it along the first symbolic dim, and say so.
          const first = [...model.dims.values()].find((d) => d.kind === 'symbolic' && d.name !== 'B')?.name;
          if (!first || !/--axes/.test((e as Error).message)) throw e;
          axes = `${first},${first}`;
          view = maskView(model, { ...opts, mask: mask.name, axes });
        }
      } catch (e) {
        const box = document.createElement('div');
        box.className = 'error';
        showError(box, `mask ${mask.name}`, e);
        fig.append(box);
        continue;
      }
      const command = commandLine(this.specName, mask.name, opts, axes);
      this.drawn.push({ mask: mask.name, command });
      fig.append(...this.canvasOf(view), this.captionOf(view, command));
    }
  }

  private canvasOf(view: MaskView): [HTMLCanvasElement, HTMLElement] {
    const { layout, rgba } = figurePixels(view.figure);
    const canvas = document.createElement('canvas');
    canvas.width = layout.width;
    canvas.height = layout.height;
    canvas.dataset.mask = view.mask.name;
    // Where the grid lies, for pointing at a cell from outside (tests, tools).
    canvas.dataset.layout = JSON.stringify(layout);
    canvas.getContext('2d')!.putImageData(new ImageData(rgba, layout.width, layout.height), 0, 0);
    const hover = document.createElement('div');
    hover.className = 'hover';
    hover.textContent = 'point at a cell to see why it is visible or hidden';
    canvas.addEventListener('mousemove', (ev) => {
      const at = cellAt(layout, ev.offsetX, ev.offsetY);
      hover.textContent = at ? describePair(view.policy, { b: view.batch, h: view.head, ...at }, view.env) : 'point at a cell to see why it is visible or hidden';
    });
    return [canvas, hover];
  }

  private captionOf(view: MaskView, command: string): HTMLElement {
    const cap = document.createElement('figcaption');
    const line = (label: string, text: string, cls = '') => {
      const div = document.createElement('div');
      if (cls) div.className = cls;
      const b = document.createElement('b');
      b.textContent = `${label} `;
      const code = document.createElement('code');
      code.textContent = text;
      div.append(b, code);
      cap.append(div);
    };
    line('normal form:', view.figure.title.replace(/^mask /, ''));
    line('predicate:', printBool(toPredicate(view.policy)));
    line('as a command:', command, 'command');
    return cap;
  }
}

/** The `mdl mask` command that draws the same picture. */
function commandLine(spec: string, mask: string, opts: MaskOptions, axes?: string): string {
  const quote = (s: string) => (/^[\w.,=:/-]+$/.test(s) ? s : `'${s}'`);
  const parts = ['mdl', 'mask', spec, '--mask', mask];
  if (opts.dims) parts.push('--dims', opts.dims);
  for (const l of opts.lengths ?? []) parts.push('--lengths', quote(l));
  for (const t of opts.tokens ?? []) parts.push('--tokens', quote(t));
  for (const s of opts.segments ?? []) parts.push('--segments', quote(s));
  if (opts.batch !== '0') parts.push('--batch', opts.batch);
  if (opts.head !== '0') parts.push('--head', opts.head);
  if (opts.tiles) parts.push('--tiles', opts.tiles);
  if (axes) parts.push('--axes', axes);
  return parts.join(' ');
}
