// TensorFlow.js's WebGPU backend on the very Dawn device mdl uses, computing the same attention from its ops:
//   softmax(fused.matMul(Q·scale, Kᵀ, + mask bias)) · V
// Its fused matMul adds the bias in the matmul's epilogue, and Q is scaled before the product (L·D work rather than
// L·L), which is the fastest way to express attention in tfjs. Inputs are given in tfjs's preferred [H, L, D] layout,
// transposed outside the timing.

import type { GpuContext } from '../src/runtime/device.ts';

type Tf = typeof import('@tensorflow/tfjs-core');

/** The backend methods used to flush its command encoder; they are public on the class but not in its typings. */
interface WebGpuBackendInternals {
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

export interface TfjsSession {
  tf: Tf;
  version: string;
  /** Submits what tfjs has recorded and waits for the device to finish it. */
  flush(): Promise<void>;
  prepare(c: TfjsCase): TfjsAttention;
}

export interface TfjsCase {
  heads: number;
  lq: number;
  lk: number;
  headDim: number;
  /** [B=1, L, H, D] as mdl lays them out. */
  q: Float32Array;
  k: Float32Array;
  v: Float32Array;
  /** [Lq * Lk] 0/1, or undefined for no mask. */
  mask?: Uint8Array;
}

export interface TfjsAttention {
  /** One attention, waited for on the device; milliseconds. */
  time(): Promise<number>;
  /** The output in mdl's [1, Lq, H, D] layout. */
  output(): Promise<Float32Array>;
  dispose(): void;
}

/** [L, H, D] → [H, L, D] and back. */
function swapFirstTwo(x: Float32Array, a: number, b: number, d: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < a; i++) for (let j = 0; j < b; j++) out.set(x.subarray((i * b + j) * d, (i * b + j + 1) * d), (j * a + i) * d);
  return out;
}

/**
 * Loads tfjs with its WebGPU backend bound to `gpu.device`. tfjs registers its own 'webgpu' backend factory at import
 * time when `navigator.gpu` exists; its kernels are registered under that name, so the factory is replaced by one
 * that returns a backend on our device rather than registering a backend under a new name.
 */
export async function startTfjs(gpu: GpuContext): Promise<TfjsSession> {
  // Dawn's GPU* globals are already installed by acquireGpu; tfjs only needs `navigator.gpu` to be present.
  const g = globalThis as { navigator?: { gpu?: unknown } };
  g.navigator ??= {};
  g.navigator.gpu ??= { requestAdapter: async () => null };
  // tfjs-core advises installing tfjs-node when it detects Node; that advice is noise here.
  const warn = console.warn;
  const log = console.log;
  console.warn = console.log = () => {};
  let tf: Tf;
  let backendModule: { WebGPUBackend: new (device: GPUDevice, info?: GPUAdapterInfo) => unknown };
  try {
    tf = await import('@tensorflow/tfjs-core');
    backendModule = (await import('@tensorflow/tfjs-backend-webgpu')) as unknown as typeof backendModule;
  } finally {
    console.warn = warn;
    console.log = log;
  }
  const backend = new backendModule.WebGPUBackend(gpu.device) as WebGpuBackendInternals;
  tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => backend as never, 100);
  if (!(await tf.setBackend('webgpu'))) throw new Error('tfjs could not start its WebGPU backend on the Dawn device');
  tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', 64);

  const flush = async () => {
    backend.ensureCommandEncoderReady();
    backend.endComputePassEncoder();
    backend.submitQueue();
    await gpu.device.queue.onSubmittedWorkDone();
  };

  return {
    tf,
    version: tf.version_core,
    flush,
    prepare(c) {
      const { heads: h, lq, lk, headDim: d } = c;
      const q = tf.tensor3d(swapFirstTwo(c.q, lq, h, d), [h, lq, d]);
      const k = tf.tensor3d(swapFirstTwo(c.k, lk, h, d), [h, lk, d]);
      const v = tf.tensor3d(swapFirstTwo(c.v, lk, h, d), [h, lk, d]);
      const bias = c.mask ? tf.tensor2d(Float32Array.from(c.mask, (m) => (m ? 0 : -1e30)), [lq, lk]) : undefined;
      const scale = 1 / Math.sqrt(d);
      const attend = () =>
        tf.tidy(() => {
          const scores = tf.fused.matMul({ a: tf.mul(q, scale), b: k, transposeB: true, bias });
          return tf.matMul(tf.softmax(scores), v);
        });
      return {
        async time() {
          const t0 = performance.now();
          const out = attend();
          await flush();
          const ms = performance.now() - t0;
          out.dispose();
          return ms;
        },
        async output() {
          const out = attend();
          const data = (await out.data()) as Float32Array;
          out.dispose();
          return swapFirstTwo(data, h, lq, d);
        },
        dispose() {
          for (const t of [q, k, v, bias]) t?.dispose();
        },
      };
    },
  };
}
