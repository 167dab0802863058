/**
 * The types of the dense-product launcher (gpu/_gemm.ts): a product's operands and strides (`Gemm`), its causal mask,
 * and the tuning every product shares (`GemmOptions`, `SplitKOptions`).
 *
 * @module
 */
import type { GpuTensor } from "./tensor.ts";

/**
 * Which triangle of attention's T×T matrices a product leaves out (`kernels/matmul.wgsl`, `causal`): "lowerC" only
 * computes and writes c[m,n] with n ≤ m (q·kᵀ, dout·vᵀ); "lowerA" takes A[m,k] as 0 for k > m (att·v, dpreatt·k);
 * "upperA" takes A[m,k] as 0 for k < m (attᵀ·dout, dpreattᵀ·q). Masked entries of A are never read.
 */
export type CausalMask = "none" | "lowerC" | "lowerA" | "upperA";

/** An operand: a tensor and the element (relative to it) where index (0, 0) of batch 0 lives. */
export interface Operand {
  t: GpuTensor;
  start: number;
}

/** One batched product c[z] = alpha·A[z]·B[z] (+ bias); see `kernels/matmul.wgsl` for the exact indexing. */
export interface Gemm {
  M: number;
  N: number;
  K: number;
  a: Operand & { sm: number; sk: number; so?: number; si?: number };
  b: Operand & { sk: number; sn: number; so?: number; si?: number };
  c: Operand & { sm: number; so?: number; si?: number };
  bias?: Operand;
  /**
   * A per-row vector v (batch offsets so, si; row stride 1): c = exp(alpha·A·B − v[row]) instead of the product
   * (`row_exp` in kernels/matmul.wgsl; attention's probabilities from its scores and their rows' log-sum-exp). Not
   * with `bias`.
   */
  rowExp?: Operand & { so?: number; si?: number };
  /**
   * The softmax's backward in the product: c = aux·(alpha·A·B − v[row]), `aux` laid out as c (its start given),
   * v per row as for `rowExp` (`softmax_grad` in kernels/matmul.wgsl; attention's dpreatt from dout·vᵀ, att and D).
   */
  softmaxGrad?: { aux: Operand; v: Operand & { so?: number; si?: number } };
  /**
   * A per-row vector v (batch offsets so, si; row stride 1): A[m,k] is read as exp(A[m,k] − v[m]) (`A_EXP` in
   * kernels/matmul.wgsl; attention's att·v from the raw scores and their rows' log-sum-exp). A's k index must have
   * stride 1. Not with `bias`, `rowExp` or `softmaxGrad`.
   */
  aExp?: Operand & { so?: number; si?: number };
  /** Batches as outer × inner (attention: B × NH); 1 × 1 when absent. */
  batch?: { outer: number; inner: number };
  alpha?: number;
  /** The causal mask; "none" when absent. */
  causal?: CausalMask;
}

/** When and how finely `dweight`-style products (small M·N, long K) are split along K. */
export interface SplitKOptions {
  /**
   * Workgroups to aim for when the product has fewer output tiles than this (default 1024: some four waves on a
   * 132-SM GPU at two workgroups per SM, so the idle SMs of the last wave cost little; 256, 1.1 waves there, ran the
   * dweight products at 25 TFLOP/s).
   */
  targetWorkgroups: number;
  /** Shortest K slice (default 512; a multiple of 16). */
  minChunk: number;
  /**
   * Workgroups the GPU runs at once (0: unknown). Where given, the slice count is the one, up to
   * `targetWorkgroups` / tiles, with the least modeled time: waves of `waveSlots` workgroups, each as long as a slice
   * plus `sliceOverheadK` (a slice's start and its partial tile's store, in units of K), so the last wave is not left
   * mostly idle (108 tiles in 10 slices are 4.09 waves of 264: five waves for the work of four).
   */
  waveSlots: number;
  /**
   * See `waveSlots` (default 128: on the H200 the fc and fcproj weight gradients then take 9 slices, not 8, and ran
   * 41.8 TFLOP/s against 41.2-41.4 at 256; the others kept their time; dev/bench_matmul.ts, stop 28).
   */
  sliceOverheadK: number;
}

