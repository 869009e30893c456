// Predicate → WGSL: the mask compiled into `fn mdl_mask(b, h, q, k) -> bool`, following kernel-contract.ts.
//
// Every identifier in the output is generated here (the `mask_params` / `mask_data` reads, `mdl_*` helpers); nothing from the
// spec is interpolated, so a mask reading an input called `fn` or `我` compiles to the same safe code. Spec names
// appear only inside the param-slot table, which the runtime reads in JavaScript.

import { foldBool } from './fold.ts';
import { hashWgsl, keepThreshold } from './hash.ts';
import type { MaskParamSlot, MaskWgsl } from './kernel-contract.ts';
import type { BoolExpr, IntExpr, LoadAt } from './predicate.ts';
import { isIndexOnly, readsHead } from './tiles.ts';

const HELPERS = `fn mdl_div(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  let q = a / b;
  // WGSL division truncates toward zero; step down when the signs differ and there is a remainder (floor).
  if ((a % b != 0) && ((a < 0) != (b < 0))) { return q - 1; }
  return q;
}
fn mdl_mod(a: i32, b: i32) -> i32 {
  if (b == 0) { return 0; }
  let r = a % b;
  if ((r != 0) && ((r < 0) != (b < 0))) { return r + b; }
  return r;
}`;

class Emitter {
  readonly params: MaskParamSlot[] = [];
  readonly inputs: { input: string; at: LoadAt }[] = [];
  usesDiv = false;
  usesHash = false;

  slot(s: MaskParamSlot): number {
    const key = JSON.stringify(s);
    const i = this.params.findIndex((p) => JSON.stringify(p) === key);
    if (i >= 0) return i;
    this.params.push(s);
    return this.params.length - 1;
  }

  int(e: IntExpr): string {
    switch (e.kind) {
      case 'var':
        return e.name;
      case 'const':
        if (!Number.isInteger(e.value) || e.value < -(2 ** 31) || e.value > 2 ** 31 - 1) throw new Error(`mask constant ${e.value} does not fit in i32`);
        // The most negative i32 cannot be written as a literal; every other value can.
        return e.value === -(2 ** 31) ? 'i32(-2147483647 - 1)' : e.value < 0 ? `(${e.value})` : `${e.value}`;
      case 'param':
        return `mask_params(${this.slot({ kind: 'dim', name: e.name })}u)`;
      case 'abs':
        return `abs(${this.int(e.a)})`;
      case 'load': {
        if (!this.inputs.some((x) => x.input === e.input && x.at === e.at)) this.inputs.push({ input: e.input, at: e.at });
        // Indices are i32 arithmetic; a negative one wraps to a huge u32, which bounds checks clamp like any other
        // index past the end.
        const off = `mask_params(${this.slot({ kind: 'offset', input: e.input })}u)`;
        if (e.at === 'b') return `mask_data(u32(${off} + b))`;
        const stride = `mask_params(${this.slot({ kind: 'stride', input: e.input })}u)`;
        return `mask_data(u32(${off} + b * ${stride} + ${e.at}))`;
      }
      case 'bin': {
        const a = this.int(e.a);
        const b = this.int(e.b);
        if (e.op === '/' || e.op === '%') {
          this.usesDiv = true;
          return `${e.op === '/' ? 'mdl_div' : 'mdl_mod'}(${a}, ${b})`;
        }
        if (e.op === 'min' || e.op === 'max') return `${e.op}(${a}, ${b})`;
        return `(${a} ${e.op} ${b})`;
      }
    }
  }

  bool(e: BoolExpr): string {
    switch (e.kind) {
      case 'true':
        return 'true';
      case 'false':
        return 'false';
      case 'not':
        return `!(${this.bool(e.a)})`;
      case 'and':
        return e.args.length ? `(${e.args.map((a) => this.bool(a)).join(' && ')})` : 'true';
      case 'or':
        return e.args.length ? `(${e.args.map((a) => this.bool(a)).join(' || ')})` : 'false';
      case 'cmp':
        return `(${this.int(e.a)} ${e.op} ${this.int(e.b)})`;
      case 'random': {
        const t = keepThreshold(e.rate);
        if (t <= 0) return 'true';
        if (t >= 2 ** 32) return 'false';
        this.usesHash = true;
        return `(mdl_hash(${e.seed >>> 0}u, b, h, q, k) >= ${t}u)`;
      }
    }
  }
}

/**
 * Compiles a predicate to the WGSL mask function and the tables the runtime fills. The predicate is folded first:
 * WGSL evaluates constant subexpressions at shader creation and rejects any that overflow i32, whereas at run time
 * i32 arithmetic wraps, so no constant-only subexpression may reach the shader.
 */
export function emitMaskWgsl(pred: BoolExpr): MaskWgsl {
  const em = new Emitter();
  const body = em.bool(foldBool(pred));
  const parts: string[] = [];
  if (em.usesDiv) parts.push(HELPERS);
  if (em.usesHash) parts.push(hashWgsl('mdl_hash'));
  parts.push(`fn mdl_mask(b: i32, h: i32, q: i32, k: i32) -> bool {\n  return ${body};\n}`);
  return { code: parts.join('\n'), params: em.params, inputs: em.inputs, indexOnly: isIndexOnly(pred), perHead: readsHead(pred) };
}
