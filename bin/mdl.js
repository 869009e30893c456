#!/usr/bin/env node
// The `mdl` command. The compiler is written in TypeScript and run through tsx's loader,
// so a clone works after `npm ci` with no build step.
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');