/** Matmul tuning shared by every product. */
export interface GemmOptions {
  /** K-tile depth of the kernel: 16, or 8 on CPU adapters (see `kernels/matmul.wgsl`). */
  bk: 8 | 16;
  /**
   * K-tile depth of the products with 128-wide tiles whose B has its column index at stride 1 (B_N_CONTIG: the input
   * and weight gradients) in float32 math: 8, where on the H200 all ten weight gradients ran 0.6-1.0 TFLOP/s faster
   * than at 16 while the five forward products (B k-contiguous) ran 1.4-1.6 slower at 8, and so did attention's
   * 64-wide products through v, k, q and dout (which keep `bk`; dev/bench_matmul.ts and bench_attention.ts, stop 28).
   */
  bkNContigB: 8 | 16;
  /**
   * Whether those products (B column-contiguous, 128-wide tiles) stage two K tiles by turns: on the H200 at K tiles
   * of 8 all ten weight gradients ran 0.9-1.5 TFLOP/s faster double-buffered, where the forward products ran 8-10
   * slower with two tiles of 16 and 3-4 slower with two of 8 (dev/bench_matmul.ts, stop 28).
   */
  doubleBufferNContigB: boolean;
  /**
   * Whether the products with a masked A (att·v and the gradients through it: row tiles of unequal K ranges) start
   * their longest row tiles first, those of every batch before the next longest (`HEAVY_FIRST` in matmul.wgsl;
   * on the H200 att·v 0.623 → 0.561 ms a d12 layer at B=16, the other three 0.48 → 0.42).
   */
  heavyFirst: boolean;
  /** When and how finely weight-gradient products are split along K. */
  splitK: SplitKOptions;
  /**
   * Products with at most this many outputs per batch, or a side of at most 16, use `matmul_small` (one thread per
   * output); 0: never.
   */
  smallMaxOutputs: number;
  /** Products with at most this many rows, both operands contiguous along K, use `matmul_rows`; 0: never. */
  rowsMaxRows: number;
  /** Whether products whose sizes are whole tiles skip the kernel's bounds checks (`EXACT` in matmul.wgsl). */
  exact: boolean;
  /**
   * Whether whole-tile products read an m-contiguous A and an n-contiguous float32 B (the weight gradients' doutᵀ and
   * inp, the input gradients' weight) a vec4 a load, their rows or columns then consecutive (`VEC4_A`, `VEC4_B`).
   */
  vec4Loads: boolean;
  /** Whether, with `vec4Loads`, a k-contiguous A is read a vec4 along k too (`VEC4_AK`). */
  vec4AlongK: boolean;
  /** Whether the kernel reads each k's register fragments while the previous k is multiplied. */
  pipelineFragments: boolean;
  /** Whether the kernel stages two K tiles in workgroup memory by turns (one barrier per K step instead of two). */
  doubleBuffer: boolean;
  /**
   * Whether a thread's output columns are 16 apart, so its stores coalesce (`SPREAD_COLUMNS` in matmul.wgsl), in
   * every product but those with the softmax_grad epilogue (dout·vᵀ → dpreatt: 0.69 ms a d12 layer at B=16 on the
   * H200 with consecutive columns, 1.02 spread; q·kᵀ 0.59 → 0.47 and the weight products +0.4-1.5 TFLOP/s spread).
   */
  spreadColumns: boolean;
  /**
   * Whether a thread's output rows are 16 apart where A is m-contiguous, so its loads coalesce (`SPREAD_ROWS`; the
   * weight gradients and attᵀ·dout, dpreattᵀ·q: +0.2-0.4 TFLOP/s, 0.498 → 0.481 ms a d12 layer on the H200). Not
   * where A is k-contiguous: the forward products ran 2.0-2.3 TFLOP/s slower with it.
   */
  spreadRows: boolean;
  /**
   * Which tiled products compute in native f16 (`kernels/_gemm_math_f16.wgsl`; needs `shader-f16`): "none";
   * "weights", those whose B is an f16 weight copy (the forward and input-gradient products of an f16 model); "all",
   * every tiled product.
   */
  f16Math: F16Math;
  /** K steps per f16 run before it is added into float32 (`F16_RUN`; 1 = 16 products, 32 with `doubleBuffer`). */
  f16Run: number;
  /** Whether f16 math rounds the staged operands to nearest itself (`STAGE_NEAREST`) rather than by conversion. */
  f16StageNearest: boolean;
  /**
   * Whether f16 math takes 128×64 output tiles (an 8×4 block a thread: half the accumulators, of both the float32
   * totals and the f16 run) instead of 128×128.
   */
  f16NarrowTiles: boolean;
}

/** Which tiled products compute in native f16 (see `GemmOptions.f16Math`). */
export type F16Math = "none" | "weights" | "all";
