// The checker's entry point: AST → checked model, with every problem in the file reported in one run.
//
// Order: names (duplicates), dims (values, cycles), inputs (shapes, axes), masks and scores, the embedding, stacks in
// declaration order (so a cross-attention memory must come earlier), then the output projection and the loss.

import type { SourceFile } from '../lang/ast.ts';
import { parseSource } from '../lang/parse.ts';
import { DiagnosticBag, type Diagnostic } from '../lang/diagnostics.ts';
import { checkInputs } from './inputs.ts';
import { LayerChecker } from './layers.ts';
import { checkLoss } from './loss.ts';
import { checkMasks } from './masks.ts';
import type { CheckedModel } from './model.ts';
import { collectNames, resolveDims } from './scope.ts';
import { checkScore } from './scores.ts';
import { checkSizes } from './sizes.ts';

export interface CheckResult {
  file: SourceFile;
  model?: CheckedModel;
  diagnostics: Diagnostic[];
}

function checkModel(file: SourceFile, bag = new DiagnosticBag()): CheckedModel | undefined {
  const ast = file.model;
  if (!ast) return undefined;
  const names = collectNames(ast, bag);
  const dims = resolveDims(ast, names, bag);
  const inputs = checkInputs(ast, names, dims, bag);
  const m: CheckedModel = { name: ast.name.text, dims, inputs, masks: new Map(), scores: new Map(), stacks: [] };
  for (const item of ast.items) {
    if (item.kind === 'mask' && names.get(item.name.text)?.name === item.name) m.masks.set(item.name.text, { name: item.name.text, expr: item.expr, span: item.name.span });
    if (item.kind === 'score' && names.get(item.name.text)?.name === item.name) m.scores.set(item.name.text, checkScore(item, bag));
  }
  const layers = new LayerChecker(m, names, bag);
  layers.embed(ast);
  for (const item of ast.items) {
    if (item.kind !== 'stack' || names.get(item.name.text)?.name !== item.name) continue;
    const s = layers.stack(item);
    if (s) m.stacks.push(s);
  }
  layers.output(ast);
  checkSizes(m, bag);
  checkMasks(m, names, bag);
  checkLoss(ast, m, names, bag);
  return m;
}

/** Parse and check one file: the whole front end. */
export function checkSource(text: string, path: string): CheckResult {
  const parsed = parseSource(text, path);
  const bag = new DiagnosticBag();
  for (const d of parsed.diagnostics) bag.items.push(d);
  // A file with syntax errors is still checked (the parser recovered what it could), so one run shows both kinds.
  const model = checkModel(parsed.file, bag);
  return { file: parsed.file, model: bag.hasErrors ? undefined : model, diagnostics: withoutCascades(bag.sorted(), parsed.file.brokenNames ?? []) };
}

/**
 * A declaration the parser could not read is already reported as a syntax error; "unknown name" errors about it
 * elsewhere would only repeat that, so they are dropped.
 */
function withoutCascades(ds: Diagnostic[], broken: string[]): Diagnostic[] {
  if (broken.length === 0) return ds;
  const unknown = new Set(['E202', 'E203', 'E401', 'E509', 'E508']);
  return ds.filter((d) => !(unknown.has(d.code) && broken.some((name) => d.message.includes(`'${name}'`))));
}
