// The lowering stages `mdl dump --stage NAME` can print, added to the front end's stage table. The table is read
// when the CLI is built, so this module registers on import (compile-command.ts imports it).

import { dumpStages } from '../cli/front-end-commands.ts';
import { requireModel } from '../cli/load.ts';
import { lower, PASSES } from './passes.ts';

function passText(name: string, path: string): string {
  const pass = PASSES.find((p) => p.name === name);
  if (!pass) throw new Error(`no lowering pass named ${name}`);
  return pass.print(lower(requireModel(path).model));
}

Object.assign(dumpStages, {
  fuse: (path: string) => passText('fuse', path),
  schedule: (path: string) => passText('schedule', path),
  wgsl: (path: string) => {
    const { kernels } = lower(requireModel(path).model).rendered;
    return kernels.map((k) => `// ---- ${k.file}\n${k.wgsl.endsWith('\n') ? k.wgsl : `${k.wgsl}\n`}`).join('\n');
  },
  manifest: (path: string) => passText('render', path),
  cache: (path: string) => passText('cache', path),
  decode: (path: string) => passText('decode', path),
});
