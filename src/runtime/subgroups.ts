// What an adapter says about its subgroups, read the same way wherever a decision depends on it: the device request
// (src/runtime/device.ts asks for the feature), the tuner's candidates and the tuned-tile lookup (src/tune).
// WebGPU reports a range of sizes, not one size: the driver picks the size a kernel runs with.

export interface SubgroupSupport {
  minSize: number;
  maxSize: number;
}

/** The parts of a GPUAdapter read here, so a test can describe an adapter instead of owning one. */
export interface SubgroupAdapterDescription {
  features: ReadonlySet<string>;
  info?: { subgroupMinSize?: number; subgroupMaxSize?: number };
}

/** The subgroup sizes of an adapter that has the `subgroups` feature and reports them; undefined otherwise. */
export function subgroupSupport(adapter: SubgroupAdapterDescription): SubgroupSupport | undefined {
  const minSize = adapter.info?.subgroupMinSize;
  const maxSize = adapter.info?.subgroupMaxSize;
  if (!adapter.features.has('subgroups') || typeof minSize !== 'number' || typeof maxSize !== 'number' || minSize < 1) return undefined;
  return { minSize, maxSize };
}
