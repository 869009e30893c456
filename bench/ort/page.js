// Browser side of the ONNX Runtime Web comparison. The driver (ort-browser.ts) calls `window.ortBench.*` through
// page.evaluate. Inputs live in GPU buffers owned by ORT's device and the output stays on the GPU, so a timed run is
// session.run plus waiting for the queue — the same "inputs resident, output resident" conditions as mdl's timing.

import * as ort from '/ort/ort.webgpu.min.mjs';

ort.env.wasm.wasmPaths = '/ort/';
// Threads need cross-origin isolation; the attention work runs on the WebGPU device anyway.
ort.env.wasm.numThreads = 1;
ort.env.logLevel = 'error';

async function fetchBytes(name) {
  const res = await fetch(`/blob/${name}`);
  if (!res.ok) throw new Error(`blob ${name}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

let current;

async function release() {
  if (!current) return;
  for (const b of current.buffers) b.destroy();
  await current.session.release();
  current = undefined;
}

window.ortBench = {
  async adapter() {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) return null;
    const info = adapter.info ?? {};
    return { vendor: info.vendor ?? '', architecture: info.architecture ?? '', description: info.description ?? '', ort: ort.env.versions?.web ?? '' };
  },

  /** c: { model, inputs: [{ name, blob, dims }] }; every input is f32. */
  async prepare(c) {
    await release();
    const model = await fetchBytes(c.model);
    const session = await ort.InferenceSession.create(model, {
      executionProviders: ['webgpu'],
      preferredOutputLocation: 'gpu-buffer',
    });
    const device = await ort.env.webgpu.device;
    const buffers = [];
    const feeds = {};
    for (const input of c.inputs) {
      const bytes = await fetchBytes(input.blob);
      const buffer = device.createBuffer({
        size: bytes.byteLength,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      });
      device.queue.writeBuffer(buffer, 0, bytes);
      buffers.push(buffer);
      feeds[input.name] = ort.Tensor.fromGpuBuffer(buffer, { dataType: 'float32', dims: input.dims });
    }
    await device.queue.onSubmittedWorkDone();
    current = { session, device, feeds, buffers };
    return session.inputNames;
  },

  /** Runs once and returns every `stride`-th output value, to check ORT computes what mdl computes. */
  async sample(stride) {
    const out = await current.session.run(current.feeds);
    const data = await out.output.getData(true);
    const picked = [];
    for (let i = 0; i < data.length; i += stride) picked.push(data[i]);
    return picked;
  },

  /** Milliseconds for one run, outputs left on the GPU, including the wait for the device to finish. */
  async time() {
    const t0 = performance.now();
    const out = await current.session.run(current.feeds);
    await current.device.queue.onSubmittedWorkDone();
    const ms = performance.now() - t0;
    out.output.dispose();
    return ms;
  },

  release,
};

window.ortBenchReady = true;
