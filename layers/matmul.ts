/**
 * The fully connected layer: out = inp · weightᵀ + bias, with `weight` stored (OC, C) as in PyTorch's nn.Linear and
 * llm.c. Dot products and the sums over rows in the backward pass run in float64.
 *
 * The forms of `matmul.forward` and `matmul.backward`:
 * - `cpu`: the scalar functions `matmulForward` and `matmulBackward` below, the reference;
 * - `wasm`: the CPU backend's cache-blocked WebAssembly SIMD GEMM, spread over Workers (`cpu/kernels.ts`);
 * - `gpu`: the tiled SGEMM of `kernels/matmul.wgsl` through `gpu/_gemm.ts`, with dbias a two-stage column sum
 *   (`kernels/colsum_partial.wgsl`, then `sum_partials`). Operands larger than one storage binding (GPT-2's wte on
 *   a 128 MiB-binding adapter; the logits of a large batch) are cut into row or column ranges, each its own dispatch;
 *   row ranges also stay inside one GPU buffer of a tensor split over several (`rowRanges`: the (B,T,Vp) logits
 *   beyond `maxBufferSize`, which the output head writes forward and reads as dout backward).
 *
 * @module
 */
import colsumPartialSrc from "../kernels/colsum_partial.wgsl" with { type: "text" };
import columnSrc from "../kernels/_column.wgsl" with { type: "text" };
import { gemm, GEMM_TILE, gemmAccumulate, type GemmOptions } from "../gpu/_gemm.ts";
import { perBinding, ranges, rowRanges, rowsPerChunk, sumPartials } from "../gpu/dispatch.ts";
import { wgslKernel } from "../gpu/kernel.ts";
import type { GpuRuntime } from "../gpu/runtime.ts";
import { bindRange, type GpuTensor } from "../gpu/tensor.ts";
import { zeroedScratch } from "./_scratch.ts";
import { type BufferSpec, type CpuBuffers, defineOp, type GpuBuffers } from "./_op.ts";

/** Matmul forward: out (N,OC) written from inp (N,C), weight (OC,C) and the optional bias (OC). */
export const MATMUL_FORWARD = { out: "f32", inp: "f32", weight: "f32", bias: "f32?" } as const satisfies BufferSpec;
/** Matmul backward: dinp (N,C) written; dweight (OC,C), dbias (OC) accumulated; reads dout, inp, weight. */
export const MATMUL_BACKWARD = {
  dinp: "f32",
  dweight: "f32",
  dbias: "f32?",
  dout: "f32",
  inp: "f32",
  weight: "f32",
} as const satisfies BufferSpec;

type F = GpuTensor;

/** Per-chunk column sums of a strided matrix (the GPU dbias, first stage). */
const colsumPartialKernel = wgslKernel(colsumPartialSrc + columnSrc);

/**
 * out[n,o] = bias[o] + Σ_c inp[n,c]·weight[o,c] for inp (N,C), weight (OC,C), bias (OC) or none.
 *
 * @param b `out` (N,OC) written; `inp` (N,C); `weight` (OC,C); optional `bias` (OC).
 * @param s Sizes N (rows), C (input channels), OC (output channels).
 * @example
 * ```ts
 * import { matmulForward } from "./matmul.ts";
 * const out = new Float32Array(1);
 * matmulForward({ out, inp: new Float32Array([1, 2]), weight: new Float32Array([3, 4]), bias: new Float32Array([5]) },
 *   { N: 1, C: 2, OC: 1 });
 * if (out[0] !== 16) throw new Error("1*3 + 2*4 + 5 = 16");
 * ```
 */
export function matmulForward(
  b: CpuBuffers<typeof MATMUL_FORWARD>,
  s: { N: number; C: number; OC: number },
): void {
  const { out, inp, weight, bias } = b;
  const { N, C, OC } = s;
  for (let n = 0; n < N; n++) {
    const inpRow = n * C;
    for (let o = 0; o < OC; o++) {
      const weightRow = o * C;
      let sum = bias ? bias[o] : 0;
      for (let c = 0; c < C; c++) sum += inp[inpRow + c] * weight[weightRow + c];
      out[n * OC + o] = sum;
    }
  }
}

