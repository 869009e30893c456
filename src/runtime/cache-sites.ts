// Where a decoder's keys and values live on the device: per self-attention site, one K and one V buffer holding every
// batch row's region of `capacity` key rows (the attention kernel's kv_rows), each row's keys from the site's first
// kept position on. A region grows by doubling when a call would overflow it, dropping first the keys no later query
// can see (cache-exactness.ts says which), so a sliding window keeps a cache about twice the window's size.

import type { CacheSite } from '../lower/kv-cache.ts';
import type { AttentionSite } from '../lower/program.ts';
import type { GpuContext } from './device.ts';
import { ProgramLimitError } from './program.ts';

export interface CacheSiteStats {
  node: string;
  kind: CacheSite['kind'];
  /** Key rows the cache buffer holds. */
  capacity: number;
  /** Key rows in use. */
  live: number;
  /** Keys dropped because no later query can see them. */
  dropped: number;
}

export interface SiteState {
  site: CacheSite;
  /** The attention node, which names the site in every program. */
  node: string;
  /** The site's attention, as compiled. */
  attention: AttentionSite;
  k?: GPUBuffer;
  v?: GPUBuffer;
  capacity: number;
  /** Keys dropped in front, the same for every row: row b holds positions dropped to positions[b] - 1. */
  dropped: number;
}

/** Key rows a cache region starts with: small prompts do not regrow it every few tokens. */
export const MIN_CAPACITY = 16;

/**
 * New K and V buffers of `capacity` rows per batch row for B rows, each row's `keep(r)` keys copied over from the old
 * buffers after the `drop` leading ones (encoded into `encoder`); the old buffers go to `retired`, to be destroyed
 * once the work that reads them is done.
 */
export function regrowSite(gpu: GpuContext, st: SiteState, B: number, capacity: number, drop: number, keep: (r: number) => number, encoder: GPUCommandEncoder, retired: GPUBuffer[]): void {
  const rowBytes = st.site.rowWidth * 4;
  const limit = Math.min(gpu.limits.maxStorageBufferBindingSize, gpu.limits.maxBufferSize);
  if (B * capacity * rowBytes > limit) throw new ProgramLimitError(`the KV cache of ${st.node} needs ${B * capacity * rowBytes} bytes, above this adapter's ${limit}`);
  const grown = [st.k, st.v].map((old, j) => {
    const b = gpu.device.createBuffer({ label: `kv cache ${j ? 'v' : 'k'} ${st.site.step}`, size: B * capacity * rowBytes, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST });
    if (old) {
      for (let r = 0; r < B; r++) if (keep(r) > 0) encoder.copyBufferToBuffer(old, (r * st.capacity + drop) * rowBytes, b, r * capacity * rowBytes, keep(r) * rowBytes);
      retired.push(old);
    }
    return b;
  });
  [st.k, st.v] = grown;
  st.capacity = capacity;
  st.dropped += drop;
}

/** Copies each batch row's `n` new K/V rows (from `k` and `v`, row after row) after its `live(r)` cached ones. */
export function appendRows(st: SiteState, encoder: GPUCommandEncoder, k: GPUBuffer, v: GPUBuffer, B: number, n: number, live: (r: number) => number): void {
  const rowBytes = st.site.rowWidth * 4;
  for (let r = 0; r < B; r++) {
    const to = (r * st.capacity + live(r)) * rowBytes;
    encoder.copyBufferToBuffer(k, r * n * rowBytes, st.k!, to, n * rowBytes);
    encoder.copyBufferToBuffer(v, r * n * rowBytes, st.v!, to, n * rowBytes);
  }
}
