// WebGPU device acquisition, shared by Node and the browser.
//
// In the browser the device comes from `navigator.gpu`. In Node it comes from Dawn (the `webgpu` package), which is
// imported dynamically so that no Node-only module sits on the browser's import graph.
//
// Machines without a GPU: Dawn's Vulkan backend can run on SwiftShader, the software Vulkan driver shipped with
// Chromium, but the Vulkan loader only uses it when `VK_ICD_FILENAMES` points at its manifest. What was measured with
// Dawn from `webgpu` 0.6.2 on Debian:
// - the loader reads `VK_ICD_FILENAMES` each time Dawn creates a Vulkan instance, and every `create()` call creates a
//   new one, so setting `process.env.VK_ICD_FILENAMES` after a failed `create()` + `requestAdapter()` and calling
//   `create()` again does find SwiftShader (setting it before the first `create()` works as well);
// - Mesa's lavapipe, when installed, is found without the variable but rejected by Dawn ("Vulkan
//   shaderUniform*ArrayDynamicIndexing required"), so an installed ICD does not mean a usable adapter.
// We therefore probe the default drivers first (a real GPU must win over the software one) and fall back to
// SwiftShader only when that probe finds no adapter, the user has not chosen an ICD, and the manifest exists. When
// no driver manifest is installed at all, we go to SwiftShader directly, which spares the loader's warnings.

import { subgroupSupport, type SubgroupSupport } from './subgroups.ts';

export type { SubgroupSupport } from './subgroups.ts';

/** Where Debian/Ubuntu's `chromium` package installs SwiftShader's Vulkan ICD manifest. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

export interface AdapterSummary {
  vendor: string;
  architecture: string;
  description: string;
  /** True when the adapter is a CPU implementation (SwiftShader, lavapipe, WARP): expect low throughput. */
  software: boolean;
}

export interface GpuContext {
  device: GPUDevice;
  adapter: AdapterSummary;
  /** The limits the device was created with (the adapter's, for the limits the kernels care about). */
  limits: GPUSupportedLimits;
  hasShaderF16: boolean;
  /** The subgroup sizes the device may run with, when it was created with the `subgroups` feature. */
  subgroups?: SubgroupSupport;
  /** Errors WebGPU raised outside any error scope, oldest first; `checkHealthy` turns them into an exception. */
  uncapturedErrors: string[];
  /** Throws if the device was lost or reported an uncaptured error since the last check. */
  checkHealthy(): void;
  /** Destroys the device. Safe to call twice; afterwards nothing keeps the process alive. */
  release(): void;
  /** One line for logs: "google swiftshader (SwiftShader driver 5.0.0), software". */
  describe(): string;
}

export interface AcquireOptions {
  powerPreference?: GPUPowerPreference;
  /** Ask for `shader-f16` when the adapter has it (default true). */
  wantShaderF16?: boolean;
  /**
   * Node only: skip the zero-initialisation WebGPU performs on workgroup memory at the start of every workgroup
   * (Dawn's `disable_workgroup_init` toggle). On SwiftShader that prologue dominates pipeline compile time (about a
   * second per 16 KiB of workgroup memory, against ~0.15 s for the attention kernel without it). Only safe when every
   * kernel run on the device writes its workgroup memory before reading it, as the attention kernel does; the
   * default keeps WGSL's guarantee.
   */
  skipWorkgroupZeroInit?: boolean;
  /** Called for each uncaptured device error in addition to recording it (default: print it on stderr). */
  onUncapturedError?: (message: string) => void;
}

/** Thrown when no WebGPU adapter can be found; its message says what to install. */
export class NoGpuAdapterError extends Error {
  override name = 'NoGpuAdapterError';
}

/** Limits raised from the WebGPU defaults to what the adapter supports, since kernels size their tiles from them. */
const LIMITS_TO_RAISE = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
] as const;

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** One Dawn instance per set of instance flags, created once per process. */
const nodeGpus = new Map<string, Promise<GPU>>();

