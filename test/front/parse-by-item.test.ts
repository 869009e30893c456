// Large files are parsed declaration by declaration (src/lang/parse-by-item.ts). That route must give exactly the
// tree the whole-file parse gives, spans included, and step aside whenever it could differ.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseSource } from '../../src/lang/parse.ts';
import { parseByItem } from '../../src/lang/parse-by-item.ts';

const root = join(import.meta.dirname, '..', '..');
const specs = readdirSync(join(root, 'specs')).filter((f) => f.endsWith('.mdl'));
const okCases = readdirSync(join(root, 'test', 'cases')).filter((f) => f.startsWith('ok_') && f.endsWith('.mdl'));
const read = (...p: string[]) => readFileSync(join(root, ...p), 'utf8');

describe('parsing declaration by declaration', () => {
  for (const [dir, f] of [...specs.map((f) => ['specs', f]), ...okCases.map((f) => ['test/cases', f])]) {
    it(`gives the whole-file tree for ${dir}/${f}`, () => {
      const text = read(dir, f);
      const whole = parseSource(text, f);
      expect(whole.diagnostics).toEqual([]);
      const byItem = parseByItem(text, f);
      expect(byItem).toBeDefined();
      expect(byItem).toEqual(whole.file.model);
    });
  }

  it('gives the whole-file tree for a long generated spec with comments and unusual layout', () => {
    const base = read('test', 'cases', 'ok_small_lm.mdl');
    const masks = Array.from({ length: 300 }, (_, i) =>
      i % 3 === 0 ? `  mask m_${i} = causal & window(${i + 1}) // a comment with mask in it` : i % 3 === 1 ? `  /* block\n  mask not_a_cut = causal */\n  mask m_${i} =\n    k <= q - ${i}` : `  mask m_${i} = (causal\n    | window(${i + 1}))`,
    );
    const text = base.replace('  mask look = causal', `  mask look = causal\n${masks.join('\n')}`);
    const whole = parseSource(text, 'g.mdl');
    expect(whole.diagnostics).toEqual([]);
    expect(parseByItem(text, 'g.mdl')).toEqual(whole.file.model);
    expect(parseSource(text, 'g.mdl', { byItem: true })).toEqual(whole);
  });

  it('steps aside for any file with a problem, so diagnostics come from the whole-file parse', () => {
    const base = read('test', 'cases', 'ok_small_lm.mdl');
    const broken = [
      base.replace('mask look = causal', 'mask look = causal &'),
      base.replace('mask look = causal', `mask look = ${'('.repeat(64)}causal${')'.repeat(64)}`),
      base.replace('mask look = causal', 'mask look = causal $'),
      base.replace(/}\s*$/, ''),
      `${base}\nmodel again {}`,
      // A declaration after a block comment on the same line is not a cut point: its piece holds two declarations.
      base.replace('  mask look = causal', '  /* two\n lines */ mask look = causal'),
      base.replace('model m {', 'model m { dim extra = 1'),
    ];
    for (const text of broken) {
      expect(parseByItem(text, 'b.mdl')).toBeUndefined();
      expect(parseSource(text, 'b.mdl', { byItem: true })).toEqual(parseSource(text, 'b.mdl'));
    }
  });
});
