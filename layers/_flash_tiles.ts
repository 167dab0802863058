/**
 * The tiles of the flash attention kernels (layers/flash_attention.ts): what a tile is (rows, columns, threads per
 * row group), which tiles the kernels take, the workgroup memory each needs, the candidates ranked by the H200 sweep
 * (`dev/bench_attention.ts --sweep`), and the choice for a head size and a device's workgroup memory. Private to
 * `layers/`; flash_attention.ts re-exports what callers use.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";
/**
 * One kernel's tile: `rows` per workgroup (query rows in forward and dq, keys in dkdv), in groups of 4 owned by TX =
 * `threadsPerRowGroup` threads each (TX·rows/4 threads), and `cols` per block visited (keys in forward and dq, query
 * rows in dkdv), TX · KPT.
 */
export interface FlashTile {
  /** Rows per workgroup: a multiple of 4 up to 64. */
  rows: number;
  /** Columns per block: TX, 2·TX, 4·TX or 8·TX, at most 64 (thread x of a row group takes columns x, x + TX, …). */
  cols: number;
  /**
   * TX, the threads that share a group of 4 rows: 8 (the default), 16 or 32. Thread x of them also takes the
   * channel groups (vec4) x, x + TX, … of the head.
   */
  threadsPerRowGroup?: number;
}

/** Threads per row group where a tile does not say. */
export const DEFAULT_TX = 8;

/**
 * The invocations of one workgroup with `tile`.
 *
 * @param tile A tile.
 * @returns TX·rows/4.
 * @example
 * ```ts
 * import { flashTileThreads } from "./flash_attention.ts";
 * if (flashTileThreads({ rows: 64, cols: 32, threadsPerRowGroup: 16 }) !== 256) throw new Error("16 per 4 rows");
 * ```
 */
export function flashTileThreads(tile: FlashTile): number {
  return (tile.threadsPerRowGroup ?? DEFAULT_TX) * tile.rows / 4;
}

/**
 * A tile as text, the syntax of `parseFlashTiles` and of dev/bench_attention.ts's `--tiles`.
 *
 * @param tile A tile.
 * @returns rows`x`cols, then `x`TX where TX is not the default 8.
 * @example
 * ```ts
 * import { flashTileText } from "./flash_attention.ts";
 * if (flashTileText({ rows: 64, cols: 32 }) !== "64x32") throw new Error("TX 8 is left out");
 * if (flashTileText({ rows: 64, cols: 32, threadsPerRowGroup: 16 }) !== "64x32x16") throw new Error("TX 16 is not");
 * ```
 */
export function flashTileText(tile: FlashTile): string {
  const tx = tile.threadsPerRowGroup ?? DEFAULT_TX;
  return `${tile.rows}x${tile.cols}${tx === DEFAULT_TX ? "" : `x${tx}`}`;
}

/**
 * Why the kernels cannot take `tile`, or undefined where they can (rows a multiple of 4 up to 64; TX 8, 16 or 32;
 * cols TX, 2·TX, 4·TX or 8·TX up to 64: the named accumulators of kernels/_flash.wgsl).
 */
export function tileProblem(tile: FlashTile): string | undefined {
  const { rows, cols } = tile;
  const tx = tile.threadsPerRowGroup ?? DEFAULT_TX;
  if (!Number.isInteger(rows) || rows % 4 !== 0 || rows < 4 || rows > 64) {
    return "rows must be a multiple of 4 up to 64";
  }
  if (![8, 16, 32].includes(tx)) return "threads per row group must be 8, 16 or 32";
  if (![1, 2, 4, 8].includes(cols / tx) || cols > 64) {
    return `cols must be 1, 2, 4 or 8 times the threads per row group (${tx}), at most 64`;
  }
  return undefined;
}

/**
 * The tiles of the three tiled kernels: forward and dq tile (query rows BR, key block BC), dkdv tiles (key rows BC,
 * query block BR).
 */
export interface FlashTiles {
  forward: FlashTile;
  dq: FlashTile;
  dkdv: FlashTile;
}

// Bytes of workgroup memory of each kernel: its var<workgroup> arrays, in vec4 of 16 bytes. Tiles read down a column
// (or as the 4 rows of a thread) have rows of ROW = hs4 + 1; the probabilities / dS have columns of rows/4 + 1.
const FLASH_BYTES: { [K in keyof FlashTiles]: (t: FlashTile, hs4: number) => number } = {
  // Q, K (padded), V, P, the row-group exchange (one vec4 per thread).
  forward: (t, hs4) =>
    16 * ((t.rows + t.cols) * (hs4 + 1) + t.cols * hs4 + t.cols * (t.rows / 4 + 1) + flashTileThreads(t)),
  // Q, dO, K, V (padded), dS.
  dq: ({ rows, cols }, hs4) => 16 * (2 * (rows + cols) * (hs4 + 1) + cols * (rows / 4 + 1)),
  // K, V, Q, dO (padded), P and dS.
  dkdv: ({ rows, cols }, hs4) => 16 * (2 * (rows + cols) * (hs4 + 1) + 2 * cols * (rows / 4 + 1)),
};

// WebGPU's default maxComputeInvocationsPerWorkgroup: `flashTiles` picks no tile with more threads.
const MAX_THREADS = 256;

