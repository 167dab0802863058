/**
 * The batched-GEMM plumbing of the materialized attention's GPU forms (layers/attention.ts): the batch groups that
 * fit one binding, the two per-head products on the shared SGEMM, and the dispatch of the row softmax kernels.
 *
 * @module
 */
import { type Gemm, gemm, type GemmOptions } from "../gpu/_gemm.ts";
import { gridRows, perBinding, ranges } from "../gpu/dispatch.ts";
import type { KernelDescriptor } from "../gpu/kernel.ts";
import type { GpuRuntime } from "../gpu/runtime.ts";
import type { GpuBinding, GpuTensor } from "../gpu/tensor.ts";

/** Head size hs, the qkv row width 3C and the T·T scores of one head. */
export function headSizes(s: { T: number; C: number; NH: number }): { hs: number; C3: number; TT: number } {
  return { hs: s.C / s.NH, C3: 3 * s.C, TT: s.T * s.T };
}

/**
 * The batch groups of an attention launch: as many batches per group as let the (b, NH, T, T) and (b, T, 3C) ranges
 * fit one binding, with each group's batched-GEMM shape, element offsets of its qkv rows and scores, the work of one
 * causal T×T×hs product (half of 2·T·T·hs per head) and its number of score rows.
 */
export function* batchGroups(rt: GpuRuntime, s: { B: number; T: number; C: number; NH: number }, scores: GpuTensor) {
  const { B, T, C, NH } = s;
  const { hs, C3, TT } = headSizes(s);
  for (const [b0, bc] of ranges(B, perBinding(rt, Math.max(NH * TT, 3 * T * C), scores))) {
    yield {
      b0,
      batch: { outer: bc, inner: NH },
      qkv: b0 * T * C3,
      sq: b0 * NH * TT,
      product: { flops: bc * NH * TT * hs },
      rows: bc * NH * T,
    };
  }
}

/**
 * The two per-head products of a batch group: `scoresOf`, (T×hs)·(hs×T) → T×T (q·kᵀ, dout·vᵀ), and `mixOf`,
 * (T×T)·(T×hs) → T×hs (att·v and the gradients through it); the caller gives operands, scale and mask.
 */
export function headProducts(rt: GpuRuntime, opts: GemmOptions, batch: Gemm["batch"], T: number, hs: number) {
  type Operands = Pick<Gemm, "a" | "b" | "c" | "alpha" | "causal" | "rowExp" | "softmaxGrad" | "aExp">;
  const of = (M: number, N: number, K: number) => (o: Operands) => gemm(rt, { M, N, K, batch, ...o }, opts);
  return { scoresOf: of(T, T, hs), mixOf: of(T, hs, T) };
}

/**
 * Dispatches a softmax kernel over `rows` rows with `lanes` threads a row (`RW`; WG / RW rows a workgroup,
 * kernels/_reduce_lanes.wgsl).
 */
export function dispatchSoftmax(
  rt: GpuRuntime,
  kernel: KernelDescriptor,
  lanes: number,
  d: { bindings: GpuBinding[]; params: Record<string, number> },
): void {
  const { WG } = kernel.overrides as { WG: number };
  if (!(lanes >= 1 && lanes <= WG && Number.isInteger(Math.log2(lanes)))) {
    throw new Error(`attention softmax: ${lanes} lanes a row is not a power of two from 1 to ${WG}`);
  }
  const groups = gridRows(rt, Math.ceil(d.params.rows / (WG / lanes)));
  rt.dispatch({ kernel, overrides: { RW: lanes }, ...d, groups });
}
