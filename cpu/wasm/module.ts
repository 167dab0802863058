/**
 * Assembles the CPU kernel module (matmul, attention and pointwise kernels, WebAssembly SIMD); its exports are
 * declared in `exports.ts`.
 *
 * @module
 */
import { hasRelaxedSimd, ModuleBuilder } from "./binary.ts";
import { addColsum, addMatmulNT, madd } from "./matmul.ts";
import { addGemm, GEMM_PRIVATE_PAGES, type GemmTile } from "./gemm.ts";
import { addAttention } from "./attention.ts";
import { addPointwise } from "./pointwise.ts";
import { checkExports } from "./exports.ts";

/**
 * Default register tiles, measured (interleaved A/B runs on the 2-core Zen 3): mm_nt 3×3 (9 accumulators)
 * ~42 GFLOP/s vs 4×2 ~39; gemm 6×2 (12 accumulators + 2 b vectors + 1 splat = 15 of the 16 xmm registers)
 * ~38 vs 4×2 ~35. Larger tiles spill (4×3 gemm: ~22).
 */
export const DEFAULT_NT_TILE = { R: 3, S: 3 };
/** See {@link DEFAULT_NT_TILE}. */
export const DEFAULT_GEMM_TILE: GemmTile = { R: 6, S: 2 };

/** Options for {@link buildKernelModule}. */
export interface KernelModuleOptions {
  /** Use `f32x4.relaxed_madd` (default: if the engine accepts it). */
  relaxed?: boolean;
  /** Register tile of the forward kernel: R rows of inp × S rows of weight (default 3 × 3). */
  ntTile?: { R: number; S: number };
  /** Register tile of the backward gemm: R rows × S f32x4 columns (default 6 × 2). */
  gemmTile?: GemmTile;
}

/** Builds the kernel module's bytes; instantiate with `{ env: { memory } }` (a shared memory). */
export function buildKernelModule(opts: KernelModuleOptions = {}): Uint8Array<ArrayBuffer> {
  const fma = madd(opts.relaxed ?? hasRelaxedSimd());
  const m = new ModuleBuilder();
  m.privatePages = GEMM_PRIVATE_PAGES;
  addMatmulNT(m, fma, opts.ntTile ?? DEFAULT_NT_TILE);
  addGemm(m, fma, opts.gemmTile ?? DEFAULT_GEMM_TILE);
  addColsum(m);
  addAttention(m, fma);
  addPointwise(m);
  checkExports(m.fns);
  return m.bytes();
}