export async function acquireGpu(options: AcquireOptions = {}): Promise<GpuContext> {
  const adapter = await requestAdapter(options);
  const requiredFeatures: GPUFeatureName[] = [];
  const hasShaderF16 = (options.wantShaderF16 ?? true) && adapter.features.has('shader-f16');
  if (hasShaderF16) requiredFeatures.push('shader-f16');
  // Requested whenever offered: only a kernel the tuner chose for this adapter uses it (attention-subgroups.ts).
  const subgroups = subgroupSupport(adapter);
  if (subgroups) requiredFeatures.push('subgroups' as GPUFeatureName);
  const requiredLimits: Record<string, number> = {};
  for (const name of LIMITS_TO_RAISE) {
    const value = (adapter.limits as unknown as Record<string, number | undefined>)[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const summary = summarizeAdapter(adapter.info);

  const uncapturedErrors: string[] = [];
  let lostMessage: string | undefined;
  let released = false;
  const report = options.onUncapturedError ?? ((message: string) => console.error(`[mdl] WebGPU error: ${message}`));
  device.addEventListener('uncapturederror', (event) => {
    const message = (event as GPUUncapturedErrorEvent).error.message;
    uncapturedErrors.push(message);
    report(message);
  });
  void device.lost.then((info) => {
    // A destroy() we asked for is not a failure; anything else (driver reset, out of memory) is.
    if (released || info.reason === 'destroyed') return;
    lostMessage = `WebGPU device lost (${info.reason}): ${info.message || 'no details from the driver'}`;
    console.error(`[mdl] ${lostMessage}`);
  });

  return {
    device,
    adapter: summary,
    limits: device.limits,
    hasShaderF16,
    ...(subgroups ? { subgroups } : {}),
    uncapturedErrors,
    checkHealthy() {
      if (released) throw new Error('the WebGPU device has been released');
      if (lostMessage) throw new Error(lostMessage);
      if (uncapturedErrors.length > 0) {
        const all = uncapturedErrors.splice(0).join('\n');
        throw new Error(`WebGPU reported errors:\n${all}`);
      }
    },
    release() {
      if (released) return;
      released = true;
      device.destroy();
    },
    describe() {
      const parts = [summary.vendor || 'unknown vendor', summary.architecture || 'unknown architecture'];
      const desc = summary.description ? ` (${summary.description})` : '';
      return `${parts.join(' ')}${desc}${summary.software ? ', software' : ''}${hasShaderF16 ? ', shader-f16' : ''}`;
    },
  };
}

function summarizeAdapter(info: GPUAdapterInfo | undefined): AdapterSummary {
  const vendor = info?.vendor ?? '';
  const architecture = info?.architecture ?? '';
  const description = info?.description ?? '';
  const text = `${vendor} ${architecture} ${description}`.toLowerCase();
  const software = /swiftshader|llvmpipe|lavapipe|warp|software/.test(text);
  return { vendor, architecture, description, software };
}

async function requestAdapter({ powerPreference, skipWorkgroupZeroInit }: AcquireOptions): Promise<GPUAdapter> {
  const browserGpu = typeof navigator !== 'undefined' ? (navigator as Navigator & { gpu?: GPU }).gpu : undefined;
  if (browserGpu) {
    const adapter = await browserGpu.requestAdapter({ powerPreference });
    if (!adapter) {
      throw new NoGpuAdapterError(
        'This browser exposes WebGPU but returned no adapter. Enable hardware acceleration, or try a browser ' +
          'and GPU driver with WebGPU support (Chrome/Edge 113+, Firefox 141+, Safari 26+).',
      );
    }
    return adapter;
  }
  if (!isNode) {
    throw new NoGpuAdapterError('WebGPU is not available here: navigator.gpu is missing and this is not Node.js.');
  }
  const flags = skipWorkgroupZeroInit ? ['enable-dawn-features=disable_workgroup_init'] : [];
  const key = flags.join(' ');
  if (!nodeGpus.has(key)) nodeGpus.set(key, findNodeGpu(flags));
  let gpu: GPU;
  try {
    gpu = await nodeGpus.get(key)!;
  } catch (error) {
    nodeGpus.delete(key); // let a later call probe again, e.g. after the user installed a driver
    throw error;
  }
  const adapter = await gpu.requestAdapter({ powerPreference });
  if (!adapter) throw new NoGpuAdapterError(noAdapterMessage());
  return adapter;
}

/** Creates Dawn's GPU object in Node, falling back to SwiftShader as described at the top of this file. */
async function findNodeGpu(flags: string[]): Promise<GPU> {
  // Variable specifiers keep bundlers from pulling Node modules and Dawn's native addon into a browser build.
  const fsName = 'node:fs';
  const fs: typeof import('node:fs') = await import(/* @vite-ignore */ fsName);
  quietWaylandProbe(fs);
  const dawnName = 'webgpu';
  let dawn: { create(flags: string[]): GPU; globals: object };
  try {
    dawn = await import(/* @vite-ignore */ dawnName);
  } catch (error) {
    throw new NoGpuAdapterError(
      `Could not load the 'webgpu' package (Dawn for Node): ${(error as Error).message}. Run 'npm install'.`,
    );
  }
  // Dawn's objects (GPUBufferUsage, GPUShaderStage, ...) are expected as globals by WebGPU code.
  Object.assign(globalThis, dawn.globals);

  const env = process.env;
  const userChoseIcd = !!(env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES);
  // With no Vulkan driver installed at all, probing the defaults can only fail, and the loader says so on stderr
  // ("Found no drivers!"); go straight to SwiftShader then.
  if (!userChoseIcd && !hasInstalledIcd(fs) && fs.existsSync(SWIFTSHADER_ICD)) env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
  let gpu = dawn.create(flags);
  if (await gpu.requestAdapter()) return gpu;

  if (!userChoseIcd && fs.existsSync(SWIFTSHADER_ICD)) {
    env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
    gpu = dawn.create(flags);
    if (await gpu.requestAdapter()) return gpu;
  }
  throw new NoGpuAdapterError(noAdapterMessage());
}

/** Whether the Vulkan loader's standard directories hold any driver manifest (Linux; elsewhere assume so). */
function hasInstalledIcd(fs: typeof import('node:fs')): boolean {
  if (process.platform !== 'linux') return true;
  const dirs = ['/etc/vulkan/icd.d', '/usr/share/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', `${process.env.HOME ?? ''}/.local/share/vulkan/icd.d`];
  return dirs.some((d) => {
    try {
      return fs.readdirSync(d).some((f) => f.endsWith('.json'));
    } catch {
      return false;
    }
  });
}

function noAdapterMessage(): string {
  const icd = isNode ? process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES : undefined;
  const lines = ['No WebGPU adapter found.'];
  if (icd && icd !== SWIFTSHADER_ICD) {
    lines.push(
      `VK_ICD_FILENAMES / VK_DRIVER_FILES is set to '${icd}', so only that Vulkan driver was tried: check that it ` +
        `exists and works, or unset it to let mdl fall back to SwiftShader (${SWIFTSHADER_ICD}).`,
    );
  }
  lines.push(
    'To run without a GPU on Debian/Ubuntu, install the SwiftShader software driver and the Vulkan loader:',
    '    apt-get install -y chromium libvulkan1',
    `mdl then finds ${SWIFTSHADER_ICD} by itself.`,
    'Otherwise install a GPU driver with Vulkan support (Linux), or use Metal (macOS) / D3D12 (Windows).',
  );
  return lines.join('\n');
}

/**
 * SwiftShader's Wayland support prints "XDG_RUNTIME_DIR is invalid or not set" when the variable is missing (as in
 * containers and CI). Pointing it at a private empty directory silences that without changing behaviour: there is no
 * compositor socket there, so no display is used either way. It must happen before Dawn loads its drivers.
 */
function quietWaylandProbe(fs: typeof import('node:fs')): void {
  if (process.env.XDG_RUNTIME_DIR || process.platform !== 'linux') return;
  try {
    const uid = typeof process.getuid === 'function' ? process.getuid() : 0;
    const dir = `${process.env.TMPDIR || '/tmp'}/mdl-runtime-${uid}`;
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    process.env.XDG_RUNTIME_DIR = dir;
  } catch {
    // Only cosmetic: keep the message if the directory cannot be made.
  }
}
