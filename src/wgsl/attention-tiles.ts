// The attention kernel's tile shape: query rows and key rows per tile, lanes per row, and whether K/V tiles are
// staged in workgroup memory; chosen for the device limits the kernel is generated for, or given and checked.

/** The device limits the kernel is sized from (a subset of GPUSupportedLimits). */
export interface KernelLimits {
  maxComputeWorkgroupStorageSize: number;
  maxComputeInvocationsPerWorkgroup: number;
  maxComputeWorkgroupSizeX?: number;
}

/** The WebGPU defaults every adapter guarantees. */
export const DEFAULT_KERNEL_LIMITS: KernelLimits = {
  maxComputeWorkgroupStorageSize: 16384,
  maxComputeInvocationsPerWorkgroup: 256,
  maxComputeWorkgroupSizeX: 256,
};

/** Tile sizes a caller may fix (tests, the tuner); the rest are chosen. */
export interface TileOverrides {
  q?: number;
  k?: number;
  lanes?: number;
  staged?: boolean;
  /** The row-wise shape (attention-rowwise.ts): one query row per invocation, K/V tiles staged, scores private. */
  rowwise?: boolean;
  /** With `rowwise`: K/V rows passed between the lanes of a subgroup, not staged (attention-subgroups.ts). */
  subgroups?: boolean;
  /** The split-key decode shape (attention-split-decode.ts): one query row per workgroup, `lanes` invocations sharing its key tiles. */
  splitKeys?: boolean;
}

/**
 * Workgroup bytes for a tile shape: K and V tiles (vec4 rows) plus the score tile (the row-wise shape keeps none, and
 * its subgroup form stages nothing). The split-key shape (`splitLanes` > 0) stages nothing either; it keeps each
 * lane's partial max, sum and output row.
 */
export function workgroupBytes(headDim: number, tileQ: number, tileK: number, staged = true, rowwise = false, subgroups = false, splitLanes = 0): number {
  if (splitLanes > 0) return splitKeyBytes(headDim, splitLanes);
  if (subgroups) return 0;
  return rowwise ? 4 * 2 * tileK * headDim : staged ? 4 * (2 * tileK * headDim + tileQ * tileK) : 0;
}

/** The split-key shape's workgroup memory: per lane a partial max, a partial sum and a partial output row. */
export function splitKeyBytes(headDim: number, lanes: number): number {
  return 4 * lanes * (2 + headDim);
}

export interface TileShape {
  tileQ: number;
  tileK: number;
  lanes: number;
  /**
   * Whether K/V tiles are staged in workgroup memory and shared by the workgroup's rows (the default), or each
   * invocation reads its keys straight from the storage buffer, one query row per invocation (`lanes` = 1). GPUs want
   * the first; a CPU implementation such as SwiftShader, where workgroup memory is ordinary memory behind barriers,
   * can prefer the second. The tuner measures both.
   */
  staged: boolean;
  /** The row-wise shape (lanes 1, staged): see attention-rowwise.ts. */
  rowwise?: boolean;
  /** The row-wise shape sharing K/V through subgroup operations (needs the `subgroups` feature). */
  subgroups?: boolean;
  /** The split-key decode shape (one query row, `lanes` invocations over its keys): see attention-split-decode.ts. */
  splitKeys?: boolean;
}

/**
 * Workgroup memory the automatic tile choice aims for, even on adapters that allow more: larger tiles buy little
 * (measured on SwiftShader: 32×32 and 16×16 tiles within 15% of each other) and cost occupancy on GPUs.
 */
const TILE_MEMORY_BUDGET = 16384;

/**
 * Picks the tile shape: lanes so that each thread owns about four output vec4s, as many query rows as the invocation
 * limit allows (up to 32), then the largest key tile (up to 64) whose K, V and score tiles fit the memory budget.
 */
