// What lowering a mask expression needs from the rest of the spec, kept apart from the lowering itself so that the
// built-in policies (builtins.ts) can read the scope without importing the lowering that calls them.

import type { Expr, Span } from '../lang/ast.ts';
import type { DiagnosticBag } from '../lang/diagnostics.ts';

export interface ScopeInput {
  kind: 'tokens' | 'lengths' | 'segments' | 'features';
  /** The dim its positions run along (or, for lengths, the dim they count). */
  axis?: string;
  pad?: number;
}

/** What mask lowering needs to know about the rest of the spec. */
export interface MaskScope {
  /** A dim: its value when concrete; symbolic dims become dispatch-time params. */
  dim(name: string): { concrete?: number } | undefined;
  input(name: string): ScopeInput | undefined;
  /** The expression of another named mask. */
  mask(name: string): Expr | undefined;
  /** Where a named mask is declared (for errors about the mask as a whole). */
  maskSpan?(name: string): Span | undefined;
  /** The kind of any other declared name (for "is a stack, not a mask"). */
  kindOf(name: string): string | undefined;
}

/** What a built-in policy reads while it is lowered: the scope, and where to report a bad argument. */
export interface MaskContext {
  readonly scope: MaskScope;
  readonly bag: DiagnosticBag;
}