/**
 * Backward of matmulForward: dinp = dout · weight (written), dweight += doutᵀ · inp, dbias += Σ_n dout[n]
 * (parameter gradients accumulate).
 *
 * @param b `dinp` (N,C) written; `dweight` (OC,C) and optional `dbias` (OC) accumulated; `dout` (N,OC); `inp` (N,C);
 *   `weight` (OC,C).
 * @param s Sizes N, C, OC.
 * @example
 * ```ts
 * import { matmulBackward } from "./matmul.ts";
 * const dinp = new Float32Array(2), dweight = new Float32Array(2), dbias = new Float32Array(1);
 * matmulBackward({ dinp, dweight, dbias, dout: new Float32Array([2]), inp: new Float32Array([1, 2]),
 *   weight: new Float32Array([3, 4]) }, { N: 1, C: 2, OC: 1 });
 * if (dinp[1] !== 8 || dweight[1] !== 4 || dbias[0] !== 2) throw new Error("wrong gradients");
 * ```
 */
export function matmulBackward(
  b: CpuBuffers<typeof MATMUL_BACKWARD>,
  s: { N: number; C: number; OC: number },
): void {
  const { dinp, dweight, dbias, dout, inp, weight } = b;
  const { N, C, OC } = s;
  // dinp row n = Σ_o dout[n,o] · weight row o, accumulated in a float64 row.
  for (let n = 0; n < N; n++) {
    const acc = zeroedScratch(0, C);
    for (let o = 0; o < OC; o++) {
      const d = dout[n * OC + o];
      const weightRow = o * C;
      for (let c = 0; c < C; c++) acc[c] += d * weight[weightRow + c];
    }
    dinp.set(acc, n * C);
  }
  // dweight row o += Σ_n dout[n,o] · inp row n; dbias[o] += Σ_n dout[n,o].
  for (let o = 0; o < OC; o++) {
    const acc = zeroedScratch(0, C);
    let biasSum = 0;
    for (let n = 0; n < N; n++) {
      const d = dout[n * OC + o];
      const inpRow = n * C;
      biasSum += d;
      for (let c = 0; c < C; c++) acc[c] += d * inp[inpRow + c];
    }
    const weightRow = o * C;
    for (let c = 0; c < C; c++) dweight[weightRow + c] += acc[c];
    if (dbias) dbias[o] += biasSum;
  }
}

/** GPU forward: out (N,OC) = inp (N,C) · weight (OC,C)ᵀ + bias. */
function matmulForwardGpu(
  rt: GpuRuntime,
  b: GpuBuffers<typeof MATMUL_FORWARD>,
  s: { N: number; C: number; OC: number },
  opts: GemmOptions,
): void {
  const { N, C, OC } = s;
  const oStep = Math.min(OC, perBinding(rt, C, b.weight));
  for (const [n0, nc] of rowRanges(rt, N, [[b.out, OC], [b.inp, C]], GEMM_TILE)) {
    for (const [o0, oc] of ranges(OC, oStep)) {
      gemm(rt, {
        M: nc,
        N: oc,
        K: C,
        a: { t: b.inp, start: n0 * C, sm: C, sk: 1 },
        b: { t: b.weight, start: o0 * C, sk: 1, sn: C },
        c: { t: b.out, start: n0 * OC + o0, sm: OC },
        bias: b.bias ? { t: b.bias, start: o0 } : undefined,
      }, opts);
    }
  }
}

