// Golden files: expected output pinned beside the tests. A missing golden is a failure, never written by the test
// that reads it; `UPDATE_GOLDENS=1 npx vitest run FILE` rewrites the goldens that FILE reads (review the diff).

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { expect } from 'vitest';

const root = join(import.meta.dirname, '..', '..');

/** Asserts that `actual` equals the golden at `path`; with UPDATE_GOLDENS=1, writes it first. */
export function expectGolden(path: string, actual: string, testFile: string): void {
  if (process.env.UPDATE_GOLDENS === '1') writeFileSync(path, actual);
  const rel = relative(root, path);
  expect(existsSync(path), `the golden ${rel} is missing: \`UPDATE_GOLDENS=1 npx vitest run ${relative(root, testFile)}\` writes it`).toBe(true);
  expect(actual, `${rel} differs (\`UPDATE_GOLDENS=1 npx vitest run ${relative(root, testFile)}\` rewrites it; review the diff)`).toBe(readFileSync(path, 'utf8'));
}
