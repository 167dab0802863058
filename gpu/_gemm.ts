/**
 * The one dense-product launcher: binds the operands of `kernels/matmul.wgsl` from their strides and dispatches it
 * (or `matmul_small.wgsl` for outputs smaller than a tile). Matmul forward/backward and attention call it with
 * different strides, layouts and masks.
 *
 * @module
 */
import { sumPartials } from "./dispatch.ts";
import gemmBindingsSrc from "../kernels/_gemm_bindings.wgsl" with { type: "text" };
import gemmBF32Src from "../kernels/_gemm_b_f32.wgsl" with { type: "text" };
import gemmBF16Src from "../kernels/_gemm_b_f16.wgsl" with { type: "text" };
import matmulSrc from "../kernels/matmul.wgsl" with { type: "text" };
import gemmEpilogueSrc from "../kernels/_gemm_epilogue.wgsl" with { type: "text" };
import gemmStageSrc from "../kernels/_gemm_stage.wgsl" with { type: "text" };
import gemmMathF32Src from "../kernels/_gemm_math_f32.wgsl" with { type: "text" };
import gemmMathF16Src from "../kernels/_gemm_math_f16.wgsl" with { type: "text" };
import halfBitsSrc from "../kernels/_half_bits.wgsl" with { type: "text" };
import matmulSmallSrc from "../kernels/matmul_small.wgsl" with { type: "text" };
import matmulRowsSrc from "../kernels/matmul_rows.wgsl" with { type: "text" };
import { type KernelDescriptor, wgslKernel } from "./kernel.ts";
import type { CausalMask, Gemm, GemmOptions, Operand, SplitKOptions } from "./_gemm_types.ts";
export type { CausalMask, F16Math, Gemm, GemmOptions, Operand, SplitKOptions } from "./_gemm_types.ts";
import type { GpuRuntime } from "./runtime.ts";

/** The tiled kernel's source: matmul.wgsl with its tile loads, output stores, bindings, B's type and arithmetic. */
function tiledSource(bSrc: string, mathSrc: string): string {
  const f16 = mathSrc === gemmMathF16Src;
  const source = matmulSrc + gemmStageSrc + gemmEpilogueSrc + gemmBindingsSrc + bSrc + mathSrc;
  return f16 ? `enable f16;\n${source}${halfBitsSrc}` : source;
}

/** The batched strided SGEMM behind every dense product (128×128 tiles, 16 named vec4f accumulators). */
export const matmulKernel: KernelDescriptor = wgslKernel(tiledSource(gemmBF32Src, gemmMathF32Src));
/** The same product one output per thread, for outputs smaller than one tile. */
export const matmulSmallKernel: KernelDescriptor = wgslKernel(matmulSmallSrc + gemmBindingsSrc + gemmBF32Src);
/** The same product for a few rows with both operands contiguous along K (decoding): a 32-lane team per output. */
export const matmulRowsKernel: KernelDescriptor = wgslKernel(matmulRowsSrc + gemmBindingsSrc + gemmBF32Src);

/** The three kernels again with B read as packed halves (an f16 weight copy), for products whose B is f16. */
const F16_WEIGHTS = { variant: "f16 weights" };
const f16Kernels = {
  tiled: wgslKernel(tiledSource(gemmBF16Src, gemmMathF32Src), F16_WEIGHTS),
  small: wgslKernel(matmulSmallSrc + gemmBindingsSrc + gemmBF16Src, F16_WEIGHTS),
  rows: wgslKernel(matmulRowsSrc + gemmBindingsSrc + gemmBF16Src, F16_WEIGHTS),
};
const f32Kernels = { tiled: matmulKernel, small: matmulSmallKernel, rows: matmulRowsKernel };
/**
 * The tiled kernel with native f16 arithmetic (`kernels/_gemm_math_f16.wgsl`: shader-f16 only), B as float32 or as
 * packed halves: the form `GemmOptions.f16Math` picks for the products it covers.
 */
const f16MathKernels = {
  f32: wgslKernel(tiledSource(gemmBF32Src, gemmMathF16Src), { variant: "f16 math" }),
  f16: wgslKernel(tiledSource(gemmBF16Src, gemmMathF16Src), { variant: "f16 weights, f16 math" }),
};
import { bindRange, type GpuBinding, maxBindingElements } from "./tensor.ts";

