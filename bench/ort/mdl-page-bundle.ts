// mdl's page bundle for the Chromium comparison: mdl-page.ts and the generator and runtime modules it imports,
// bundled by esbuild for the browser in memory (the benchmark serves it; nothing is written to disk).

import { join } from 'node:path';

export async function buildMdlPageBundle(): Promise<string> {
  const { build } = await import('esbuild');
  const bundle = await build({
    entryPoints: [join(import.meta.dirname, 'mdl-page.ts')],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // The device module imports Dawn only in Node; in the page the device comes from navigator.gpu.
    external: ['webgpu'],
    logLevel: 'silent',
  });
  return bundle.outputFiles[0].text;
}
