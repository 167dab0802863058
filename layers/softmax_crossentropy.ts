/**
 * The output head's softmax fused with the cross-entropy loss, as llm.c's fused classifier: no probability tensor.
 * Logits have Vp columns (the vocabulary padded to a multiple of 128); only the first V are real tokens, and the
 * padded columns get gradient 0. Forward leaves one loss and one log-sum-exp per row; backward turns the logits
 * into their gradient IN PLACE, (softmax - onehot)·dloss with softmax = exp(logits - lse), so the head's matmul
 * backward reads the logits buffer as its output gradient and no (N,Vp) gradient tensor exists.
 *
 * Forms: `cpu` is the scalar reference below (float64 row maxima, sums and exponentials); `wasm` is the CPU
 * backend's float32 SIMD form (`CpuKernels.softmaxCrossEntropyForward` / `…Backward`), rows spread over its
 * Workers; `gpu` runs both one workgroup per row, the forward with an online (max, Σ exp)
 * (`kernels/softmax_crossentropy_forward.wgsl`, `kernels/softmax_crossentropy_backward.wgsl`), in row ranges that
 * stay inside one GPU buffer when the logits of a large batch are split over several (`rowRanges`).
 *
 * @module
 */
import { bindRows, gridRows, type RowBinding, rowRanges } from "../gpu/dispatch.ts";
import { wgslKernel } from "../gpu/kernel.ts";
import type { GpuRuntime } from "../gpu/runtime.ts";
import softmaxCrossEntropyForwardSrc from "../kernels/softmax_crossentropy_forward.wgsl" with { type: "text" };
import reduceSrc from "../kernels/_reduce.wgsl" with { type: "text" };
import softmaxCrossEntropyBackwardSrc from "../kernels/softmax_crossentropy_backward.wgsl" with { type: "text" };
import { type BufferSpec, type CpuBuffers, defineOp, type GpuBuffers } from "./_op.ts";

/** Classifier forward: losses (N) and log-sum-exp lse (N) written from logits (N,Vp) and targets (N). */
export const SOFTMAX_CROSSENTROPY_FORWARD = {
  losses: "f32",
  lse: "f32",
  logits: "f32",
  targets: "i32",
} as const satisfies BufferSpec;
/** The buffers of softmax crossentropy backward: `dlogits` holds the logits on entry (the gradient is in place). */
export const SOFTMAX_CROSSENTROPY_BACKWARD = {
  dlogits: "f32",
  lse: "f32",
  targets: "i32",
} as const satisfies BufferSpec;

/**
 * Per row n of logits (N,Vp), over the first V columns: lse[n] = log Σ_{v<V} exp(logits[n,v] - max) + max and
 * losses[n] = -log softmax[n, targets[n]] = lse[n] - logits[n, targets[n]], exact when the probability underflows.
 * The padded columns V ≤ v < Vp are not read.
 *
 * @param b `losses` (N) and `lse` (N) written; `logits` (N,Vp); `targets` (N) token ids < V.
 * @param s Sizes N, V, Vp.
 * @example
 * ```ts
 * import { softmaxCrossEntropyForward } from "./softmax_crossentropy.ts";
 * const losses = new Float32Array(1), lse = new Float32Array(1);
 * softmaxCrossEntropyForward({ losses, lse, logits: new Float32Array([1, 1, 99]), targets: new Int32Array([0]) },
 *   { N: 1, V: 2, Vp: 3 });
 * if (Math.abs(losses[0] - Math.LN2) > 1e-7 || Math.abs(lse[0] - 1 - Math.LN2) > 1e-7) throw new Error("wrong loss");
 * ```
 */
export function softmaxCrossEntropyForward(
  b: CpuBuffers<typeof SOFTMAX_CROSSENTROPY_FORWARD>,
  s: { N: number; V: number; Vp: number },
): void {
  const { losses, lse, logits, targets } = b;
  const { N, V, Vp } = s;
  for (let n = 0; n < N; n++) {
    const row = n * Vp;
    let max = -Infinity;
    for (let v = 0; v < V; v++) if (logits[row + v] > max) max = logits[row + v];
    let expSum = 0;
    for (let v = 0; v < V; v++) expSum += Math.exp(logits[row + v] - max);
    lse[n] = Math.log(expSum) + max;
    losses[n] = Math.log(expSum) + max - logits[row + targets[n]];
  }
}