// Software adapters (llvmpipe) compile the zero-initialization of workgroup memory in time superlinear in its size
// (one 16 KiB array: ~13 s, 32 KiB: ~60 s), so by default they get tiles within this many bytes (~2-13 s a kernel).
export const FALLBACK_BYTES = 8192;

/**
 * "64x32 64x16x16" -> tiles (rows x cols, then x threads per row group where not the default 8).
 *
 * @param text Tiles separated by spaces.
 * @returns The tiles.
 * @throws Error naming a tile the kernels cannot take.
 * @example
 * ```ts
 * import { parseFlashTiles } from "./flash_attention.ts";
 * const [a, b] = parseFlashTiles("64x32 64x16x16");
 * if (a.threadsPerRowGroup !== undefined || b.threadsPerRowGroup !== 16) throw new Error("TX 8 unless given");
 * ```
 */
export function parseFlashTiles(text: string): FlashTile[] {
  return text.split(" ").map((t) => {
    const [rows, cols, tx, ...rest] = t.split("x").map(Number);
    const tile: FlashTile = tx === undefined ? { rows, cols } : { rows, cols, threadsPerRowGroup: tx };
    const problem = rest.length ? "give rows x cols or rows x cols x threads" : tileProblem(tile);
    if (problem) throw new Error(`Flash attention tile '${t}': ${problem}`);
    return tile;
  });
}

/**
 * Candidate tiles (rows x cols, x TX where not 8) of each kernel, best first: `flashTiles` takes the first that fits.
 * The first ones are the fastest that `dev/bench_attention.ts --reps 20 --sweep` measured on the H200 (48 KiB) at
 * d12's shape, in their order (stop 21: forward 64x32x16 2.51 ms, 64x16x16 2.95, 64x32 2.97, 32x16x16 3.18; dq
 * 64x16x16 3.29, 64x16 3.34, 32x32x16 4.32; dkdv 32x32x16 4.32, 64x8 4.82, 32x16x16 5.28); reordering a list changes
 * the choice. The next, smallest ones are for long heads and small memories (16 KiB, WebGPU's minimum), then the
 * other TX = 16 tiles (twice the threads for the same tile, at most 256, WebGPU's default
 * maxComputeInvocationsPerWorkgroup), there for `--sweep` to time.
 */
export const FLASH_CANDIDATES: { readonly [K in keyof FlashTiles]: readonly FlashTile[] } = {
  forward: parseFlashTiles(
    "64x32x16 64x16x16 64x32 32x16x16 64x16 32x32 16x64 32x16 16x16 16x8 8x8 4x8 32x32x16 32x64x16 16x64x16 16x16x16",
  ),
  dq: parseFlashTiles(
    "64x16x16 64x16 32x32x16 32x32 16x64 32x16 16x32 16x16 16x8 8x8 4x8 64x32x16 32x16x16 16x64x16 16x32x16 16x16x16",
  ),
  dkdv: parseFlashTiles("32x32x16 64x8 32x16x16 32x32 32x16 16x32 16x16 16x8 8x8 4x8 64x16x16 16x32x16 16x16x16"),
};

/**
 * Bytes of workgroup memory that kernel `k` takes with `tile` at head size hs.
 *
 * @param k The kernel.
 * @param tile Its tile.
 * @param hs Head size.
 * @returns Bytes of its var<workgroup> arrays.
 * @example
 * ```ts
 * import { flashTileBytes } from "./flash_attention.ts";
 * if (flashTileBytes("forward", { rows: 64, cols: 32 }, 64) !== 45056) throw new Error("Q, K, V, P and red");
 * ```
 */
export function flashTileBytes(k: keyof FlashTiles, tile: FlashTile, hs: number): number {
  return FLASH_BYTES[k](tile, hs / 4);
}

/**
 * The tiles for head size hs: for each kernel the first of its `FLASH_CANDIDATES` (best first) within `budget` bytes
 * of workgroup memory (and 256 threads), or failing that the smallest, if it fits `bytes`.
 *
 * @param hs Head size, a multiple of 4, at most 128.
 * @param bytes Workgroup memory limit (maxComputeWorkgroupStorageSize, at least 16 KiB in WebGPU).
 * @param budget The preferred size (smaller for software adapters, whose compile time grows with it).
 * @returns The tiles.
 * @example
 * ```ts
 * import { flashTiles } from "./flash_attention.ts";
 * const t = flashTiles(64, 49152);
 * if (t.forward.rows !== 64 || t.forward.cols !== 32 || t.dq.rows !== 64) throw new Error("GPT-2's head in 48 KiB");
 * ```
 */
export function flashTiles(hs: number, bytes: number, budget = bytes): FlashTiles {
  const pick = (k: keyof FlashTiles) => {
    const bytesOf = (t: FlashTile) => FLASH_BYTES[k](t, hs / 4);
    const fits = (t: FlashTile, limit: number) => bytesOf(t) <= limit && flashTileThreads(t) <= MAX_THREADS;
    const list = FLASH_CANDIDATES[k];
    const smallest = list.reduce((a, t) => bytesOf(t) < bytesOf(a) ? t : a);
    const tile = list.find((t) => fits(t, Math.min(budget, bytes))) ?? (fits(smallest, bytes) ? smallest : null);
    if (!tile) {
      throw new UserError(`Flash attention: head size ${hs} needs more than ${bytes} bytes of workgroup memory`);
    }
    return tile;
  };
  return { forward: pick("forward"), dq: pick("dq"), dkdv: pick("dkdv") };
}
