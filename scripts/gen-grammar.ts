// Writes the grammar's derived artifacts into generated/:
//  - cst.d.ts: typed declarations of the concrete syntax tree (src/lang/cst-to-ast.ts is written against them);
//  - syntax-diagram.html: a railroad diagram of every rule that works offline (the drawing scripts are inlined).
// `npm run gen` runs this; a test fails when the committed files are stale.

import { generateCstDts } from '@chevrotain/cst-dts-gen';
import { createSyntaxDiagramsCode } from 'chevrotain';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parser } from '../grammar/parser.ts';

export function cstDeclarations(): string {
  const header = '// Generated from grammar/parser.ts by `npm run gen`. Do not edit.\n';
  return header + generateCstDts(parser.getGAstProductions(), { includeVisitorInterface: false });
}

/**
 * Chevrotain's diagram page loads its drawing scripts from a CDN. We inline the same scripts from the installed
 * package so that the page opens offline and always matches the installed version.
 */
export function syntaxDiagramHtml(): string {
  const require = createRequire(import.meta.url);
  // The package's exports hide package.json; resolve its main entry and walk up to the package root.
  const root = join(dirname(require.resolve('chevrotain')), '..', '..', 'diagrams');
  const html = createSyntaxDiagramsCode(parser.getSerializedGastProductions());
  const inline = (file: string) => readFileSync(join(root, file), 'utf8').replace(/<\/script>/g, '<\\/script>');
  const page = html
    .replace(/<script src=['"][^'"]*\/diagrams\/([\w/.-]+\.js)['"]>\s*<\/script>/g, (_m, file: string) => `<script>${inline(file)}</script>`)
    .replace(/<link[^>]*\/diagrams\/diagrams\.css['"][^>]*>/, () => `<style>${inline('diagrams.css')}</style>`);
  if (/https?:\/\//.test(page.replace(/<script>[\s\S]*?<\/script>/g, ''))) {
    throw new Error('syntax diagram still references the network: chevrotain changed its page layout');
  }
  return page;
}
