/**
 * Layer normalization over the channel dimension, eps 1e-5 (GPT-2's): each row is shifted to mean 0, scaled to
 * variance 1 (biased variance, divided by C), then scaled by `weight` and shifted by `bias`. Row statistics are
 * computed in float64.
 *
 * Forms: `cpu` is the scalar reference below (the CPU backend runs it too: there is no WebAssembly form); `gpu`
 * runs one workgroup per row (`kernels/layernorm_forward.wgsl`, `kernels/layernorm_backward.wgsl`) and sums the
 * weight and bias gradients over rows in two deterministic stages (`kernels/layernorm_param_partial.wgsl`, then
 * `sum_partials`).
 *
 * @module
 */
import { bindRows, gridRows, perBinding, ranges, rowsPerChunk, sumPartials } from "../gpu/dispatch.ts";
import { wgslKernel } from "../gpu/kernel.ts";
import type { GpuRuntime } from "../gpu/runtime.ts";
import layernormForwardSrc from "../kernels/layernorm_forward.wgsl" with { type: "text" };
import columnSrc from "../kernels/_column.wgsl" with { type: "text" };
import reduceSrc from "../kernels/_reduce.wgsl" with { type: "text" };
import layernormBackwardSrc from "../kernels/layernorm_backward.wgsl" with { type: "text" };
import layernormParamPartialSrc from "../kernels/layernorm_param_partial.wgsl" with { type: "text" };
import { zeroedScratch } from "./_scratch.ts";
import { type BufferSpec, type CpuBuffers, defineOp, type GpuBuffers } from "./_op.ts";

/** Layernorm forward: out (N,C), mean (N), rstd (N) written from inp (N,C), weight (C), bias (C). */
export const LAYERNORM_FORWARD = {
  out: "f32",
  mean: "f32",
  rstd: "f32",
  inp: "f32",
  weight: "f32",
  bias: "f32",
} as const satisfies BufferSpec;
/** Layernorm backward: dinp (N,C) added to, dweight, dbias (C) accumulated; reads dout, inp, weight, mean, rstd. */
export const LAYERNORM_BACKWARD = {
  dinp: "f32",
  dweight: "f32",
  dbias: "f32",
  dout: "f32",
  inp: "f32",
  weight: "f32",
  mean: "f32",
  rstd: "f32",
} as const satisfies BufferSpec;

/** The epsilon added to the variance, as in GPT-2 and llm.c. */
export const LAYERNORM_EPS = 1e-5;

/**
 * Per row x of inp (N,C): mean = Σx/C, var = Σ(x-mean)²/C, rstd = 1/√(var + 1e-5),
 * out = (x - mean)·rstd·weight + bias. mean and rstd (N) are saved for the backward pass.
 *
 * @param b `out` (N,C), `mean` (N), `rstd` (N) written; `inp` (N,C); `weight`, `bias` (C).
 * @param s Sizes N (rows) and C (channels).
 * @example
 * ```ts
 * import { layernormForward } from "./layernorm.ts";
 * const out = new Float32Array(2), mean = new Float32Array(1), rstd = new Float32Array(1);
 * layernormForward({ out, mean, rstd, inp: new Float32Array([1, 3]), weight: new Float32Array([1, 1]),
 *   bias: new Float32Array([0, 0]) }, { N: 1, C: 2 });
 * if (mean[0] !== 2 || Math.abs(out[1] - 1) > 1e-5) throw new Error("wrong layernorm");
 * ```
 */
export function layernormForward(
  b: CpuBuffers<typeof LAYERNORM_FORWARD>,
  s: { N: number; C: number },
): void {
  const { out, mean, rstd, inp, weight, bias } = b;
  const { N, C } = s;
  for (let n = 0; n < N; n++) {
    const row = n * C;
    let sum = 0;
    for (let c = 0; c < C; c++) sum += inp[row + c];
    const m = sum / C;
    let sumSq = 0;
    for (let c = 0; c < C; c++) {
      const x = inp[row + c] - m;
      sumSq += x * x;
    }
    const r = 1 / Math.sqrt(sumSq / C + LAYERNORM_EPS);
    for (let c = 0; c < C; c++) out[row + c] = (inp[row + c] - m) * r * weight[c] + bias[c];
    mean[n] = m;
    rstd[n] = r;
  }
}

/**
 * Backward of layernormForward. With norm = (x - mean)·rstd and g = weight·dout per channel:
 * dbias += dout, dweight += norm·dout, and dinp += rstd·(g - mean(g) - norm·mean(g·norm)).
 * dinp ACCUMULATES: it is the residual-stream gradient, which already holds the gradient of the skip connection.
 *
 * @param b `dinp` (N,C), `dweight`, `dbias` (C) accumulated; `dout`, `inp` (N,C); `weight` (C); `mean`, `rstd` (N).
 * @param s Sizes N and C.
 * @example
 * ```ts
 * import { layernormBackward } from "./layernorm.ts";
 * const dinp = new Float32Array(2), dweight = new Float32Array(2), dbias = new Float32Array(2);
 * layernormBackward({ dinp, dweight, dbias, dout: new Float32Array([1, 1]), inp: new Float32Array([1, 3]),
 *   weight: new Float32Array([1, 1]), mean: new Float32Array([2]), rstd: new Float32Array([1]) }, { N: 1, C: 2 });
 * if (dbias[0] !== 1 || dinp[0] !== 0) throw new Error("a constant shift has no gradient");
 * ```
 */