/** Rows up to which `matmul_rows` serves products on GPUs (decoding runs one row, a few samples a few). */
export const GEMM_ROWS_MAX = 8;

/** Output tile rows of the matmul kernel (fixed by its 16 named accumulators). */
export const GEMM_TILE = 128;

/** Output tile columns for a product with N columns: 64 where N ≤ 64 (attention's head-size products), else 128. */
export function gemmTileWidth(N: number): 64 | 128 {
  return N <= 64 ? 64 : 128;
}
/** Split-K slices are multiples of this (the largest K-tile of the matmul kernel). */
export const GEMM_K_ALIGN = 16;

/** The kernel's `causal` uniform for each mask (the WGSL compares numbers). */
const CAUSAL_CODE: Readonly<Record<CausalMask, number>> = { none: 0, lowerC: 1, lowerA: 2, upperA: 3 };

/** The per-row vector of a product (rowExp, softmaxGrad's v or aExp: at most one), bound where `bias` would be. */
function rowVectorOf(g: Gemm): (Operand & { so?: number; si?: number }) | undefined {
  return g.rowExp ?? g.softmaxGrad?.v ?? g.aExp;
}

/** Binds the span of an operand: `extent` = the largest index it touches, plus one. */
function bindSpan(rt: GpuRuntime, o: Operand, extent: number): GpuBinding {
  return bindRange(o.t, o.start, extent, rt.limits);
}

/**
 * Dispatches one batched product c = alpha·A·B (+ bias), written. Operand layouts are read off the strides.
 *
 * @param rt The runtime.
 * @param g The product.
 * @param opts Tuning.
 */
export function gemm(rt: GpuRuntime, g: Gemm, opts: GemmOptions): void {
  const { M, N, K } = g;
  if (M === 0 || N === 0) return;
  // Under two waves of workgroups over a long K (the classifier's input gradient, in row chunks of the logits):
  // split K as gemmAccumulate does and write the ordered sum of the slices.
  const epilogue = g.rowExp !== undefined || g.softmaxGrad !== undefined;
  const plain = !g.batch && !g.bias && !epilogue && (g.causal ?? "none") === "none" && g.c.sm === N;
  if (plain && tilesOf(g, opts) < opts.splitK.targetWorkgroups / 2) {
    const slices = splitKSlices(rt, g, opts);
    if (slices > 1) return gemmSlices(rt, g, opts, slices, true);
  }
  const outer = g.batch?.outer ?? 1;
  const inner = g.batch?.inner ?? 1;
  const zs = (so = 0, si = 0) => (outer - 1) * so + (inner - 1) * si;
  const a = bindSpan(rt, g.a, 1 + (M - 1) * g.a.sm + (K - 1) * g.a.sk + zs(g.a.so, g.a.si));
  const b = bindSpan(rt, g.b, 1 + (K - 1) * g.b.sk + (N - 1) * g.b.sn + zs(g.b.so, g.b.si));
  const c = bindSpan(rt, g.c, 1 + (M - 1) * g.c.sm + (N - 1) + zs(g.c.so, g.c.si));
  const vectors = [g.bias, g.rowExp, g.softmaxGrad, g.aExp].filter((x) => x !== undefined).length;
  if (vectors > 1) throw new Error("gemm: a bias, a row-exp vector, a softmax gradient and aExp exclude each other");
  if (g.aExp && g.a.sk !== 1) throw new Error("gemm: aExp needs A's k index at stride 1");
  const v = rowVectorOf(g);
  const rowVector = v && bindSpan(rt, v, M + zs(v.so, v.si));
  const bias = g.bias ? bindSpan(rt, g.bias, N) : rowVector ?? rt.dummy;
  const aux = g.softmaxGrad
    ? bindSpan(rt, g.softmaxGrad.aux, 1 + (M - 1) * g.c.sm + (N - 1) + zs(g.c.so, g.c.si))
    : rt.dummy;
  launch(rt, g, opts, [a, b, c, bias, aux], {
    z_inner: inner,
    a_so: g.a.so ?? 0,
    a_si: g.a.si ?? 0,
    b_so: g.b.so ?? 0,
    b_si: g.b.si ?? 0,
    c_so: g.c.so ?? 0,
    c_si: g.c.si ?? 0,
    k_chunk: K,
    k_zstride: 0,
  }, outer * inner);
}

