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

// ORT's FlashAttention shader, on a device with the `subgroups` feature, walks the keys in steps of the subgroup size
// but always shuffles 8 (or 16) keys out of the subgroup: it assumes subgroups of at least 8 lanes. SwiftShader's are
// 4 lanes wide, so half the shuffles read lanes that do not exist and every output from L = 32 up is wrong (off by
// 0.1–0.7 against the f64 oracle; L ≤ 16 takes ORT's decode kernels, which are right). On such an adapter ORT gets a
// device of ours without `subgroups`, and the same FlashAttention program reads K and V from workgroup memory instead.
const MIN_SUBGROUP_LANES = 8;
// The limits ORT raises to the adapter's when it creates its own device.
const LIMITS = [
  'maxBindGroups',
  'maxStorageBuffersPerShaderStage',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupsPerDimension',
];

/** { device, note } when ORT must run on a device without subgroups; null when its own device is fine. */
let ownDevice;
async function deviceWithoutSmallSubgroups(adapter) {
  const lanes = adapter.info?.subgroupMinSize;
  if (!adapter.features.has('subgroups') || !(lanes < MIN_SUBGROUP_LANES)) return null;
  const requiredFeatures = [...adapter.features].filter((f) => !f.includes('subgroup'));
  const requiredLimits = Object.fromEntries(LIMITS.map((name) => [name, adapter.limits[name]]));
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  return { device, note: `subgroups hidden from ORT (${lanes}-lane subgroups; its FlashAttention shader needs ≥ ${MIN_SUBGROUP_LANES})` };
}

window.ortBench = {
  async adapter() {
    const adapter = await navigator.gpu?.requestAdapter();
    if (!adapter) return null;
    ownDevice = await deviceWithoutSmallSubgroups(adapter);
    const info = adapter.info ?? {};
    return {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      description: info.description ?? '',
      ort: ort.env.versions?.web ?? '',
      workaround: ownDevice?.note ?? '',
    };
  },

  /** c: { model, inputs: [{ name, blob, dims }] }; every input is f32. */
  async prepare(c) {
    await release();
    const model = await fetchBytes(c.model);
    const session = await ort.InferenceSession.create(model, {
      executionProviders: [ownDevice ? { name: 'webgpu', device: ownDevice.device } : 'webgpu'],
      preferredOutputLocation: 'gpu-buffer',
    });
    const device = ownDevice?.device ?? (await ort.env.webgpu.device);
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

  /** Largest |output − reference| over the whole output (the reference a blob of f32), NaN when either has a NaN. */
  async diff(reference) {
    const out = await current.session.run(current.feeds);
    const data = await out.output.getData(true);
    const ref = new Float32Array((await fetchBytes(reference)).buffer);
    if (data.length !== ref.length) throw new Error(`ORT output has ${data.length} values, the reference ${ref.length}`);
    let worst = 0;
    for (let i = 0; i < data.length; i++) {
      const d = Math.abs(data[i] - ref[i]);
      if (Number.isNaN(d)) return NaN;
      worst = Math.max(worst, d);
    }
    return worst;
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
