/**
 * Shared helpers of the tests of the WebAssembly forms (`CpuKernels`, `cpu/kernels.ts`): a bump allocator of
 * views in one shared memory, the tolerance rule, a bit-identity check and cache blocks small enough to split
 * test-sized jobs.
 *
 * Tolerance: |got - want| <= 1e-5 · (1 + Σ|terms|) per element, where Σ|terms| is the sum of the absolute values
 * of the products being added (computed alongside the float64 reference). float32 rounds each of at most a few
 * thousand additions with relative error 2^-24 ≈ 6e-8, so even sequential worst-case error stays well below
 * 1e-5 of Σ|terms| at these sizes; a wrong index or a missed term is O(1) off.
 *
 * @module
 */
import type { AdamWHyper } from "../../layers/adamw.ts";
import { fillUniform, rng } from "../_random.ts";

/** Relative to 1 + Σ|terms| (see the module comment). */
export const RTOL = 1e-5;

/**
 * A bump allocator of Float32Array views in one shared memory. `skew` adds bytes after each view, so starts vary:
 * by default whole cache lines (64·(n mod 3)); the pointwise tests use 4·(n mod 5), so starts are not always
 * 16-byte aligned and the SIMD kernels' unaligned heads and tails run.
 */
export class Arena {
  readonly memory: WebAssembly.Memory;
  #cursor = 64; // keep address 0 unused
  readonly #rng;
  readonly #skew: (n: number) => number;
  constructor(options: { mib?: number; seed?: number; skew?: (n: number) => number } = {}) {
    const pages = 16 * (options.mib ?? 16);
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
    this.#rng = rng(options.seed ?? 12345);
    this.#skew = options.skew ?? ((n) => 64 * (n % 3));
  }
  alloc(n: number): Float32Array {
    const a = new Float32Array(this.memory.buffer, this.#cursor, n);
    this.#cursor += Math.ceil((n * 4) / 64) * 64 + this.#skew(n);
    return a;
  }
  random(n: number, scale = 1): Float32Array {
    return fillUniform(this.#rng, this.alloc(n), scale);
  }
  poisoned(n: number): Float32Array {
    return this.alloc(n).fill(NaN);
  }
  reset(): void {
    this.#cursor = 64;
  }
}

/** |got - want| <= RTOL · (1 + mag[i]) per element, mag being Σ|terms| from the float64 reference. */
export function sums(mag: Float64Array): { atol: number; rtol: number; magnitude: Float64Array } {
  return { atol: RTOL, rtol: RTOL, magnitude: mag };
}

/** Asserts a and b are bit-identical (NaN equal to NaN, -0 not equal to 0). */
export function assertSame(what: string, a: Float32Array, b: Float32Array): void {
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) throw new Error(`${what}[${i}]: ${a[i]} !== ${b[i]}`);
  }
}

/** Cache blocks far below the defaults: many k, column and row blocks even at test sizes. */
export const TINY_BLOCKS = { fwdPanelBytes: 1, gemmPanelBytes: 2048, dinpCols: 8, dweightK: 5 };

/** AdamW settings of the WASM tests: a later step (bias corrections ≠ 1), weight decay and a clipping scale. */
export const HYPER: AdamWHyper = {
  learningRate: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.01,
  step: 3,
  gradScale: 0.5,
};