export function layernormBackward(
  b: CpuBuffers<typeof LAYERNORM_BACKWARD>,
  s: { N: number; C: number },
): void {
  const { dinp, dweight, dbias, dout, inp, weight, mean, rstd } = b;
  const { N, C } = s;
  // dweight and dbias are summed over rows in float64, then added once.
  const dweightSum = zeroedScratch(0, C);
  const dbiasSum = zeroedScratch(1, C);
  for (let n = 0; n < N; n++) {
    const row = n * C;
    const m = mean[n];
    const r = rstd[n];
    // The two row reductions of the input gradient: mean(g) and mean(g·norm).
    let gSum = 0;
    let gNormSum = 0;
    for (let c = 0; c < C; c++) {
      const norm = (inp[row + c] - m) * r;
      const g = weight[c] * dout[row + c];
      gSum += g;
      gNormSum += g * norm;
    }
    const gMean = gSum / C;
    const gNormMean = gNormSum / C;
    for (let c = 0; c < C; c++) {
      const norm = (inp[row + c] - m) * r;
      const d = dout[row + c];
      dbiasSum[c] += d;
      dweightSum[c] += norm * d;
      dinp[row + c] += (weight[c] * d - gMean - norm * gNormMean) * r;
    }
  }
  for (let c = 0; c < C; c++) {
    dweight[c] += dweightSum[c];
    dbias[c] += dbiasSum[c];
  }
}

/** Row-wise layernorm forward. */
const layernormForwardKernel = wgslKernel(layernormForwardSrc + reduceSrc);

/** GPU form of `layernormForward`. Per row: out = (x - mean)·rstd·weight + bias; mean, rstd saved. */
function layernormForwardGpu(
  rt: GpuRuntime,
  b: GpuBuffers<typeof LAYERNORM_FORWARD>,
  s: { N: number; C: number },
): void {
  const { N, C } = s;
  for (const range of ranges(N, perBinding(rt, C, b.inp))) {
    const rows = [[b.out, C], [b.mean, 1], [b.rstd, 1], [b.inp, C], [b.weight], [b.bias]] as const;
    rt.dispatch({
      kernel: layernormForwardKernel,
      bindings: bindRows(rt, range, rows),
      params: { N: range[1], C },
      groups: gridRows(rt, range[1]),
    });
  }
}

/** Row-wise layernorm input gradient (dinp +=). */
const layernormBackwardKernel = wgslKernel(layernormBackwardSrc + reduceSrc);

/** Per-chunk column sums of dout·norm and dout (layernorm's dweight and dbias, first stage). */
const layernormParamPartialKernel = wgslKernel(layernormParamPartialSrc + columnSrc);

/** GPU form of `layernormBackward`. dinp += input gradient; dweight += Σ dout·norm; dbias += Σ dout. */
function layernormBackwardGpu(
  rt: GpuRuntime,
  b: GpuBuffers<typeof LAYERNORM_BACKWARD>,
  s: { N: number; C: number },
): void {
  const { N, C } = s;
  for (const range of ranges(N, perBinding(rt, C, b.inp))) {
    const nc = range[1];
    rt.dispatch({
      kernel: layernormBackwardKernel,
      bindings: bindRows(rt, range, [[b.dinp, C], [b.dout, C], [b.inp, C], [b.weight], [b.mean, 1], [b.rstd, 1]]),
      params: { N: nc, C },
      groups: gridRows(rt, nc),
    });
    const R = rowsPerChunk(nc);
    const chunks = Math.ceil(nc / R);
    const partial = rt.scratch(chunks * 2 * C);
    rt.dispatch({
      kernel: layernormParamPartialKernel,
      bindings: bindRows(rt, range, [[partial], [b.dout, C], [b.inp, C], [b.mean, 1], [b.rstd, 1]]),
      params: { N: nc, C, rows_per_chunk: R },
      groups: [Math.ceil(C / 64), chunks],
    });
    const stages = { partial, n: C, count: chunks, stride: 2 * C };
    sumPartials(rt, { out: b.dweight, outStart: 0, partialStart: 0, ...stages });
    sumPartials(rt, { out: b.dbias, outStart: 0, partialStart: C, ...stages });
  }
}

/** Layernorm as op records: forward (out, mean, rstd) and backward (dinp += …, dweight += …, dbias += …). */
export const layernorm = {
  forward: defineOp({
    name: "layernormForward",
    buffers: LAYERNORM_FORWARD,
    cpu: layernormForward,
    gpu: (g, b, s) => layernormForwardGpu(g.rt, b, s),
    work: (s) => ({ bytes: 4 * 3 * s.N * s.C }),
  }),
  backward: defineOp({
    name: "layernormBackward",
    buffers: LAYERNORM_BACKWARD,
    cpu: layernormBackward,
    gpu: (g, b, s) => layernormBackwardGpu(g.rt, b, s),
    work: (s) => ({ bytes: 4 * 7 * s.N * s.C }),
  }),
};