/** Picks the tiled or the one-thread-per-output kernel and dispatches it. */
function launch(
  rt: GpuRuntime,
  g: Gemm,
  opts: GemmOptions,
  bindings: GpuBinding[],
  batching: Record<string, number>,
  z: number,
): void {
  const { M, N, K } = g;
  // a4 and b4 (vec4 views of A and B for VEC4_A and VEC4_B) after the five bindings: A and B again where they are
  // at least one vec4 (the smallest binding an array<vec4f> takes), else the placeholder, never read then.
  const vec4View = (x: GpuBinding) => (x.size >= 16 ? x : rt.dummy);
  const withViews = [...bindings, vec4View(bindings[0]), vec4View(bindings[1])];
  const params = {
    M,
    N,
    K,
    a_sm: g.a.sm,
    a_sk: g.a.sk,
    b_sk: g.b.sk,
    b_sn: g.b.sn,
    c_sm: g.c.sm,
    ...batching,
    alpha: g.alpha ?? 1,
    has_bias: Number(g.bias !== undefined),
    causal: CAUSAL_CODE[g.causal ?? "none"],
    // Walk M fastest when B is the larger operand, so consecutive workgroups reuse a B tile from cache.
    m_fastest: Number(N > M),
    row_exp: Number(g.rowExp !== undefined),
    softmax_grad: Number(g.softmaxGrad !== undefined),
    vec_so: rowVectorOf(g)?.so ?? 0,
    vec_si: rowVectorOf(g)?.si ?? 0,
  };
  const aExp = Number(g.aExp !== undefined);
  if (g.a.t.arena.dtype === "f16" || g.c.t.arena.dtype === "f16") {
    throw new Error("matmul: only B (the weight operand) may be an f16 tensor");
  }
  const f16B = g.b.t.arena.dtype === "f16";
  const kernels = f16B ? f16Kernels : f32Kernels;
  // A row vector (or a few) times a weight stored (N, K): one coalesced 32-lane team per output.
  const plainRows = !g.rowExp && !g.softmaxGrad && !g.aExp;
  if (M <= opts.rowsMaxRows && g.a.sk === 1 && g.b.sk === 1 && params.causal === 0 && plainRows) {
    rt.dispatch({ kernel: kernels.rows, bindings: withViews, params, groups: [Math.ceil(N / 8), M, z] });
    return;
  }
  // A 128×128 tile would be mostly padding: tiny outputs, or a side of at most 16 (the classifier of a tiny model).
  if (opts.smallMaxOutputs > 0 && (M * N <= opts.smallMaxOutputs || Math.min(M, N) <= 16)) {
    const { WX, WY } = matmulSmallKernel.overrides as { WX: number; WY: number };
    rt.dispatch({
      kernel: kernels.small,
      overrides: { A_EXP: aExp },
      bindings: withViews,
      params,
      groups: [Math.ceil(N / WX), Math.ceil(M / WY), z],
    });
    return;
  }
  const TN = tileWidth(g, opts);
  const [tilesM, tilesN] = [Math.ceil(M / GEMM_TILE), Math.ceil(N / TN)];
  // Whole tiles and whole K steps in every slice: nothing to bounds check. Under a causal mask only for the lower-C
  // products (q·kᵀ, dout·vᵀ: 22.6 TFLOP/s against 18.3 checked on the H200); the four with a masked A ran 5-7% slower
  // unchecked (stop 21), so they keep the checks.
  const f16Math = usesF16Math(g, opts);
  const nContigB = g.b.sn === 1 && g.b.sk !== 1;
  const byNContigB = nContigB && TN === 128 && !f16Math; // the layout that takes its own K tile and staging
  const bk = byNContigB ? opts.bkNContigB : opts.bk;
  const doubleBuffer = byNContigB ? opts.doubleBufferNContigB : opts.doubleBuffer;
  const wholeK = K % bk === 0 && batching.k_chunk % bk === 0;
  const maskedA = params.causal === CAUSAL_CODE.lowerA || params.causal === CAUSAL_CODE.upperA;
  const exact = opts.exact && M % GEMM_TILE === 0 && N % TN === 0 && wholeK && !maskedA;
  const heavyFirst = maskedA && !params.m_fastest && opts.heavyFirst;
  // vec4 loads need every staged vec4's first element 4-aligned: the operand's base, batch offsets and other stride.
  const aligned = (...xs: (number | undefined)[]) => xs.every((x) => (x ?? 0) % 4 === 0);
  const aMContig = g.a.sm === 1 && g.a.sk !== 1;
  // Whole tiles and K steps: every vec4 inside its operand (a causal mask then zeroes lanes of A, never B).
  const whole = M % GEMM_TILE === 0 && N % TN === 0 && wholeK;
  // Not under a mask: attᵀ·dout and dpreattᵀ·q ran 0.495 ms a d12 layer with it, 0.424 without (H200, stop 30).
  const vec4A = opts.vec4Loads && whole && aMContig && withViews[5] !== rt.dummy && !aExp && !maskedA &&
    aligned(bindings[0].base, g.a.sk, g.a.so, g.a.si) &&
    aligned(batching.a_so, batching.a_si);
  const vec4AK = opts.vec4Loads && opts.vec4AlongK && whole && g.a.sk === 1 && g.a.sm !== 1 &&
    withViews[5] !== rt.dummy && !aExp &&
    !maskedA && aligned(bindings[0].base, g.a.sm, g.a.so, g.a.si) && aligned(batching.a_so, batching.a_si);
  const vec4B = opts.vec4Loads && whole && nContigB && !f16B && withViews[6] !== rt.dummy &&
    aligned(bindings[1].base, g.b.sk, g.b.so, g.b.si) &&
    aligned(batching.b_so, batching.b_si);
  rt.dispatch({
    kernel: f16Math ? f16MathKernels[f16B ? "f16" : "f32"] : kernels.tiled,
    overrides: {
      ...(f16Math ? { F16_RUN: opts.f16Run, STAGE_NEAREST: Number(opts.f16StageNearest) } : {}),
      BK: bk,
      TN,
      A_M_CONTIG: Number(g.a.sm === 1 && g.a.sk !== 1),
      B_N_CONTIG: Number(nContigB),
      EXACT: Number(exact),
      PIPELINE_FRAGMENTS: Number(opts.pipelineFragments),
      DOUBLE_BUFFER: Number(doubleBuffer),
      SPREAD_COLUMNS: Number(opts.spreadColumns && !g.softmaxGrad && !vec4B),
      SPREAD_ROWS: Number(opts.spreadRows && aMContig && !vec4A),
      VEC4_A: Number(vec4A),
      VEC4_B: Number(vec4B),
      VEC4_AK: Number(vec4AK),
      A_EXP: aExp,
      HEAVY_FIRST: Number(heavyFirst),
    },
    bindings: withViews,
    params,
    groups: params.m_fastest ? [tilesM, tilesN, z] : heavyFirst ? [tilesN, z, tilesM] : [tilesN, tilesM, z],
  });
}