export function chooseTiles(headDim: number, limits: KernelLimits, overrides: TileOverrides = {}): TileShape {
  const d4 = headDim / 4;
  const maxInvocations = Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX ?? Infinity);
  let lanes = overrides.lanes ?? 1;
  if (overrides.lanes === undefined) {
    for (let r = Math.min(8, d4); r >= 1; r--) {
      if (d4 % r === 0 && d4 / r >= 4) {
        lanes = r;
        break;
      }
    }
  }
  let tileQ = overrides.q ?? 32;
  if (overrides.q === undefined) while (tileQ > 1 && tileQ * lanes > maxInvocations) tileQ /= 2;
  let tileK = overrides.k ?? 64;
  if (overrides.k === undefined) {
    const budget = Math.min(limits.maxComputeWorkgroupStorageSize, TILE_MEMORY_BUDGET);
    while (tileK > 1 && workgroupBytes(headDim, tileQ, tileK) > budget) tileK /= 2;
  }
  const shape: TileShape = { tileQ, tileK, lanes, staged: overrides.staged ?? true, ...(overrides.rowwise ? { rowwise: true } : {}), ...(overrides.subgroups ? { subgroups: true } : {}), ...(overrides.splitKeys ? { splitKeys: true } : {}) };
  if (shape.subgroups && !shape.rowwise) throw new Error('subgroup sharing of K/V is a form of the row-wise attention kernel: set rowwise as well');
  if (shape.splitKeys && (tileQ !== 1 || !shape.staged || shape.rowwise)) throw new Error(`the split-key decode kernel runs one query row per workgroup: the query tile must be 1, got ${tileQ}`);
  if (shape.rowwise && (lanes !== 1 || !shape.staged)) throw new Error(`the row-wise attention kernel stages K/V tiles and runs one query row per invocation: lanes must be 1, got ${lanes}`);
  if (!shape.staged && lanes !== 1) throw new Error(`an unstaged attention kernel runs one query row per invocation: lanes must be 1, got ${lanes}`);
  checkTileShape(headDim, shape, limits);
  return shape;
}

/**
 * Tiles for a call with a few new query rows (a decode step): one row per workgroup with its lanes across the head
 * dim (up to 16, dividing D/4), and the largest key tile of 32, 16 or 8 that fits the workgroup memory.
 */
export function decodeTiles(headDim: number, limits: KernelLimits): TileShape {
  const d4 = headDim / 4;
  const lanes = [16, 8, 4, 2, 1].find((l) => d4 % l === 0)!;
  const tileK = [32, 16, 8].find((t) => workgroupBytes(headDim, 1, t) <= limits.maxComputeWorkgroupStorageSize) ?? 4;
  return chooseTiles(headDim, limits, { q: 1, k: tileK, lanes });
}

function checkTileShape(headDim: number, { tileQ, tileK, lanes, staged, rowwise, subgroups, splitKeys }: TileShape, limits: KernelLimits): void {
  for (const [name, value] of [['query tile', tileQ], ['key tile', tileK], ['lanes', lanes]] as const) {
    if (!Number.isInteger(value) || value < 1) throw new Error(`attention ${name} must be a positive integer, got ${value}`);
  }
  const invocations = tileQ * lanes;
  const maxInvocations = Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX ?? Infinity);
  if (invocations > maxInvocations) {
    throw new Error(
      `attention workgroup of ${tileQ} rows × ${lanes} lanes = ${invocations} invocations exceeds the device limit of ${maxInvocations}`,
    );
  }
  const bytes = workgroupBytes(headDim, tileQ, tileK, staged, rowwise, subgroups, splitKeys ? lanes : 0);
  if (bytes > limits.maxComputeWorkgroupStorageSize) {
    throw new Error(
      `attention tiles ${tileQ}×${tileK} with head dim ${headDim} need ${bytes} bytes of workgroup memory; ` +
        `the device allows ${limits.maxComputeWorkgroupStorageSize}`,
    );
  }
}

/**
 * Split-key decode shapes for this head dim that fit the limits: `lanes` invocations per query row (32, then 16, 8)
 * sharing its key tiles of `tileK` keys, largest first.
 */
export function splitKeyTiles(headDim: number, limits: KernelLimits, tileK = 32): TileShape[] {
  const maxInvocations = Math.min(limits.maxComputeInvocationsPerWorkgroup, limits.maxComputeWorkgroupSizeX ?? Infinity);
  return [32, 16, 8]
    .filter((lanes) => lanes <= maxInvocations && splitKeyBytes(headDim, lanes) <= limits.maxComputeWorkgroupStorageSize)
    .map((lanes) => ({ tileQ: 1, tileK, lanes, staged: true, splitKeys: true }));
}