/** GPU backward: dinp = dout · weight; dweight += doutᵀ · inp; dbias += Σ_rows dout. */
function matmulBackwardGpu(
  rt: GpuRuntime,
  b: GpuBuffers<typeof MATMUL_BACKWARD>,
  s: { N: number; C: number; OC: number },
  opts: GemmOptions,
): void {
  const { N, C, OC } = s;
  // Row ranges of dout, inp and dinp that each lie in one buffer and one binding, shared by the three products.
  const rows = rowRanges(rt, N, [[b.dout, OC], [b.dinp, C], [b.inp, C]], GEMM_TILE);
  const oStep = Math.min(OC, perBinding(rt, C, b.weight));
  for (const [n0, nc] of rows) {
    // dinp rows n0… = Σ over OC ranges of dout[n0…, o0…] · weight[o0…]; the first range writes, later ones add.
    for (const [o0, oc] of ranges(OC, oStep)) {
      const product = {
        M: nc,
        N: C,
        K: oc,
        a: { t: b.dout, start: n0 * OC + o0, sm: OC, sk: 1 },
        b: { t: b.weight, start: o0 * C, sk: C, sn: 1 },
        c: { t: b.dinp, start: n0 * C, sm: C },
      };
      rt.group("dinp", { flops: 2 * nc * C * oc }, () => {
        if (o0 === 0) gemm(rt, product, opts);
        else gemmAccumulate(rt, product, opts, false);
      });
    }
  }
  for (const [o0, oc] of ranges(OC, oStep)) {
    for (const [n0, nc] of rows) {
      const product = {
        M: oc,
        N: C,
        K: nc,
        a: { t: b.dout, start: n0 * OC + o0, sm: 1, sk: OC },
        b: { t: b.inp, start: n0 * C, sk: C, sn: 1 },
        c: { t: b.dweight, start: o0 * C, sm: C },
      };
      rt.group("dweight", { flops: 2 * nc * C * oc }, () => gemmAccumulate(rt, product, opts));
    }
  }
  if (b.dbias) {
    const dbias = b.dbias;
    rt.group("dbias", { bytes: 4 * N * OC }, () => {
      for (const [n0, nc] of rows) {
        columnSum(rt, { out: dbias, x: b.dout, start: n0 * OC, rows: nc, W: OC });
      }
    });
  }
}

/** out (W) += Σ over `rows` rows of x (row stride W, from element `start`), in two deterministic stages. */
function columnSum(rt: GpuRuntime, o: { out: F; x: F; start: number; rows: number; W: number }): void {
  const R = rowsPerChunk(o.rows);
  const chunks = Math.ceil(o.rows / R);
  const partial = rt.scratch(chunks * o.W);
  rt.dispatch({
    kernel: colsumPartialKernel,
    bindings: [bindRange(partial, 0, chunks * o.W, rt.limits), bindRange(o.x, o.start, o.rows * o.W, rt.limits)],
    params: { rows: o.rows, W: o.W, sx: o.W, rows_per_chunk: R },
    groups: [Math.ceil(o.W / 64), chunks],
  });
  sumPartials(rt, { out: o.out, outStart: 0, partial, partialStart: 0, n: o.W, count: chunks, stride: o.W });
}

/** Matmul as op records: forward and backward (dinp written, dweight and dbias accumulated). */
export const matmul = {
  forward: defineOp({
    name: "matmulForward",
    buffers: MATMUL_FORWARD,
    cpu: matmulForward,
    wasm: (k, b, s) => k.matmulForward(b, s),
    gpu: (g, b, s) => matmulForwardGpu(g.rt, b, s, g.gemm),
    work: (s) => ({ flops: 2 * s.N * s.C * s.OC }),
    label: (s) => `matmulForward ${s.N}x${s.C}x${s.OC}`,
  }),
  backward: defineOp({
    name: "matmulBackward",
    buffers: MATMUL_BACKWARD,
    cpu: matmulBackward,
    wasm: (k, b, s) => k.matmulBackward(b, s),
    gpu: (g, b, s) => matmulBackwardGpu(g.rt, b, s, g.gemm),
    work: (s) => ({ flops: 4 * s.N * s.C * s.OC }),
    label: (s) => `matmulBackward ${s.N}x${s.C}x${s.OC}`,
  }),
};