/**
 * c (M,N, row stride N) += A·B for one unbatched product: the product goes to scratch, in K slices when the output
 * has too few tiles to fill the GPU (split-K), and the slices are then added to c in order (deterministic; the
 * matmul kernel itself only writes).
 *
 * @param rt The runtime.
 * @param g An unbatched, non-causal product with contiguous output rows (c.sm = N).
 * @param opts Tuning.
 * @param split Whether K may be split (false keeps one slice).
 */
export function gemmAccumulate(rt: GpuRuntime, g: Gemm, opts: GemmOptions, split = true): void {
  if (g.rowExp || g.softmaxGrad) throw new Error("gemmAccumulate: an epilogue product is written, not accumulated");
  const { M, N } = g;
  if (M === 0 || N === 0) return;
  if (g.c.sm !== N) throw new Error("gemmAccumulate needs contiguous output rows");
  gemmSlices(rt, g, opts, split ? splitKSlices(rt, g, opts) : 1, false);
}

/** Whether a tiled product computes in native f16 (see `GemmOptions.f16Math`). */
function usesF16Math(g: Gemm, opts: GemmOptions): boolean {
  return opts.f16Math === "all" || (opts.f16Math === "weights" && g.b.t.arena.dtype === "f16");
}

/** The output tile's width for a product: `gemmTileWidth`, or 64 for f16 math with `f16NarrowTiles`. */
function tileWidth(g: Gemm, opts: GemmOptions): 64 | 128 {
  return usesF16Math(g, opts) && opts.f16NarrowTiles ? 64 : gemmTileWidth(g.N);
}

