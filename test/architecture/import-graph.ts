// The import graph of the compiler's own code (src/, grammar/, web/) and the rules it must keep: imports point down
// the pipeline only, and no set of modules imports itself round in a cycle.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

/**
 * The pipeline from the bottom up: a module may import from its own folder and from folders of earlier layers.
 * Folders sharing a layer (the three front ends at the top) may not import each other.
 *
 * src/masks sits below src/check because checking a spec lowers each of its masks with src/masks (the README's
 * "check" stage is both folders), while src/masks needs nothing from the checker. src/wgsl sits below src/lower
 * because it is the library of kernel generators that lowering calls; it knows nothing of schedules.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ['grammar'],
  ['generated'],
  ['src/lang'],
  ['src/masks'],
  ['src/check'],
  ['src/ir'],
  ['src/wgsl'],
  ['src/lower'],
  ['src/runtime'],
  ['src/tune'],
  ['src/cli', 'web'],
];

/** The reference interpreter checks what lowering produces, so it must not share code with lowering. */
export const INDEPENDENT: readonly { module: string; mayNotImport: string }[] = [
  { module: 'src/runtime/cpu-interpreter.ts', mayNotImport: 'src/lower' },
  { module: 'src/runtime/attention-cpu.ts', mayNotImport: 'src/lower' },
];

/** The scanned folders. */
export const ROOTS = ['src', 'grammar', 'web'];

/** Module path (relative to the repository root, with `/`) → the modules it imports, type-only imports included. */
export type ImportGraph = Map<string, string[]>;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) return sourceFiles(p);
    return /\.tsx?$/.test(f) ? [p] : [];
  });
}

const posix = (p: string) => p.split('\\').join('/');

/** Reads every .ts file under the roots; relative imports (static, `export … from`, literal `import()`) are edges. */
export function readImportGraph(root: string, roots: readonly string[] = ROOTS): ImportGraph {
  const graph: ImportGraph = new Map();
  for (const file of roots.flatMap((r) => sourceFiles(join(root, r)))) {
    const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = info.importedFiles
      .map((i) => i.fileName)
      .filter((name) => name.startsWith('.'))
      .map((name) => posix(relative(root, resolve(dirname(file), name))));
    graph.set(posix(relative(root, file)), [...new Set(targets)].sort());
  }
  return graph;
}

/** The folder of a module as named in LAYERS (`src/lower/fuse.ts` → `src/lower`), or undefined when unlisted. */
export function folderOf(module: string): string | undefined {
  return LAYERS.flat().find((f) => module === f || module.startsWith(`${f}/`));
}

const layerIndex = (folder: string) => LAYERS.findIndex((l) => l.includes(folder));

/** Every import that does not point down the pipeline, as `from → to (why)`. */
export function layeringViolations(graph: ImportGraph): string[] {
  const out: string[] = [];
  for (const [from, targets] of graph) {
    const source = folderOf(from);
    for (const to of targets) {
      const target = folderOf(to);
      if (!source || !target) {
        out.push(`${from} → ${to} (outside the layered folders ${LAYERS.flat().join(', ')})`);
        continue;
      }
      if (source === target) continue;
      const [a, b] = [layerIndex(source), layerIndex(target)];
      if (b > a) out.push(`${from} → ${to} (${source} may not import the later ${target})`);
      else if (b === a) out.push(`${from} → ${to} (${source} and ${target} are side by side and may not import each other)`);
    }
    for (const rule of INDEPENDENT) {
      if (from !== rule.module) continue;
      for (const to of targets) if (folderOf(to) === rule.mayNotImport) out.push(`${from} → ${to} (the reference interpreter must not share code with ${rule.mayNotImport})`);
    }
  }
  return out.sort();
}

/** Every import cycle, as its modules sorted and joined with ` ↔ ` (Tarjan's strongly connected components). */
export function importCycles(graph: ImportGraph): string[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[] = [];
  let next = 0;
  const visit = (v: string): void => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) cycles.push(component.sort().join(' ↔ '));
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles.sort();
}
