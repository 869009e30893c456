// Writes test/golden/masks/<case>.txt for every golden mask case, from the CPU evaluator.
// Review the diff before committing: the test compares each file with an independent formula and with the
// compiled WGSL on Dawn, but a new case's picture should also be read once by a person.

import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { goldenCases } from '../test/golden/masks/cases.ts';
import { renderCase } from '../test/golden/masks/render-case.ts';

const dir = join(import.meta.dirname, '..', 'test', 'golden', 'masks');
mkdirSync(dir, { recursive: true });
for (const f of readdirSync(dir)) if (f.endsWith('.txt')) rmSync(join(dir, f));
for (const c of goldenCases) writeFileSync(join(dir, `${c.name}.txt`), renderCase(c));
console.log(`wrote ${goldenCases.length} golden masks to ${dir}`);
