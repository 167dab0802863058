/**
 * Assembles the CPU kernel module (matmul, attention and pointwise kernels, WebAssembly SIMD) and describes its
 * exports.
 *
 * @module
 */
import { hasRelaxedSimd, ModuleBuilder } from "./binary.ts";
import { addColsum, addMatmulNT, madd } from "./matmul.ts";
import { addGemm, GEMM_PRIVATE_PAGES, type GemmTile } from "./gemm.ts";
import { addAttention } from "./attention.ts";
import { addPointwise } from "./pointwise.ts";

/** What the kernel module exports (pointers and strides in bytes unless noted). */
export interface KernelExports {
  mm_nt(
    out: number,
    inp: number,
    w: number,
    bias: number,
    hasBias: number,
    rows: number,
    cols: number,
    C: number,
    ldo: number,
  ): void;
  gemm(
    c: number,
    ldc: number,
    a: number,
    sar: number,
    sak: number,
    aPacked: number,
    b: number,
    ldb: number,
    rows: number,
    cols: number,
    K: number,
    init: number,
  ): void;
  colsum(dst: number, src: number, lds: number, rows: number, cols: number): void;
  adamw(
    params: number,
    grads: number,
    m: number,
    v: number,
    n: number,
    lr: number,
    beta1: number,
    beta2: number,
    eps: number,
    wd: number,
    mCorr: number,
    vCorr: number,
    gradScale: number,
  ): void;
  sumsq(x: number, n: number): number;
  gelu_fwd(out: number, inp: number, n: number): void;
  gelu_bwd(dinp: number, inp: number, dout: number, n: number): void;
  rowmax(x: number, n: number): number;
  softmax_row(probs: number, logits: number, V: number, Vp: number, max: number): number;
  attn_fwd(
    out: number,
    preatt: number,
    att: number,
    inp: number,
    T: number,
    C: number,
    hs: number,
    scale: number,
  ): void;
  attn_bwd(
    dinp: number,
    dpreatt: number,
    datt: number,
    dout: number,
    inp: number,
    att: number,
    T: number,
    C: number,
    hs: number,
    scale: number,
  ): void;
}

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
  return m.bytes();
}
