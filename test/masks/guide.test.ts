// The mask guide (specs/README.md) shows what mdl computes: its gallery is regenerated from the CPU evaluator and
// must match, and it covers every built-in policy.

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BUILTIN_NAMES } from '../../src/masks/builtins.ts';
import { GALLERY, GUIDE, galleryText, gallerySection } from './guide-gallery.ts';

describe('the mask guide', () => {
  const readme = readFileSync(GUIDE, 'utf8');

  it('holds the gallery exactly as the evaluator draws it (regenerate: npx tsx test/masks/guide-gallery.ts)', () => {
    expect(gallerySection(readme)).toBe(galleryText());
  });

  it('draws every built-in policy and documents it in the table', () => {
    const drawn = GALLERY.flat().map((p) => p.mask);
    for (const name of BUILTIN_NAMES) {
      expect(drawn.some((m) => m === name || m.startsWith(`${name}(`) || m.includes(` ${name}(`)) || name === 'full', name).toBe(true);
      expect(readme, name).toMatch(new RegExp(`\\| \`${name}[\`(]|, \`${name}\``));
    }
  });
});
