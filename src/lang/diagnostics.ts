// Diagnostics: the one way any stage of mdl tells the user something is wrong with their spec.
//
// A diagnostic always names a stable code, a place (file:line:col via its span), what is wrong and, when we can tell,
// how to fix it. Stages collect diagnostics instead of throwing, so that one run reports every error in a file.
//
// Code ranges (stable: tests and users grep for them):
//   E1xx  syntax (lexer, parser)
//   E2xx  names (unknown, duplicate, cycles, wrong kind of thing)
//   E3xx  dims and shapes (divisibility, unresolvable dims, ids outside the vocabulary, memory widths)
//   E4xx  masks and score modifiers (parameters, axes, types of predicates)
//   E5xx  stacks, layers, embeddings and outputs
//   E6xx  the loss (function, labels, their axis and vocabulary, counted positions)

import type { Span } from './ast.ts';

export type Severity = 'error' | 'warning';

export interface Diagnostic {
  code: string;
  severity: Severity;
  message: string;
  span: Span;
  /** How to fix it, phrased as advice ("divide heads evenly: try kv_heads = 2"). */
  hint?: string;
}

/** Collects diagnostics for one file. */
export class DiagnosticBag {
  readonly items: Diagnostic[] = [];

  error(code: string, span: Span, message: string, hint?: string): void {
    this.items.push({ code, severity: 'error', message, span, hint });
  }

  warning(code: string, span: Span, message: string, hint?: string): void {
    this.items.push({ code, severity: 'warning', message, span, hint });
  }

  get hasErrors(): boolean {
    return this.items.some((d) => d.severity === 'error');
  }

  /** Diagnostics in source order (then by code), so output is stable whatever order the stages ran in. */
  sorted(): Diagnostic[] {
    return [...this.items].sort((a, b) => a.span.start - b.span.start || a.code.localeCompare(b.code));
  }
}
