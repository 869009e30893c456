// Two playground controls driven as a user drives them, through the real `mdl serve` process in headless Chromium:
// Stop pressed while tokens stream in ends the generation (nothing is added after it, the page is ready for the
// next run, and what was generated is what `mdl run` generates up to that point), and a .mdl file dropped onto the
// editor opens it (the editor holds the file, its diagnostics are `mdl check`'s, and its masks are drawn).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { allMasks } from '../../src/runtime/mask-view.ts';
import { CHROMIUM, CHROMIUM_FLAGS, root, startServe, type Served } from '../support/serve-page.ts';

const mdl = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8' });
const lastJson = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!) as { tokens: number[] };

describe('the playground: Stop during generation, and a spec dropped onto the editor', () => {
  let served: Served;
  let browser: Browser;

  beforeAll(async () => {
    served = await startServe();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  });

  afterAll(async () => {
    await browser?.close();
    served?.child.kill('SIGINT');
    await served?.exit;
  });

  async function open(query: string): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${served.url}${query}`);
    await page.waitForFunction(() => window.mdlReady, undefined, { timeout: 60_000 });
    return { page, errors };
  }

  const shownTokens = (page: Page) => page.locator('#gen-tokens span').count();

  it('Stop pressed while tokens stream in ends the generation after the step in progress, and the next run starts afresh', async () => {
    const max = 64;
    // The same run from the command line: seeded weights that never choose the end token, so without Stop the page
    // would stream all 64 tokens.
    const node = mdl('run', 'specs/translator.mdl', '--source', '我喜欢吃苹果', '--max-new', String(max), '--seed', '3', '--json');
    expect(node.status, node.stderr).toBe(0);
    const full = lastJson(node.stdout).tokens;
    expect(full).toHaveLength(max);

    const { page, errors } = await open('?run=0&seed=3');
    await page.locator('#gen-max').fill(String(max));
    // How many tokens the page showed when the Stop button received its click.
    await page.evaluate(() => {
      document.getElementById('gen-stop')!.addEventListener('click', () => {
        (window as unknown as { atStop: number }).atStop = document.querySelectorAll('#gen-tokens span').length;
      }, { capture: true });
    });
    await page.locator('#gen-run').click();
    await page.waitForFunction(() => document.querySelectorAll('#gen-tokens span').length >= 2, undefined, { timeout: 110_000 });
    expect(await page.locator('#gen-run').isDisabled()).toBe(true);
    await page.locator('#gen-stop').click();
    // Idle again: Generate enabled, Stop disabled, the run recorded with its timings.
    await page.waitForFunction(() => !(document.getElementById('gen-run') as HTMLButtonElement).disabled, undefined, { timeout: 60_000 });
    expect(await page.locator('#gen-stop').isDisabled()).toBe(true);
    expect(await page.locator('#gen-error').isHidden()).toBe(true);
    const atStop = await page.evaluate(() => (window as unknown as { atStop: number }).atStop);
    const runs = await page.evaluate(() => window.mdlRuns!.map((r) => r.tokens));
    expect(runs).toHaveLength(1);
    const stopped = runs[0];
    // At most the step that was running when Stop was pressed finishes after it.
    expect(atStop).toBeGreaterThanOrEqual(2);
    expect(stopped.length).toBeGreaterThanOrEqual(atStop);
    expect(stopped.length).toBeLessThanOrEqual(atStop + 1);
    expect(stopped.length).toBeLessThan(max);
    // What the page generated before stopping is the command line's run up to there.
    expect(stopped).toEqual(full.slice(0, stopped.length));
    expect(await shownTokens(page)).toBe(stopped.length);
    expect(await page.locator('#output').textContent()).toContain(`tokens: ${stopped.join(' ')}\n`);
    expect(await page.locator('#output').textContent()).toContain(`stopped after ${stopped.length} of ${max} tokens`);
    expect(await page.locator('#timings').textContent()).toMatch(new RegExp(`· ${stopped.length} tokens in [\\d.]+ s$`));
    // Nothing more arrives later.
    await page.waitForTimeout(1500);
    expect(await shownTokens(page)).toBe(stopped.length);
    expect(await page.evaluate(() => window.mdlRuns!.length)).toBe(1);

    // The next run is not stopped by the earlier press: it generates its 4 tokens.
    await page.locator('#gen-max').fill('4');
    await page.locator('#gen-run').click();
    await page.waitForFunction(() => window.mdlRuns?.length === 2 || document.querySelector('#gen-error:not([hidden])'), undefined, { timeout: 110_000 });
    expect(await page.evaluate(() => window.mdlRuns![1].tokens)).toEqual(full.slice(0, 4));
    expect(await page.locator('#output').textContent()).not.toContain('stopped after');
    expect(errors).toEqual([]);
    await page.close();
  });

  /** Drops files onto the editor as the browser does: dragenter, dragover and drop with a DataTransfer holding them. */
  async function dropOnEditor(page: Page, files: { name: string; text: string }[]): Promise<boolean> {
    const transfer = await page.evaluateHandle((fs) => {
      const dt = new DataTransfer();
      for (const f of fs) dt.items.add(new File([f.text], f.name, { type: '' }));
      return dt;
    }, files);
    const target = page.locator('.cm-content');
    await target.dispatchEvent('dragenter', { dataTransfer: transfer });
    await target.dispatchEvent('dragover', { dataTransfer: transfer });
    await target.dispatchEvent('drop', { dataTransfer: transfer });
    return (await page.evaluate((dt) => dt.files.length, transfer)) === files.length;
  }

  it('a .mdl file dropped onto the editor replaces its text, and its diagnostics and masks follow', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdl-page-drop-'));
    const packedText = readFileSync(join(root, 'specs', 'packed.mdl'), 'utf8');
    // A typo in a mask: the file does not check.
    const broken = packedText.replace(/& causal/, '& casual');
    expect(broken).not.toBe(packedText);
    writeFileSync(join(dir, 'broken.mdl'), broken);
    const check = mdl('check', join(dir, 'broken.mdl'));
    expect(check.status).toBe(1);
    const cli = [...check.stderr.matchAll(/broken\.mdl:(\d+):(\d+): error\[(E\d+)\]: (.*)/g)];
    expect(cli.length, check.stderr).toBeGreaterThan(0);

    const { page, errors } = await open('?run=0');
    expect(await page.locator('#diagnostics li').count()).toBe(0);
    expect(await dropOnEditor(page, [{ name: 'broken.mdl', text: broken }])).toBe(true);
    await page.waitForFunction(() => document.getElementById('spec-name')!.textContent === 'broken.mdl', undefined, { timeout: 20_000 });
    expect(await page.evaluate(() => window.mdlSpecText!())).toBe(broken);
    await page.locator('#diagnostics li').first().waitFor({ timeout: 20_000 });
    const items = page.locator('#diagnostics li');
    expect(await items.count()).toBe(cli.length);
    for (const [i, [, line, col, code, message]] of cli.entries()) {
      expect(await items.nth(i).getAttribute('data-line')).toBe(line);
      expect(await items.nth(i).textContent()).toMatch(new RegExp(`^${line}:${col} error ${code}: ${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    }
    expect(await page.evaluate(() => window.mdlCheck!.ok)).toBe(false);

    // Dropping the shipped file opens it: no diagnostics, and the masks of packed drawn.
    expect(await dropOnEditor(page, [{ name: 'packed.mdl', text: packedText }])).toBe(true);
    await page.waitForFunction(() => document.getElementById('spec-name')!.textContent === 'packed.mdl' && window.mdlCheck?.ok, undefined, { timeout: 20_000 });
    expect(await page.evaluate(() => window.mdlSpecText!())).toBe(packedText);
    expect(await page.locator('#diagnostics li').count()).toBe(0);
    const model = checkSource(packedText, 'packed.mdl').model!;
    expect(await page.evaluate(() => window.mdlMasks!.drawn.map((d) => d.mask))).toEqual([...allMasks(model).keys()]);
    // Kept like a typed edit: a reload brings the dropped spec back.
    await page.reload();
    await page.waitForFunction(() => window.mdlReady, undefined, { timeout: 60_000 });
    expect(await page.evaluate(() => window.mdlSpecText!())).toBe(packedText);
    expect(await page.locator('#spec-name').textContent()).toBe('packed.mdl');
    expect(errors).toEqual([]);
    await page.close();
  });
});
