// The spec editor: CodeMirror 6, highlighted by the compiler's own lexer (grammar/tokens.ts) and linted by the
// compiler's own checker, so the colours and the squiggles are exactly what `mdl check` sees. Checking is debounced
// (it runs once typing pauses) and never runs the model.

import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { linter, lintGutter, type Diagnostic as LintDiagnostic } from '@codemirror/lint';
import { EditorState, RangeSetBuilder, type Extension } from '@codemirror/state';
import { Decoration, EditorView, keymap, lineNumbers, ViewPlugin, type DecorationSet, type ViewUpdate } from '@codemirror/view';
import { MdlLexer } from '../grammar/tokens.ts';
import { checkSource, type CheckResult } from '../src/check/check.ts';
import { BUILTIN_NAMES } from '../src/masks/builtins.ts';

/** The CSS class of each kind of token: keywords by the `Kw_` tokens, numbers, mask built-ins, names, operators. */
function classOf(tokenName: string, image: string): string {
  if (tokenName.startsWith('Kw_')) return 'mdl-keyword';
  if (tokenName === 'NumberLiteral') return 'mdl-number';
  if (tokenName === 'Identifier') return BUILTIN_NAMES.has(image) ? 'mdl-builtin' : 'mdl-name';
  return 'mdl-punct';
}

const marks = new Map<string, Decoration>();
const mark = (cls: string) => marks.get(cls) ?? marks.set(cls, Decoration.mark({ class: cls })).get(cls)!;

/**
 * Decorations from one lexer pass over the whole document (specs are small). The lexer skips only whitespace and
 * comments, so any non-blank gap between tokens is a comment; a span the lexer rejected is marked as invalid.
 */
function highlight(text: string): DecorationSet {
  const lexed = MdlLexer.tokenize(text);
  const ranges: { from: number; to: number; cls: string }[] = [];
  const bad = lexed.errors.map((e) => ({ from: e.offset, to: e.offset + e.length }));
  let at = 0;
  const gap = (from: number, to: number) => {
    if (from >= to) return;
    const inside = bad.filter((b) => b.from < to && b.to > from);
    if (inside.length) {
      for (const b of inside) ranges.push({ from: Math.max(from, b.from), to: Math.min(to, b.to), cls: 'mdl-invalid' });
      return;
    }
    const slice = text.slice(from, to);
    const start = slice.search(/\S/);
    if (start < 0) return;
    const end = slice.length - slice.trimEnd().length;
    ranges.push({ from: from + start, to: to - end, cls: 'mdl-comment' });
  };
  for (const t of lexed.tokens) {
    const end = t.startOffset + t.image.length;
    gap(at, t.startOffset);
    ranges.push({ from: t.startOffset, to: end, cls: classOf(t.tokenType.name, t.image) });
    at = end;
  }
  gap(at, text.length);
  const builder = new RangeSetBuilder<Decoration>();
  for (const r of ranges) if (r.to > r.from) builder.add(r.from, r.to, mark(r.cls));
  return builder.finish();
}

const mdlHighlighting = ViewPlugin.fromClass(
  class {
    decorations: DecorationSet;
    constructor(view: EditorView) {
      this.decorations = highlight(view.state.doc.toString());
    }
    update(u: ViewUpdate) {
      if (u.docChanged) this.decorations = highlight(u.state.doc.toString());
    }
  },
  { decorations: (v) => v.decorations },
);

export interface SpecEditor {
  view: EditorView;
  text(): string;
  setText(text: string): void;
}

/**
 * An editor in `parent` whose every pause in typing checks the text and reports it through `onChecked` (after the
 * squiggles are drawn). `name` is the file name diagnostics carry; nothing is checked while `active` is false.
 */
export function createEditor(parent: HTMLElement, text: string, name: () => string, onChecked: (result: CheckResult, text: string) => void, active: () => boolean): SpecEditor {
  const lint = linter(
    (view) => {
      // Until a spec is opened (or when opening one failed), the empty editor is not a spec to complain about.
      if (!active()) return [];
      const doc = view.state.doc.toString();
      const result = checkSource(doc, name());
      onChecked(result, doc);
      return result.diagnostics.map((d): LintDiagnostic => {
        const from = Math.min(d.span.start, doc.length);
        // A zero-width span (end of file) still needs a character to underline.
        const to = Math.min(Math.max(d.span.end, from + 1), doc.length);
        return { from, to: Math.max(from, to), severity: d.severity, source: d.code, message: d.message + (d.hint ? `\nhint: ${d.hint}` : '') };
      });
    },
    { delay: 350 },
  );
  const extensions: Extension[] = [
    lineNumbers(),
    history(),
    keymap.of([...defaultKeymap, ...historyKeymap, indentWithTab]),
    mdlHighlighting,
    lint,
    lintGutter(),
    EditorView.lineWrapping,
  ];
  const view = new EditorView({ parent, state: EditorState.create({ doc: text, extensions }) });
  return {
    view,
    text: () => view.state.doc.toString(),
    setText: (t) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: t } }),
  };
}