/** Output tiles of a product (per batch). */
function tilesOf(g: Gemm, opts: GemmOptions): number {
  return Math.ceil(g.M / GEMM_TILE) * Math.ceil(g.N / tileWidth(g, opts));
}

/** K slices for a product with few output tiles: enough workgroups for `targetWorkgroups`, slices ≥ minChunk. */
function splitKSlices(rt: GpuRuntime, g: Gemm, opts: GemmOptions): number {
  const { targetWorkgroups, minChunk } = opts.splitK;
  const maxSlices = Math.floor(maxBindingElements(rt.limits) / (g.M * g.N));
  const tiles = tilesOf(g, opts);
  const most = Math.max(1, Math.min(Math.ceil(targetWorkgroups / tiles), Math.floor(g.K / minChunk), maxSlices));
  return wavedSlices(tiles, g.K, most, opts.splitK);
}

/**
 * The slice count, 1 … `most`, for a product of `tiles` output tiles over K: `most` where the GPU's workgroup slots
 * are unknown, else the one with the least modeled time (see `SplitKOptions.waveSlots`; the first of equals).
 *
 * @example
 * ```ts
 * import { wavedSlices } from "./_gemm.ts";
 * // d12's qkv weight gradient at B=16: 108 tiles. Ten slices are 1080 workgroups, 4.09 waves of 264; seven are 2.86.
 * if (wavedSlices(108, 16384, 10, { waveSlots: 264, sliceOverheadK: 256 }) !== 7) throw new Error("not 7");
 * if (wavedSlices(108, 16384, 10, { waveSlots: 0, sliceOverheadK: 256 }) !== 10) throw new Error("not 10");
 * ```
 */
export function wavedSlices(
  tiles: number,
  K: number,
  most: number,
  o: Pick<SplitKOptions, "waveSlots" | "sliceOverheadK">,
): number {
  if (!(o.waveSlots > 0)) return most;
  let best = 1, bestCost = Infinity;
  for (let s = 1; s <= most; s++) {
    const chunk = sliceChunk(K, s);
    const cost = Math.ceil((tiles * Math.ceil(K / chunk)) / o.waveSlots) * (chunk + o.sliceOverheadK);
    if (cost < bestCost) [best, bestCost] = [s, cost];
  }
  return best;
}

/** The K length of each of `slices` slices (the last may be shorter): whole K-tiles of the kernel. */
function sliceChunk(K: number, slices: number): number {
  return Math.ceil(K / slices / GEMM_K_ALIGN) * GEMM_K_ALIGN;
}

/**
 * The product in `slices` K slices into scratch, then the slices summed in order into c: added to it, or written
 * (`write`).
 */
function gemmSlices(rt: GpuRuntime, g: Gemm, opts: GemmOptions, slices: number, write: boolean): void {
  const { M, N, K } = g;
  const chunk = sliceChunk(K, slices);
  slices = Math.max(1, Math.ceil(K / chunk));
  const partial = rt.scratch(slices * M * N);
  const a = bindSpan(rt, g.a, 1 + (M - 1) * g.a.sm + (K - 1) * g.a.sk);
  const b = bindSpan(rt, g.b, 1 + (K - 1) * g.b.sk + (N - 1) * g.b.sn);
  const p = bindRange(partial, 0, slices * M * N, rt.limits);
  launch(rt, { ...g, c: { t: partial, start: 0, sm: N } }, opts, [a, b, p, rt.dummy, rt.dummy], {
    z_inner: 1,
    a_so: 0,
    a_si: 0,
    b_so: 0,
    b_si: 0,
    c_so: M * N,
    c_si: 0,
    k_chunk: chunk,
    k_zstride: chunk,
  }, slices);
  sumPartials(rt, {
    out: g.c.t,
    outStart: g.c.start,
    partial,
    partialStart: 0,
    n: M * N,
    count: slices,
    stride: M * N,
    write,
  });
}
