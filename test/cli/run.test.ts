// Generation from the command line's code path: the WebGPU program and the CPU interpreter choose the same tokens
// with the same seeded weights, for an encoder-decoder and a decoder-only spec.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { runModel } from '../../src/cli/run-command.ts';

const root = join(import.meta.dirname, '..', '..');
const load = (f: string) => checkSource(readFileSync(join(root, 'specs', f), 'utf8'), f).model!;
const quiet = () => {};

describe('mdl run', () => {
  it('translator: GPU and CPU generate the same tokens from the seed sentence', async () => {
    const opts = { source: '我喜欢吃苹果', input: '', maxNew: '5', seed: '3' };
    const gpu = await runModel(load('translator.mdl'), { ...opts, backend: 'gpu' }, quiet);
    const cpu = await runModel(load('translator.mdl'), { ...opts, backend: 'cpu' }, quiet);
    expect(gpu.source).toHaveLength(18); // 6 characters, 3 UTF-8 bytes each
    expect(gpu.tokens).toHaveLength(5);
    expect(gpu.tokens).toEqual(cpu.tokens);
    expect(gpu.adapter).toBeTruthy();
  });

  it('a decoder-only spec with packed documents: GPU and CPU agree, sampling is reproducible', async () => {
    const opts = { input: 'mdl', maxNew: '4', seed: '5', temperature: '0.8', topK: '20' };
    const a = await runModel(load('packed.mdl'), { ...opts, backend: 'gpu' }, quiet);
    const b = await runModel(load('packed.mdl'), { ...opts, backend: 'cpu' }, quiet);
    expect(a.tokens).toEqual(b.tokens);
    expect(a.prompt).toHaveLength(3);
  });
});
