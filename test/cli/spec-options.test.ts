// Spec options through the real mdl process: `mdl dump --stage ir` shows every value a node uses, a wrong value is a
// positioned error with a caret and a hint, and a bias-free spec runs from weights mdl wrote for it and refuses a file
// that carries a bias the spec does not have.

import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const mdl = (...args: string[]) => spawnSync(process.execPath, [join(root, 'bin', 'mdl.js'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });

const spec = (stack: string, embed = 'learned(vocab, d_model, scale = 1), positions: rotary(style = halves, theta = 500000, fraction = 0.5)') => `model llama_like {
  dim vocab = 300, d_model = 32, heads = 4, d_ff = 48
  dim B, T <= 32
  input ids: tokens[B, T] pad 0 bos 1 eos 2
  embed tokens: ${embed}
  stack decoder x 1 on ids (${stack}) {
    attention self heads = heads mask = causal scale = 1
    ffn d_ff gelu_erf
  }
  output logits = project(decoder, vocab)
}
`;

describe('spec options in the CLI', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mdl-options-'));
  const file = (name: string, text: string) => {
    const path = join(dir, name);
    writeFileSync(path, text);
    return path;
  };

  it('mdl dump --stage ir shows the embedding scale, ε, rotary style, θ and dims, the attention scale and the GELU form', () => {
    const r = mdl('dump', file('opts.mdl', spec('norm = pre rms, eps = 1e-6, bias = false')), '--stage', 'ir');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/%decoder\.embed = gather\(.*\) \{scale = 1\}/);
    expect(r.stdout).toMatch(/norm\(.*\) \{eps = 0\.000001, type = rms\}/);
    expect(r.stdout).toMatch(/attention\(.*\{.*rope, rope_dims = 4, rope_style = halves, rope_theta = 500000, scale = 1\}/);
    expect(r.stdout).toMatch(/act\(.*\) \{fn = gelu_erf\}/);
    expect(r.stdout).not.toMatch(/\.bias = param/);
  });

  it('a wrong value is a positioned error with a caret and a hint', () => {
    const r = mdl('check', file('bad.mdl', spec('norm = pre rms, eps = -1, bias = maybe')));
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${join(dir, 'bad.mdl')}:6:51: error[E522]: the norm epsilon must be greater than 0, got -1`);
    expect(r.stderr).toContain('error[E521]: bias is true or false');
    expect(r.stderr).toContain('^');
    expect(r.stderr).toMatch(/eps = 1e-6 \(T5, Llama\)/);
  });

  it('a stack may be called model (as Llama’s checkpoints call theirs) and projected from by that name', () => {
    const text = spec('norm = pre rms, bias = false').replace('stack decoder', 'stack model').replace('project(decoder, vocab)', 'project(model, vocab)');
    const r = mdl('dump', file('model.mdl', text), '--stage', 'ir');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('%model.layers.0.self_attn.q_proj.weight = param()');
    expect(r.stdout).toMatch(/%logits = matmul\(%model\.norm, %lm_head\.weight\)/);
  });

  it('a bias-free spec runs from the weights mdl init writes, and refuses weights of the same model with biases', () => {
    const free = file('free.mdl', spec('norm = pre layer, bias = false'));
    const biased = file('biased.mdl', spec('norm = pre layer'));
    const freeWeights = join(dir, 'free.safetensors');
    const biasedWeights = join(dir, 'biased.safetensors');
    expect(mdl('init', free, '-o', freeWeights).status).toBe(0);
    expect(mdl('init', biased, '-o', biasedWeights).status).toBe(0);
    const ok = mdl('run', free, '--backend', 'cpu', '--weights', freeWeights, '--input', 'ab', '--max-new', '2');
    expect(ok.status, ok.stderr).toBe(0);
    const refused = mdl('run', free, '--backend', 'cpu', '--weights', biasedWeights, '--input', 'ab', '--max-new', '2');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/decoder\.layers\.0\.self_attn\.q_proj\.bias/);
  });

  it('a stack’s own learned positions: dump shows its table and offset; a scheme other than learned is a positioned error', () => {
    const own = spec('norm = post layer, embed_norm = layer, positions = learned(34, offset = 2)', 'learned(vocab, d_model, scale = 1), positions: none');
    const r = mdl('dump', file('own.mdl', own), '--stage', 'ir');
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('%decoder.positions.weight = param() : f32[34, 32]');
    expect(r.stdout).toMatch(/%decoder\.positions = positions\(%ids, %decoder\.positions\.weight\) \{kind = learned, offset = 2\}/);
    expect(r.stdout).not.toContain('embed.positions.weight');
    const bad = mdl('check', file('own-bad.mdl', own.replace('positions = learned(34, offset = 2)', 'positions = sinusoidal')));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(`${join(dir, 'own-bad.mdl')}:6:80: error[E530]: a stack's own positions are learned(MAX) or learned(MAX, offset = K)`);
    expect(bad.stderr).toContain('hint: for example `positions = learned(context, offset = 2)`');
  });
});
