// The layering of src/, grammar/ and web/: every import points down the pipeline (LAYERS in import-graph.ts), the
// reference interpreter shares no code with lowering, and no modules import each other in a cycle.

import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importCycles, layeringViolations, readImportGraph, type ImportGraph } from './import-graph.ts';

const root = join(import.meta.dirname, '..', '..');

/**
 * The violations that remain, each with its reason. Every entry must still be present: the test fails on a stale
 * entry, so an entry goes with its violation. Nothing new may be added here.
 */
describe('the import graph of src/, grammar/ and web/', () => {
  const graph = readImportGraph(root);

  it('covers the whole code base', () => {
    for (const m of ['grammar/parser.ts', 'src/lang/parse.ts', 'src/cli/main.ts', 'src/runtime/cpu-interpreter.ts', 'web/app.ts']) expect(graph.has(m), m).toBe(true);
    expect([...graph.values()].flat().length).toBeGreaterThan(250);
  });

  it('has no import pointing up the pipeline', () => {
    const violations = layeringViolations(graph);
    expect(violations).toEqual([]);
  });

  it('has no import cycle', () => {
    const cycles = importCycles(graph);
    expect(cycles).toEqual([]);
  });
});

describe('the layering rules themselves', () => {
  const graphOf = (edges: Record<string, string[]>): ImportGraph => new Map(Object.entries(edges));

  it('reject an upward import, an import between side-by-side folders and one out of the layered folders', () => {
    const v = layeringViolations(
      graphOf({
        'src/lang/parse.ts': ['src/check/diagnostics.ts', 'grammar/parser.ts'],
        'src/cli/main.ts': ['web/app.ts', 'src/lower/passes.ts'],
        'src/masks/x.ts': ['test/support/y.ts'],
      }),
    );
    expect(v).toEqual([
      'src/cli/main.ts → web/app.ts (src/cli and web are side by side and may not import each other)',
      'src/lang/parse.ts → src/check/diagnostics.ts (src/lang may not import the later src/check)',
      expect.stringMatching(/^src\/masks\/x\.ts → test\/support\/y\.ts \(outside the layered folders/),
    ]);
  });

  it('reject the reference interpreter importing from lowering', () => {
    expect(layeringViolations(graphOf({ 'src/runtime/attention-cpu.ts': ['src/lower/schedule.ts', 'src/masks/evaluate.ts'] }))).toHaveLength(1);
  });

  it('find cycles of two, of three and of a module importing itself, and nothing in a chain', () => {
    const cycles = importCycles(
      graphOf({
        'a.ts': ['b.ts'],
        'b.ts': ['a.ts', 'c.ts'],
        'c.ts': ['d.ts'],
        'd.ts': ['e.ts'],
        'e.ts': ['f.ts'],
        'f.ts': ['d.ts'],
        's.ts': ['s.ts'],
        'x.ts': ['y.ts'],
        'y.ts': [],
      }),
    );
    expect(cycles).toEqual(['a.ts ↔ b.ts', 'd.ts ↔ e.ts ↔ f.ts', 's.ts']);
  });
});
