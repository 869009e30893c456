// `npm run gen`: regenerates everything under generated/ — the CST types and syntax diagram from the grammar, and the
// compiled output of every spec in specs/. Tests fail when the committed files are stale.

import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkSource } from '../src/check/check.ts';
import { lower } from '../src/lower/passes.ts';
import { compiledTrainingPrograms } from '../src/lower/training-programs.ts';
import { writeCompiled } from '../src/lower/write-output.ts';
import { cstDeclarations, syntaxDiagramHtml } from './gen-grammar.ts';

const root = join(import.meta.dirname, '..');
const generated = join(root, 'generated');
writeFileSync(join(generated, 'cst.d.ts'), cstDeclarations());
writeFileSync(join(generated, 'syntax-diagram.html'), syntaxDiagramHtml());
for (const f of readdirSync(join(root, 'specs')).filter((x) => x.endsWith('.mdl')).sort()) {
  const r = checkSource(readFileSync(join(root, 'specs', f), 'utf8'), `specs/${f}`);
  if (!r.model) throw new Error(`specs/${f} does not check`);
  const lowered = lower(r.model);
  const files = writeCompiled(join(generated, r.model.name), lowered, compiledTrainingPrograms(r.model, lowered));
  console.log(`specs/${f} → generated/${r.model.name}/ (${files.length} files)`);
}
