// The playground page through the real `mdl serve` process, in headless Chromium (WebGPU on SwiftShader): the
// default page and every shipped spec open with their masks drawn; errors are reported where they happen and hide
// nothing else; a typo typed into the editor is reported at its line as `mdl check` reports it; a changed dim
// redraws a mask pixel for pixel as `mdl mask --out` draws it; sampling generates what `mdl run` generates; a tiny
// model trains as `mdl train` trains it and then generates as `mdl run` does with its weights; and a `--build` folder
// works from a plain static server. Screenshots of each view go to test-output/screenshots/.

import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkSource } from '../../src/check/check.ts';
import { allMasks } from '../../src/runtime/mask-view.ts';
import { lower } from '../../src/lower/passes.ts';
import { readSafetensors } from '../../src/runtime/safetensors.ts';
import { seededWeightsFile } from '../../src/runtime/weights.ts';
import { copyLines, copySpec } from '../cli/train-support.ts';
import { CHROMIUM, CHROMIUM_FLAGS, root, startServe, type Served } from '../support/serve-page.ts';

const shots = join(root, 'test-output', 'screenshots');
const specs = readdirSync(join(root, 'specs')).filter((f) => f.endsWith('.mdl')).sort();
const mdl = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8' });

describe('the playground page, served by mdl serve', () => {
  let served: Served;
  let browser: Browser;

  beforeAll(async () => {
    mkdirSync(shots, { recursive: true });
    served = await startServe();
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_FLAGS });
  });

  afterAll(async () => {
    await browser?.close();
    served?.child.kill('SIGINT');
    await served?.exit;
  });

  /** Opens the page with a query and waits until its spec is open and its masks drawn. */
  async function open(query: string, base = served.url): Promise<{ page: Page; errors: string[] }> {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${base}${query}`);
    await page.waitForFunction(() => window.mdlReady, undefined, { timeout: 60_000 });
    return { page, errors };
  }

  const drawnMasks = (page: Page) => page.evaluate(() => window.mdlMasks!.drawn.map((d) => d.mask));

  it('opens the translator by default, with its three masks and no diagnostics, and every shipped spec with each of its masks', async () => {
    const { page, errors } = await open('?run=0');
    expect(await page.locator('.cm-content').textContent()).toContain('model translator {');
    expect(await drawnMasks(page)).toEqual(['src_keys', 'look_back', 'memory']);
    expect(await page.locator('#diagnostics li').count()).toBe(0);
    // Colours come from the compiler's lexer: keywords, mask built-ins, numbers and comments each get a class.
    const classed = (cls: string) => page.locator(`#editor .${cls}`).allTextContents();
    expect(await classed('mdl-keyword')).toEqual(expect.arrayContaining(['model', 'dim', 'input', 'decoder_input', 'mask', 'embed', 'stack', 'attention', 'ffn', 'output']));
    expect(await classed('mdl-builtin')).toEqual(expect.arrayContaining(['causal', 'key_padding']));
    expect(await classed('mdl-number')).toEqual(expect.arrayContaining(['480', '64']));
    expect((await classed('mdl-comment'))[0]).toBe('// A small encoder-decoder translator: 我喜欢吃苹果 → I like to eat apples.');
    expect(await classed('mdl-keyword')).not.toContain('translator');
    expect(await page.locator('#example option').allTextContents()).toEqual(['(choose)', ...specs]);
    await page.screenshot({ path: join(shots, 'playground.png') });
    await page.screenshot({ path: join(shots, 'playground-full.png'), fullPage: true });

    for (const f of specs) {
      await page.goto(`${served.url}?spec=specs/${f}&run=0`);
      await page.waitForFunction(() => window.mdlReady, undefined, { timeout: 60_000 });
      const model = checkSource(readFileSync(join(root, 'specs', f), 'utf8'), f).model!;
      expect(await page.evaluate(() => window.mdlCheck), f).toEqual({ ok: true, diagnostics: [] });
      expect(await drawnMasks(page), f).toEqual([...allMasks(model).keys()]);
      expect(await page.locator('#masks canvas').count(), f).toBe(allMasks(model).size);
      expect(await page.locator('#masks .error').count(), f).toBe(0);
      // The encoder-decoders over tokens have a source box; the others (decoder-only, or an encoder over
      // features) a prompt box.
      const hasSource = f === 'translator.mdl' || f === 'mask-zoo.mdl';
      expect(await page.locator('#source-field').isVisible(), f).toBe(hasSource);
      expect(await page.locator('#prompt-field').isVisible(), f).toBe(!hasSource);
    }
    // Choosing an example opens it and puts it in the page's address, so that the link reproduces the page.
    await page.locator('#example').selectOption('packed.mdl');
    await page.waitForFunction(() => document.getElementById('spec-name')!.textContent === 'specs/packed.mdl');
    expect(new URL(page.url()).searchParams.get('spec')).toBe('specs/packed.mdl');
    expect(await page.locator('.cm-content').textContent()).toContain('model packed {');
    expect(errors).toEqual([]);
    await page.close();
  });

  it('reports a failed run, a 404 spec URL and bad query parameters where they happen, hiding nothing else', async () => {
    // mask-zoo's vocabulary is too small for the byte tokenizer: generation fails, the masks and editor stay.
    const zoo = await open('?spec=specs/mask-zoo.mdl&max=2');
    await zoo.page.waitForFunction(() => window.mdlError, undefined, { timeout: 60_000 });
    expect(await zoo.page.locator('#gen-error .error-heading').textContent()).toMatch(/^generation failed: the byte-level tokenizer needs 256 ids/);
    const model = checkSource(readFileSync(join(root, 'specs', 'mask-zoo.mdl'), 'utf8'), 'mask-zoo.mdl').model!;
    expect(await zoo.page.locator('#masks canvas').count()).toBe(allMasks(model).size);
    expect(await zoo.page.locator('.cm-content').textContent()).toContain('model mask_zoo {');
    await zoo.page.locator('#gen-error').screenshot({ path: join(shots, 'generate-error.png') });
    await zoo.page.close();

    const { page } = await open('?spec=specs/missing.mdl&max=-1&mx=3');
    expect(await page.locator('#spec-error .error-heading').textContent()).toBe('the spec could not be opened: could not fetch specs/missing.mdl: HTTP 404 Not Found');
    // The 404 page was never parsed: no "expected 'model'" diagnostic.
    expect(await page.locator('#diagnostics li').count()).toBe(0);
    expect(await page.locator('#params-error li').allTextContents()).toEqual([
      "unknown query parameter 'mx' (the page reads spec, weights, tokenizer, source, input, max, seed, temperature, topk, topp, beams, run, and the mask fields dims, lengths, tokens, segments, batch, head, tiles)",
      'max=-1: expected a whole number from 1 to 256; using 6',
    ]);
    await page.screenshot({ path: join(shots, 'errors.png') });
    await page.close();

    // A mask field in the address that the spec lacks is reported too; the others are taken.
    const dims = await open('?run=0&dims=X=3,T=5');
    expect(await dims.page.locator('#params-error li').allTextContents()).toEqual(["dims=X=3: the spec has no symbolic dim 'X' to set"]);
    expect(await dims.page.locator('input[data-flag="dims"][data-name="T"]').inputValue()).toBe('5');
    await dims.page.close();
  });

  it('shows the diagnostics of a typo as it is typed, at its line, as mdl check reports them, without running the model', async () => {
    const { page } = await open('?run=0');
    // At the very start of line 16 (Home would go to the start of a wrapped line's second row).
    await page.locator('.cm-line').nth(15).click({ position: { x: 1, y: 4 } });
    await page.keyboard.type('mask oops = windw(3)\n', { delay: 15 });
    const item = page.locator('#diagnostics li[data-line="16"]');
    await item.waitFor({ timeout: 20_000 });
    // The squiggle is on line 16 of the editor.
    expect(await page.locator('.cm-line').nth(15).locator('.cm-lintRange-error').textContent()).toBe('windw');
    // The same diagnostic as the command line's, for the same text.
    const file = join(mkdtempSync(join(tmpdir(), 'mdl-page-spec-')), 'translator.mdl');
    writeFileSync(file, await page.evaluate(() => window.mdlSpecText!()));
    const check = mdl('check', file);
    expect(check.status).toBe(1);
    const cli = /:16:(\d+): error\[(E\d+)\]: (.*)\n(?:.*\n)*?\s*= hint: (.*)/.exec(check.stderr)!;
    expect(cli, check.stderr).not.toBeNull();
    expect(await item.textContent()).toBe(`16:${cli[1]} error ${cli[2]}: ${cli[3]} (hint: ${cli[4]})`);
    // Hovering the squiggle shows the code, message and hint.
    await page.locator('.cm-lintRange-error').first().hover();
    const tooltip = page.locator('.cm-tooltip-lint');
    await tooltip.waitFor({ timeout: 10_000 });
    expect(await tooltip.textContent()).toContain(cli[3]);
    expect(await tooltip.textContent()).toContain(`hint: ${cli[4]}`);
    await page.screenshot({ path: join(shots, 'editor-diagnostic.png') });
    // The masks of the last spec that checked are still drawn, and nothing ran.
    expect(await page.locator('#masks canvas').count()).toBe(3);
    expect(await page.evaluate(() => window.mdlRuns)).toBeUndefined();
    // The edited spec is kept: reloading the page (its URL no longer names a spec file) brings the edit back.
    expect(new URL(page.url()).searchParams.has('spec')).toBe(false);
    await page.reload();
    await page.waitForFunction(() => window.mdlReady, undefined, { timeout: 60_000 });
    expect(await page.evaluate(() => window.mdlSpecText!())).toContain('mask oops = windw(3)\n');
    await page.locator('#diagnostics li[data-line="16"]').waitFor({ timeout: 20_000 });
    await page.close();
  });

  it('redraws a mask for a changed dim pixel for pixel as mdl mask --out draws it, and explains the pair under the pointer', async () => {
    const { page } = await open('?run=0');
    const canvasPng = async (mask: string) => PNG.sync.read(Buffer.from((await page.evaluate((m) => (document.querySelector(`canvas[data-mask="${m}"]`) as HTMLCanvasElement).toDataURL('image/png'), mask)).split(',')[1], 'base64'));
    const before = await canvasPng('look_back');
    await page.locator('input[data-flag="dims"][data-name="T"]').fill('9');
    await page.locator('input[data-flag="dims"][data-name="T"]').dispatchEvent('change');
    await page.locator('input[data-flag="tokens"][data-name="tgt"]').fill('5,6,7,8,9,0,0,0,0');
    await page.locator('input[data-flag="tokens"][data-name="tgt"]').dispatchEvent('change');
    const command = (await page.evaluate(() => window.mdlMasks!.drawn.find((d) => d.mask === 'look_back')!.command));
    expect(command).toBe('mdl mask specs/translator.mdl --mask look_back --dims S=12,T=9 --tokens tgt=5,6,7,8,9,0,0,0,0 --tiles 4x4');
    const after = await canvasPng('look_back');
    expect(await page.locator('figure[data-mask="look_back"] figcaption').textContent()).toContain('normal form: look_back = causal & key_padding(dec_in)');
    expect(after.height).toBeLessThan(before.height);

    const out = join(mkdtempSync(join(tmpdir(), 'mdl-page-mask-')), 'look_back.png');
    const r = mdl(...command.split(' ').slice(1), '--out', out);
    expect(r.status, r.stderr).toBe(0);
    const cli = PNG.sync.read(readFileSync(out));
    expect([after.width, after.height]).toEqual([cli.width, cli.height]);
    expect(Buffer.compare(after.data, cli.data)).toBe(0);

    // Pointing at (q 2, k 5): hidden by causal. At (q 8, k 7): the key is padding (tgt has 5 tokens; dec_in = bos + 5).
    const layout = JSON.parse((await page.locator('canvas[data-mask="look_back"]').getAttribute('data-layout'))!) as { gridX: number; gridY: number; cell: number };
    const point = (q: number, k: number) => page.locator('canvas[data-mask="look_back"]').hover({ position: { x: layout.gridX + k * layout.cell + layout.cell / 2, y: layout.gridY + q * layout.cell + layout.cell / 2 } });
    const hover = page.locator('figure[data-mask="look_back"] .hover');
    await point(2, 5);
    expect(await hover.textContent()).toBe('(b 0, h 0, q 2, k 5) hidden by causal (k <= q)');
    await point(8, 7);
    expect(await hover.textContent()).toBe('(b 0, h 0, q 8, k 7) hidden by key_padding(dec_in) (dec_in[k] != 0)');
    await point(4, 1);
    expect(await hover.textContent()).toBe('(b 0, h 0, q 4, k 1) visible: causal (k <= q) and key_padding(dec_in) (dec_in[k] != 0)');
    await page.locator('figure[data-mask="look_back"]').screenshot({ path: join(shots, 'mask-inspector.png') });

    // The changed fields are in the page's address: opening it again draws the same picture.
    const address = new URL(page.url());
    expect(address.searchParams.get('dims')).toBe('T=9');
    expect(address.searchParams.getAll('tokens')).toEqual(['tgt=5,6,7,8,9,0,0,0,0']);
    await page.close();
    const again = await open(address.search);
    const png = PNG.sync.read(Buffer.from((await again.page.evaluate(() => (document.querySelector('canvas[data-mask="look_back"]') as HTMLCanvasElement).toDataURL('image/png'))).split(',')[1], 'base64'));
    expect(Buffer.compare(png.data, cli.data)).toBe(0);
    expect(await again.page.locator('#params-error').isHidden()).toBe(true);
    await again.page.close();
  });

  it('samples tokens, and searches with beams, as mdl run does, streaming sampled tokens into the page with labelled timings', async () => {
    const { page } = await open('?run=0');
    await page.locator('#gen-strategy').selectOption('sample');
    await page.locator('#gen-temperature').fill('0.8');
    await page.locator('#gen-topk').fill('20');
    await page.locator('#gen-max').fill('4');
    await page.locator('#gen-seed').fill('3');
    await page.locator('#gen-seed').dispatchEvent('change');
    // Record each token as it appears.
    await page.evaluate(() => {
      const seen: number[] = ((window as unknown as { seen: number[] }).seen = []);
      new MutationObserver(() => seen.push(document.querySelectorAll('#gen-tokens span').length)).observe(document.getElementById('gen-tokens')!, { childList: true });
    });
    await page.locator('#gen-run').click();
    await page.waitForFunction(() => window.mdlRuns?.length || document.querySelector('#gen-error:not([hidden])'), undefined, { timeout: 110_000 });
    expect(await page.locator('#gen-error').isHidden()).toBe(true);
    const run = (await page.evaluate(() => window.mdlRuns![0]))!;
    const node = mdl('run', 'specs/translator.mdl', '--source', '我喜欢吃苹果', '--max-new', '4', '--temperature', '0.8', '--top-k', '20', '--seed', '3', '--json');
    expect(node.status, node.stderr).toBe(0);
    expect(run.tokens).toEqual(JSON.parse(node.stdout.trim().split('\n').at(-1)!).tokens);
    // Streamed: one mutation per token (after the clearing), not one at the end.
    const seen = await page.evaluate(() => (window as unknown as { seen: number[] }).seen);
    expect(seen.filter((n) => n > 0)).toEqual(run.tokens.map((_, i) => i + 1));
    expect(await page.locator('#timings').textContent()).toMatch(/^first token after \d+ ms · ([\d.]+|–) tokens\/s after it · \d+ tokens? in [\d.]+ s$/);
    expect(await page.locator('#output').textContent()).toContain(`tokens: ${run.tokens.join(' ')}`);
    await page.screenshot({ path: join(shots, 'generate.png'), fullPage: true });

    // Beam search, as mdl run --beams does it.
    await page.locator('#gen-strategy').selectOption('beam');
    await page.locator('#gen-beams').fill('2');
    await page.locator('#gen-max').fill('3');
    await page.locator('#gen-run').click();
    await page.waitForFunction(() => window.mdlRuns?.length === 2 || document.querySelector('#gen-error:not([hidden])'), undefined, { timeout: 110_000 });
    expect(await page.locator('#gen-error').isHidden()).toBe(true);
    const beam = mdl('run', 'specs/translator.mdl', '--source', '我喜欢吃苹果', '--max-new', '3', '--beams', '2', '--seed', '3', '--json');
    expect(beam.status, beam.stderr).toBe(0);
    expect((await page.evaluate(() => window.mdlRuns![1])).tokens).toEqual(JSON.parse(beam.stdout.trim().split('\n').at(-1)!).tokens);
    expect(await page.locator('#timings').textContent()).toMatch(/^beam search: \d+ tokens in [\d.]+ s/);
    await page.close();
  });

  it('trains a tiny model from pasted lines as mdl train does (CPU reference and WebGPU), the loss falling, then downloads its weights and generates with them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mdl-page-train-'));
    const spec = join(dir, 'copy.mdl');
    writeFileSync(spec, copySpec());
    const lines = copyLines(40, 7);
    // The page holds out the last tenth of the lines for the eval loss; mdl train gets the same split as two files.
    writeFileSync(join(dir, 'train.txt'), lines.slice(0, 36).join('\n'));
    writeFileSync(join(dir, 'dev.txt'), lines.slice(36).join('\n'));
    const { page } = await open('?run=0');
    await page.locator('#spec-file').setInputFiles(spec);
    await page.waitForFunction(() => document.getElementById('spec-name')!.textContent === 'copy.mdl' && window.mdlCheck?.ok);
    await page.locator('#train-data').fill(lines.join('\n'));
    await page.locator('#train-steps').fill('20');
    await page.locator('#train-lr').fill('0.01');
    await page.locator('#train-eval-every').fill('5');
    await page.locator('#train-backend').selectOption('cpu');
    await page.locator('#train-run').click();
    await page.waitForFunction(() => window.mdlTrain?.done || document.querySelector('#train-error:not([hidden])'), undefined, { timeout: 110_000 });
    expect(await page.locator('#train-error').isHidden(), (await page.locator('#train-error').textContent()) ?? '').toBe(true);
    const progress = (await page.evaluate(() => window.mdlTrain))!;

    const out = join(dir, 'copy.safetensors');
    const node = mdl('train', spec, '--data', join(dir, 'train.txt'), '--eval', join(dir, 'dev.txt'), '--steps', '20', '--lr', '0.01', '--eval-every', '5', '--backend', 'cpu', '-o', out, '--json');
    expect(node.status, node.stderr).toBe(0);
    const history = JSON.parse(node.stdout).history as { train: [number, number][]; eval: [number, number][] };
    expect(progress.train.map((p) => p.step)).toEqual(history.train.map(([step]) => step));
    progress.train.forEach((p, i) => expect(p.loss).toBeCloseTo(history.train[i][1], 9));
    const evalAt = new Map(progress.eval.map((p) => [p.step, p.loss]));
    for (const [step, loss] of history.eval) expect(evalAt.get(step)).toBeCloseTo(loss, 9);
    expect(progress.train.at(-1)!.loss).toBeLessThan(progress.train[0].loss * 0.6);
    expect(evalAt.get(20)!).toBeLessThan(evalAt.get(0)!);
    await page.screenshot({ path: join(shots, 'train.png'), fullPage: true });

    // The downloaded weights are mdl train's, tensor for tensor.
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#train-download').click()]);
    expect(download.suggestedFilename()).toBe('copy.safetensors');
    const saved = join(dir, 'downloaded.safetensors');
    await download.saveAs(saved);
    const ours = readSafetensors(readFileSync(saved), saved);
    const theirs = readSafetensors(readFileSync(out), out);
    expect([...ours.tensors.keys()].sort()).toEqual([...theirs.tensors.keys()].sort());
    for (const [name, t] of theirs.tensors) {
      const mine = ours.tensors.get(name)!;
      expect(mine.shape).toEqual(t.shape);
      let err = 0;
      t.data.forEach((v, i) => (err = Math.max(err, Math.abs(v - mine.data[i]))));
      expect(err, name).toBeLessThanOrEqual(1e-6);
    }

    // Generating on the page now uses the trained weights: the tokens mdl run chooses with the downloaded file.
    expect(await page.locator('#train-use').isChecked()).toBe(true);
    await page.locator('#gen-prompt').fill('abc=');
    await page.locator('#gen-max').fill('4');
    await page.locator('#gen-run').click();
    await page.waitForFunction(() => window.mdlRuns?.length || document.querySelector('#gen-error:not([hidden])'), undefined, { timeout: 60_000 });
    expect(await page.locator('#gen-error').isHidden(), (await page.locator('#gen-error').textContent()) ?? '').toBe(true);
    const run = mdl('run', spec, '--weights', saved, '--input', 'abc=', '--max-new', '4', '--json');
    expect(run.status, run.stderr).toBe(0);
    expect((await page.evaluate(() => window.mdlRuns![0])).tokens).toEqual(JSON.parse(run.stdout.trim().split('\n').at(-1)!).tokens);
    expect(await page.locator('#output').textContent()).toContain('weights: trained here (20 steps)');

    // On the page's WebGPU device (Chromium's SwiftShader adapter; every kernel fits WebGPU's default of 8 storage
    // buffers per shader stage): the run matches mdl train's on Dawn up to f32 rounding, and the CPU
    // reference's up to 1e-3.
    await page.locator('#train-backend').selectOption('gpu');
    await page.locator('#train-run').click();
    await page.waitForFunction(() => (window.mdlTrain?.done && document.getElementById('train-status')!.textContent!.endsWith('(WebGPU)')) || document.querySelector('#train-error:not([hidden])'), undefined, { timeout: 110_000 });
    expect(await page.locator('#train-error').isHidden(), (await page.locator('#train-error').textContent()) ?? '').toBe(true);
    const onDevice = (await page.evaluate(() => window.mdlTrain))!;
    const gpuRun = mdl('train', spec, '--data', join(dir, 'train.txt'), '--eval', join(dir, 'dev.txt'), '--steps', '20', '--lr', '0.01', '--eval-every', '5', '-o', join(dir, 'gpu.safetensors'), '--json');
    expect(gpuRun.status, gpuRun.stderr).toBe(0);
    const gpuJson = JSON.parse(gpuRun.stdout) as { backend: string; history: { train: [number, number][] } };
    expect(gpuJson.backend).toBe('gpu');
    expect(onDevice.train.map((p) => p.step)).toEqual(gpuJson.history.train.map(([step]) => step));
    onDevice.train.forEach((p, i) => expect(Math.abs(p.loss - gpuJson.history.train[i][1]), `step ${p.step}`).toBeLessThan(1e-4));
    onDevice.train.forEach((p, i) => expect(Math.abs(p.loss - progress.train[i].loss), `step ${p.step}`).toBeLessThan(1e-3));
    await page.locator('#train-backend').selectOption('cpu');

    // Stop ends a long run after the step in progress, and keeps what it trained.
    await page.locator('#train-steps').fill('5000');
    await page.locator('#train-run').click();
    await page.waitForFunction(() => window.mdlTrain && !window.mdlTrain.done && window.mdlTrain.step >= 3, undefined, { timeout: 60_000 });
    await page.locator('#train-stop').click();
    await page.waitForFunction(() => window.mdlTrain?.done, undefined, { timeout: 60_000 });
    const stopped = (await page.evaluate(() => window.mdlTrain))!;
    expect(stopped.step).toBeGreaterThanOrEqual(3);
    expect(stopped.step).toBeLessThan(5000);
    expect(await page.locator('#train-status').textContent()).toMatch(new RegExp(`^step ${stopped.step}/5000 .* · stopped \\(CPU reference\\)$`));
    await page.close();
  });

  it('works from the folder mdl serve --build writes, served by a plain static server: a decoder-only spec with its weights file, and a weights mismatch listed tensor by tensor', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'mdl-page-build-'));
    const dir = join(tmp, 'site');
    // The folder carries packed's weights (seed 5): right for packed, wrong in every tensor for the translator.
    const packed = checkSource(readFileSync(join(root, 'specs', 'packed.mdl'), 'utf8'), 'packed.mdl').model!;
    writeFileSync(join(tmp, 'packed.safetensors'), seededWeightsFile(lower(packed).ir, 5));
    const built = mdl('serve', '--build', dir, '--weights', join(tmp, 'packed.safetensors'));
    expect(built.status, built.stderr).toBe(0);
    const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json', '.mdl': 'text/plain' };
    const server: Server = createServer((req, res) => {
      const path = normalize(decodeURIComponent(new URL(req.url!, 'http://x').pathname)).replace(/^\/+/, '') || 'index.html';
      try {
        res.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' }).end(readFileSync(join(dir, path)));
      } catch {
        res.writeHead(404).end('not found');
      }
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    try {
      const base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
      const { page, errors } = await open('?spec=specs/packed.mdl&max=2&input=Hi&weights=weights.safetensors', base);
      await page.waitForFunction(() => window.mdlResult || window.mdlError, undefined, { timeout: 110_000 });
      expect(await page.evaluate(() => window.mdlError)).toBeUndefined();
      const result = (await page.evaluate(() => window.mdlResult))!;
      expect(result.tokens.length).toBeGreaterThan(0);
      // Decoder-only: the prompt is shown, and no empty source line.
      const output = (await page.locator('#output').textContent())!;
      expect(output.split('\n')[0]).toBe('prompt: Hi');
      expect(output).not.toContain('source:');
      expect(output).toContain('weights: weights.safetensors');
      expect(errors).toEqual([]);
      await page.close();

      // The translator with packed's weights: every problem listed, one item each; the masks stay.
      const wrong = await open('?spec=specs/translator.mdl&weights=weights.safetensors', base);
      await wrong.page.waitForFunction(() => window.mdlError, undefined, { timeout: 60_000 });
      const heading = (await wrong.page.locator('#gen-error .error-heading').textContent())!;
      const count = Number(/\((\d+) problems\)$/.exec(heading)?.[1]);
      expect(heading).toMatch(/^generation failed: weights\.safetensors: the weights do not match the spec \(\d+ problems\)$/);
      expect(count).toBeGreaterThan(30);
      expect(await wrong.page.locator('#gen-error li').count()).toBe(count);
      expect(await wrong.page.locator('#gen-error li').first().textContent()).toMatch(/^(missing tensor|tensor|unexpected tensor) /);
      expect(await wrong.page.locator('#masks canvas').count()).toBe(3);
      await wrong.page.locator('#gen-error').screenshot({ path: join(shots, 'weights-mismatch.png') });
      await wrong.page.close();
    } finally {
      server.close();
    }
  });
});
