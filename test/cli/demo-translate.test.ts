// `mdl demo` as `npm run demo` runs it, with the weights mdl trained for the translator (weights/translator.*): it says
// which weights it uses and the command that retrains them, prints what `mdl run` generates with them, and marks each
// translation right or wrong against its reference. With them 我喜欢吃苹果 comes out as "I like to eat apples", most
// of the held-out split comes out exactly right (as many as weights/translator.txt states), and `mdl eval` finds them
// far better on that split than freshly initialised ones. Text goes through the word-level data/zh-en/vocab.json.

import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readSafetensors } from '../../src/runtime/safetensors.ts';
import { mdl, root, tempDir } from './train-support.ts';

const record = readFileSync(join(root, 'weights', 'translator.txt'), 'utf8');
const fact = (key: string) => new RegExp(`^${key}: (.+)$`, 'm').exec(record)?.[1];
const VOCAB = ['--vocab', 'data/zh-en/vocab.json'];
/** The least share of the held-out split the shipped weights translate exactly right (the record states the count). */
const MOST = 0.9;
const heldOut = readFileSync(join(root, 'data', 'zh-en', 'test.tsv'), 'utf8')
  .split('\n')
  .filter((l) => l.includes('\t'))
  .map((l) => l.split('\t') as [string, string]);

describe('the shipped translator weights', () => {
  it('were written by mdl train, as weights/translator.txt records', () => {
    const command = fact('command')!;
    expect(command).toMatch(/^npx mdl train specs\/translator\.mdl --data data\/zh-en\/train\.tsv --eval data\/zh-en\/test\.tsv --vocab data\/zh-en\/vocab\.json --backend cpu /);
    expect(command).toContain(' --seed 1 ');
    expect(command).toContain(' -o weights/translator.safetensors');
    const file = readSafetensors(readFileSync(join(root, 'weights', 'translator.safetensors')));
    expect(file.metadata.mdl_checkpoint).toBe('weights');
    expect(file.metadata.step).toBe(/^(\d+)/.exec(fact('steps')!)![1]);
  });

  it('mdl demo translates with them, marks each translation right or wrong honestly, and says how to retrain them', async () => {
    const r = await mdl('demo', '--backend', 'cpu');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`4. translating with weights that mdl trained: weights/translator.safetensors, vocabulary data/zh-en/vocab.json (steps ${fact('steps')}; trained in `);
    // 我喜欢吃苹果 first (its reference is its line in train.tsv), then three held-out pairs from test.tsv.
    const held = heldOut.slice(0, 3);
    let right = 0;
    for (const [zh, en] of [['我喜欢吃苹果', 'I like to eat apples'], ...held]) {
      const line = new RegExp(`^ {3}${zh} → (.*) {3}\\((right|wrong: the reference is "(.*)")\\)$`, 'm').exec(r.stdout);
      expect(line, zh).not.toBeNull();
      // The mark is true: "right" exactly when the text is the reference.
      expect(line![2] === 'right' ? line![1] : line![3]).toBe(en);
      expect(line![2] === 'right').toBe(line![1] === en);
      if (line![2] === 'right') right++;
      // And the text is what mdl run generates with the same weights.
      const run = await mdl('run', 'specs/translator.mdl', '--weights', 'weights/translator.safetensors', '--source', zh, ...VOCAB, '--max-new', '60', '--backend', 'cpu', '--json');
      expect(run.status, run.stderr).toBe(0);
      expect(JSON.parse(run.stdout.trim().split('\n').at(-1)!).text).toBe(line![1]);
    }
    expect(r.stdout).toContain(`   ${right} of 4 right${right < 4 ? ': these weights do not translate well yet (weights/translator.txt says how far they got)' : ''}\n`);
    expect(r.stdout).toContain(`   to retrain these weights: ${fact('command')}\n`);
    expect(r.stdout).not.toContain('noise');
    // The demo's sentence comes out right, as the README and weights/translator.txt say.
    expect(r.stdout).toContain('   我喜欢吃苹果 → I like to eat apples   (right)\n');
  }, 120_000);

  it('translate most of the held-out split exactly right, as many sentences as weights/translator.txt states', async () => {
    const dir = tempDir();
    const sources = join(dir, 'sources.txt');
    writeFileSync(sources, heldOut.map(([zh]) => `${zh}\n`).join(''));
    const r = await mdl('run', 'specs/translator.mdl', '--weights', 'weights/translator.safetensors', ...VOCAB, '--input-file', sources, '--max-new', '60', '--backend', 'cpu');
    expect(r.status, r.stderr).toBe(0);
    // One `row<TAB>text` line per source line, in the order rows finish.
    const got = new Map(r.stdout.trim().split('\n').map((l) => [Number(l.split('\t')[0]), l.split('\t')[1]] as const));
    expect(got.size).toBe(heldOut.length);
    const right = heldOut.filter(([, en], i) => got.get(i) === en).length;
    expect(fact('held out')).toBe(`${right} of ${heldOut.length} sentences translated exactly right (greedy, mdl run --backend cpu)`);
    expect(right / heldOut.length).toBeGreaterThanOrEqual(MOST);
  }, 120_000);

  it('mdl eval on the held-out split: well below the loss of freshly initialised weights', async () => {
    const dir = tempDir();
    const evalLoss = async (weights: string) => {
      const r = await mdl('eval', 'specs/translator.mdl', '--weights', weights, '--data', 'data/zh-en/test.tsv', ...VOCAB, '--backend', 'cpu', '--json');
      expect(r.status, r.stderr).toBe(0);
      return JSON.parse(r.stdout).total as { loss: number; accuracy: number };
    };
    const random: { loss: number; accuracy: number }[] = [];
    for (const seed of ['1', '2']) {
      const out = join(dir, `seed${seed}.safetensors`);
      expect((await mdl('init', 'specs/translator.mdl', '--seed', seed, '-o', out)).status).toBe(0);
      random.push(await evalLoss(out));
    }
    const trained = await evalLoss('weights/translator.safetensors');
    expect(trained.loss).toBeLessThan(Math.min(...random.map((x) => x.loss)) / 4);
    expect(trained.accuracy).toBeGreaterThan(Math.max(...random.map((x) => x.accuracy)) + 0.5);
    // The record states this very number.
    expect(Number(/eval loss ([\d.]+)/.exec(fact('final loss')!)![1])).toBeCloseTo(trained.loss, 3);
  }, 120_000);
});
