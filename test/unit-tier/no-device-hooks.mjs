// Module resolution hooks for `npm run test:unit`: loading Dawn (`webgpu`) or Playwright fails, in the test workers
// and in every mdl process they spawn, so a test that needs a WebGPU device cannot pass in the unit tier unnoticed.
// Test runners resolve a package to its file before importing it, so the resolved address is what is checked.

const DEVICE_PACKAGES = ['webgpu', 'playwright-core'];

export async function resolve(specifier, context, nextResolve) {
  const resolved = await nextResolve(specifier, context);
  const blocked = DEVICE_PACKAGES.find((p) => specifier === p || resolved.url.includes(`/node_modules/${p}/`));
  if (blocked) {
    throw new Error(
      `'${blocked}' is not available in the unit tier (npm run test:unit), which runs without a WebGPU device: ` +
        'a test file that needs one imports test/runtime/gpu-harness.ts or src/runtime/device.ts, or is listed in vitest.unit.config.ts, and runs in npm test',
    );
  }
  return resolved;
}
