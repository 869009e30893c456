// Loaded with `node --import` in the unit tier: installs no-device-hooks.mjs.
import { register } from 'node:module';

register('./no-device-hooks.mjs', import.meta.url);
