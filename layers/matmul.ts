/**
 * The fully connected layer: out = inp · weightᵀ + bias, with `weight` stored (OC, C) as in PyTorch's nn.Linear and
 * llm.c. Dot products and the sums over rows in the backward pass run in float64.
 *
 * This scalar version is the reference; the CPU backend may route matmuls to its WebAssembly kernels instead.
 *
 * @module
 */
import { zeroedScratch } from "./_scratch.ts";
import * as dense from "../gpu/_ops_dense.ts";
import { defineOp } from "./_op.ts";

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
  b: { out: Float32Array; inp: Float32Array; weight: Float32Array; bias?: Float32Array },
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
  b: {
    dinp: Float32Array;
    dweight: Float32Array;
    dbias?: Float32Array;
    dout: Float32Array;
    inp: Float32Array;
    weight: Float32Array;
  },
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

/** Matmul as op records: forward and backward (dinp written, dweight and dbias accumulated). */
export const matmul = {
  forward: defineOp({
    name: "matmulForward",
    buffers: { out: "f32", inp: "f32", weight: "f32", bias: "f32?" },
    cpu: matmulForward,
    wasm: (k, b, s) => k.matmulForward(b, s),
    gpu: (g, b, s) => dense.matmulForward(g.rt, b, s, g.gemm),
    work: (s) => ({ flops: 2 * s.N * s.C * s.OC }),
    label: (s) => `matmulForward ${s.N}x${s.C}x${s.OC}`,
  }),
  backward: defineOp({
    name: "matmulBackward",
    buffers: { dinp: "f32", dweight: "f32", dbias: "f32?", dout: "f32", inp: "f32", weight: "f32" },
    cpu: matmulBackward,
    wasm: (k, b, s) => k.matmulBackward(b, s),
    gpu: (g, b, s) => dense.matmulBackward(g.rt, b, s, g.gemm),
    work: (s) => ({ flops: 4 * s.N * s.C * s.OC }),
    label: (s) => `matmulBackward ${s.N}x${s.C}x${s.OC}`,
  }),
};