/**
 * The fused backward, in place: on entry `dlogits` holds the logits of the forward pass; on return
 * dlogits[n,v] = (exp(logits[n,v] - lse[n]) - [v = targets[n]])·dloss for v < V and 0 for the padded columns.
 * With dloss = 1/N this is the gradient of the mean loss.
 *
 * @param b `dlogits` (N,Vp) the logits, overwritten by their gradient; `lse` (N) from the forward; `targets` (N).
 * @param s Sizes N, V, Vp and the loss gradient `dloss` shared by every row.
 * @example
 * ```ts
 * import { softmaxCrossEntropyBackward } from "./softmax_crossentropy.ts";
 * const dlogits = new Float32Array([1, 1, 99]); // the logits
 * softmaxCrossEntropyBackward({ dlogits, lse: new Float32Array([1 + Math.LN2]), targets: new Int32Array([0]) },
 *   { N: 1, V: 2, Vp: 3, dloss: 1 });
 * if (Math.abs(dlogits[0] + 0.5) > 1e-7 || Math.abs(dlogits[1] - 0.5) > 1e-7 || dlogits[2] !== 0) {
 *   throw new Error("wrong gradient");
 * }
 * ```
 */
export function softmaxCrossEntropyBackward(
  b: CpuBuffers<typeof SOFTMAX_CROSSENTROPY_BACKWARD>,
  s: { N: number; V: number; Vp: number; dloss: number },
): void {
  const { dlogits, lse, targets } = b;
  const { N, V, Vp, dloss } = s;
  for (let n = 0; n < N; n++) {
    const row = n * Vp;
    const target = targets[n];
    const l = lse[n];
    for (let v = 0; v < V; v++) dlogits[row + v] = (Math.exp(dlogits[row + v] - l) - (v === target ? 1 : 0)) * dloss;
    dlogits.fill(0, row + V, row + Vp);
  }
}

/** Per-row loss and log-sum-exp over the first V of Vp columns. */
const softmaxCrossEntropyForwardKernel = wgslKernel(softmaxCrossEntropyForwardSrc + reduceSrc);

/** GPU form of `softmaxCrossEntropyForward`: one workgroup per row, in row ranges within one buffer and binding. */
function softmaxCrossEntropyForwardGpu(
  rt: GpuRuntime,
  b: GpuBuffers<typeof SOFTMAX_CROSSENTROPY_FORWARD>,
  s: { N: number; V: number; Vp: number },
): void {
  const { N, V, Vp } = s;
  const rows: RowBinding[] = [[b.losses, 1], [b.lse, 1], [b.logits, Vp], [b.targets, 1]];
  for (const range of rowRanges(rt, N, rows)) {
    rt.dispatch({
      kernel: softmaxCrossEntropyForwardKernel,
      bindings: bindRows(rt, range, rows),
      params: { N: range[1], V, Vp },
      groups: gridRows(rt, range[1]),
    });
  }
}

/** dlogits = (exp(logits - lse) - onehot)·dloss, in place over the logits. */
const softmaxCrossEntropyBackwardKernel = wgslKernel(softmaxCrossEntropyBackwardSrc + reduceSrc);

/** GPU form of `softmaxCrossEntropyBackward`: in place over the logits, one workgroup per row. */
function softmaxCrossEntropyBackwardGpu(
  rt: GpuRuntime,
  b: GpuBuffers<typeof SOFTMAX_CROSSENTROPY_BACKWARD>,
  s: { N: number; V: number; Vp: number; dloss: number },
): void {
  const { N, V, Vp, dloss } = s;
  const rows: RowBinding[] = [[b.dlogits, Vp], [b.lse, 1], [b.targets, 1]];
  for (const range of rowRanges(rt, N, rows)) {
    rt.dispatch({
      kernel: softmaxCrossEntropyBackwardKernel,
      bindings: bindRows(rt, range, rows),
      params: { N: range[1], V, Vp, dloss },
      groups: gridRows(rt, range[1]),
    });
  }
}

/** The fused softmax + cross-entropy as op records. */
export const softmaxCrossEntropy = {
  forward: defineOp({
    name: "softmaxCrossEntropyForward",
    buffers: SOFTMAX_CROSSENTROPY_FORWARD,
    cpu: softmaxCrossEntropyForward,
    wasm: (k, b, s) => k.softmaxCrossEntropyForward(b, s),
    gpu: (g, b, s) => softmaxCrossEntropyForwardGpu(g.rt, b, s),
    work: (s) => ({ bytes: 4 * s.N * s.V }),
  }),
  backward: defineOp({
    name: "softmaxCrossEntropyBackward",
    buffers: SOFTMAX_CROSSENTROPY_BACKWARD,
    cpu: softmaxCrossEntropyBackward,
    wasm: (k, b, s) => k.softmaxCrossEntropyBackward(b, s),
    gpu: (g, b, s) => softmaxCrossEntropyBackwardGpu(g.rt, b, s),
    work: (s) => ({ bytes: 4 * (s.N * s.V + s.N * s.Vp) }),
  }),
};
