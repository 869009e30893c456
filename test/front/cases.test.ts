// Golden cases: every `test/cases/*.mdl` describes its own expectation.
//
// - A case with `//! CODE @LINE:COL message` lines must produce exactly those diagnostics (code, place, and a
//   message containing the given text), no more and no fewer.
// - A case without them must check cleanly, and its AST and IR must print exactly as `NAME.ast.txt` and
//   `NAME.ir.txt` beside it (and `NAME.grad.txt` when it declares a loss). A missing file fails;
//   `UPDATE_GOLDENS=1 npx vitest run test/front/cases.test.ts` rewrites them (review the diff). A golden file with no
//   case that reads it fails too.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { buildIr } from '../../src/ir/build.ts';
import { printIr } from '../../src/ir/print.ts';
import { verifyIr } from '../../src/ir/verify.ts';
import { printAst } from '../../src/lang/print-ast.ts';
import { expectGolden } from '../support/golden.ts';
import { buildTrainingIr } from '../../src/ir/training.ts';
import { buildGradGraph } from '../../src/lower/grad.ts';

const dir = join(import.meta.dirname, '..', 'cases');
const cases = readdirSync(dir).filter((f) => f.endsWith('.mdl')).sort();

interface Expected {
  code: string;
  line: number;
  col: number;
  text: string;
}

function expectations(text: string): Expected[] {
  const out: Expected[] = [];
  for (const m of text.matchAll(/^\s*\/\/!\s*(E\d{3})\s+@(\d+):(\d+)\s+(.*)$/gm)) {
    out.push({ code: m[1], line: Number(m[2]), col: Number(m[3]), text: m[4].trim() });
  }
  return out;
}

const golden = (path: string, actual: string) => expectGolden(path, actual, import.meta.filename);

describe('golden cases', () => {
  it('has enough distinct error cases', () => {
    const codes = new Set<string>();
    for (const f of cases) for (const e of expectations(readFileSync(join(dir, f), 'utf8'))) codes.add(e.code);
    expect(codes.size).toBeGreaterThanOrEqual(20);
  });

  it('has no golden file without a clean case that reads it', () => {
    const clean = cases.filter((f) => expectations(readFileSync(join(dir, f), 'utf8')).length === 0).map((f) => f.replace(/\.mdl$/, ''));
    const goldens = readdirSync(dir).filter((f) => !f.endsWith('.mdl')).sort();
    const withLoss = (c: string) => checkSource(readFileSync(join(dir, `${c}.mdl`), 'utf8'), `${c}.mdl`).model?.loss !== undefined;
    expect(goldens).toEqual(clean.flatMap((c) => [`${c}.ast.txt`, `${c}.ir.txt`, ...(withLoss(c) ? [`${c}.grad.txt`] : [])]).sort());
  });

  for (const f of cases) {
    it(f, () => {
      const path = join(dir, f);
      const text = readFileSync(path, 'utf8');
      const want = expectations(text);
      const result = checkSource(text, `test/cases/${f}`);
      const got = result.diagnostics.map((d) => ({ code: d.code, line: d.span.line, col: d.span.col, message: d.message }));
      if (want.length > 0) {
        expect(got.map((g) => `${g.code} @${g.line}:${g.col}`)).toEqual(want.map((w) => `${w.code} @${w.line}:${w.col}`));
        want.forEach((w, i) => expect(got[i].message).toContain(w.text));
        return;
      }
      expect(got).toEqual([]);
      const base = path.replace(/\.mdl$/, '');
      golden(`${base}.ast.txt`, printAst(result.file.model!));
      const ir = buildIr(result.model!);
      expect(verifyIr(ir)).toEqual([]);
      golden(`${base}.ir.txt`, printIr(ir));
      // A case that declares a loss also pins its backward graph (`mdl dump --stage grad`), verified.
      if (result.model!.loss) golden(`${base}.grad.txt`, printIr(buildGradGraph(buildTrainingIr(result.model!))));
    });
  }
});
