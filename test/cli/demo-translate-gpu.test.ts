// `npm run demo` exactly: `mdl demo` on WebGPU (Dawn; SwiftShader without a GPU) translates 我喜欢吃苹果 with the weights
// mdl trained, to the same text as the CPU reference generates with them: the right one.

import { describe, expect, it } from 'vitest';
import { mdl } from './train-support.ts';

describe('npm run demo', () => {
  it('translates 我喜欢吃苹果 on WebGPU with the shipped weights, decoding with a KV cache', async () => {
    const r = await mdl('demo');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('4. translating with weights that mdl trained: weights/translator.safetensors, vocabulary data/zh-en/vocab.json (');
    const cpu = await mdl('run', 'specs/translator.mdl', '--weights', 'weights/translator.safetensors', '--source', '我喜欢吃苹果', '--vocab', 'data/zh-en/vocab.json', '--max-new', '60', '--backend', 'cpu', '--json');
    const text: string = JSON.parse(cpu.stdout.trim().split('\n').at(-1)!).text;
    expect(text).toBe('I like to eat apples');
    expect(r.stdout).toContain(`   我喜欢吃苹果 → ${text}   (`);
    expect(r.stdout).toMatch(/^ {3}on (?!the CPU reference).+: compile [\d.]+ ms, first token [\d.]+ ms/m);
    expect(r.stdout).toContain('decoded with a KV cache');
  }, 180_000);
});
