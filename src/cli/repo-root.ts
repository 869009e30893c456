// The checkout's root folder (where package.json, specs/ and web/ are), found from this module's location. The CLI
// runs either from its sources (src/cli/) or from the bundle bin/mdl.js builds (dist/), at different depths, so the
// root is the nearest folder above that holds mdl's package.json.

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

export function repoRoot(): string {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { bin?: Record<string, string> }).bin?.mdl) return (cached = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find mdl's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}
