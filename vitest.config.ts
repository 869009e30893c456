import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The WebGPU tests run on a software Vulkan device: give them room, and keep one Dawn per worker.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
  },
});
