/**
 * CPU memory: every tensor the CPU backend touches lives in ONE shared WebAssembly.Memory, so the WebAssembly
 * SIMD kernels (which address a single linear memory) and the Workers (which share it) see the same bytes with no
 * copies. A `Float32Array` view's `byteOffset` is its address inside the memory.
 *
 * wasm32 memories hold at most 4 GiB; a model whose arenas need more is refused with a message saying so.
 *
 * @module
 */
import { UserError } from "../util/errors.ts";

const PAGE_BYTES = 65536;
const MAX_PAGES = 65536; // 4 GiB, the wasm32 limit

/** One shared WebAssembly memory carved into arenas (Float32Array views), sized once up front. */
export interface CpuArenas {
  /** The memory: hand it to the kernels and Workers. */
  memory: WebAssembly.Memory;
  /** One view per requested arena, in request order, each starting on a 64-byte boundary. */
  arenas: Float32Array[];
}

/**
 * Allocates one shared memory holding arenas of the given sizes (in 4-byte elements), zero-filled.
 *
 * @param elementCounts Size of each arena in elements.
 * @param what What is being allocated, for the error message (e.g. "d12 at B=4, T=64").
 * @returns The memory and the arena views.
 * @example
 * ```ts
 * import { allocateCpuArenas } from "./memory.ts";
 * const { memory, arenas } = allocateCpuArenas([10, 100], "example");
 * if (!(memory.buffer instanceof SharedArrayBuffer) || arenas[1].length !== 100) throw new Error("bad arenas");
 * ```
 */
export function allocateCpuArenas(elementCounts: number[], what: string): CpuArenas {
  const starts: number[] = [];
  let bytes = 0;
  for (const n of elementCounts) {
    bytes = Math.ceil(bytes / 64) * 64;
    starts.push(bytes);
    bytes += n * 4;
  }
  const pages = Math.max(1, Math.ceil(bytes / PAGE_BYTES));
  if (pages > MAX_PAGES) {
    const gib = (bytes / 2 ** 30).toFixed(2);
    throw new UserError(`${what} needs ${gib} GiB of CPU memory; the CPU backend holds at most 4 GiB (wasm32)`);
  }
  let memory: WebAssembly.Memory;
  try {
    memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  } catch (err) {
    throw new UserError(`${what}: cannot allocate ${(bytes / 2 ** 20).toFixed(0)} MiB (${(err as Error).message})`);
  }
  const arenas = elementCounts.map((n, i) => new Float32Array(memory.buffer, starts[i], n));
  return { memory, arenas };
}
