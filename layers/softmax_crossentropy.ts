/**
 * The output head's softmax fused with the cross-entropy loss. Logits have Vp columns (the vocabulary padded to a
 * multiple of 128); only the first V are real tokens: the padded columns get probability 0 and gradient 0.
 * Row maxima and sums run in float64.
 *
 * Forms: `cpu` is the scalar reference below; `wasm` (forward only) is the CPU backend's float32 SIMD kernel,
 * `CpuKernels.softmaxCrossEntropyForward`, rows spread over its Workers; `gpu` runs the forward one workgroup per row
 * with an online (max, Σ exp) (`kernels/softmax_crossentropy_forward.wgsl`) and the backward as a grid-stride loop
 * over every logit (`kernels/softmax_crossentropy_backward.wgsl`).
 *
 * @module
 */
import { bindRows, grid1d, gridRows, perBinding, ranges } from "../gpu/dispatch.ts";
import { wgslKernel } from "../gpu/kernel.ts";
import type { GpuRuntime } from "../gpu/runtime.ts";
import softmaxCrossEntropyForwardSrc from "../kernels/softmax_crossentropy_forward.wgsl" with { type: "text" };
import reduceSrc from "../kernels/_reduce.wgsl" with { type: "text" };
import softmaxCrossEntropyBackwardSrc from "../kernels/softmax_crossentropy_backward.wgsl" with { type: "text" };
import { zeroedScratch } from "./_scratch.ts";
import { type BufferSpec, type CpuBuffers, defineOp, type GpuBuffers } from "./_op.ts";

/** The buffers of softmax crossentropy forward, named once: they type its every form and its op record. */
export const SOFTMAX_CROSSENTROPY_FORWARD = {
  losses: "f32",
  probs: "f32",
  logits: "f32",
  targets: "i32",
} as const satisfies BufferSpec;
/** The buffers of softmax crossentropy backward, named once: they type its every form and its op record. */
export const SOFTMAX_CROSSENTROPY_BACKWARD = {
  dlogits: "f32",
  probs: "f32",
  targets: "i32",
} as const satisfies BufferSpec;

/** Fused softmax + cross-entropy over the first V of Vp columns. */
const softmaxCrossEntropyForwardKernel = wgslKernel(softmaxCrossEntropyForwardSrc + reduceSrc);
/** dlogits = (probs - onehot)·dloss. */
const softmaxCrossEntropyBackwardKernel = wgslKernel(softmaxCrossEntropyBackwardSrc);

/**
 * Per row n of logits (N,Vp): probs[n,v] = exp(logits[n,v] - max) / Σ_{v'<V} exp(logits[n,v'] - max) for v < V and
 * 0 for V ≤ v < Vp; losses[n] = -log probs[n, targets[n]], computed as log Σ exp + max - logits[target] so it stays
 * exact when the probability underflows.
 *
 * @param b `losses` (N) and `probs` (N,Vp) written; `logits` (N,Vp); `targets` (N) token ids < V.
 * @param s Sizes N, V, Vp.
 * @example
 * ```ts
 * import { softmaxCrossEntropyForward } from "./softmax_crossentropy.ts";
 * const losses = new Float32Array(1), probs = new Float32Array(3);
 * softmaxCrossEntropyForward({ losses, probs, logits: new Float32Array([1, 1, 99]), targets: new Int32Array([0]) },
 *   { N: 1, V: 2, Vp: 3 });
 * if (probs[0] !== 0.5 || probs[2] !== 0 || Math.abs(losses[0] - Math.LN2) > 1e-7) throw new Error("wrong softmax");
 * ```
 */
export function softmaxCrossEntropyForward(
  b: CpuBuffers<typeof SOFTMAX_CROSSENTROPY_FORWARD>,
  s: { N: number; V: number; Vp: number },
): void {
  const { losses, probs, logits, targets } = b;
  const { N, V, Vp } = s;
  const exps = zeroedScratch(0, V); // one row of exp(logit - max), float64
  for (let n = 0; n < N; n++) {
    const row = n * Vp;
    let max = -Infinity;
    for (let v = 0; v < V; v++) if (logits[row + v] > max) max = logits[row + v];
    let expSum = 0;
    for (let v = 0; v < V; v++) {
      const e = Math.exp(logits[row + v] - max);
      exps[v] = e;
      expSum += e;
    }
    for (let v = 0; v < V; v++) probs[row + v] = exps[v] / expSum;
    for (let v = V; v < Vp; v++) probs[row + v] = 0;
    losses[n] = Math.log(expSum) + max - logits[row + targets[n]];
  }
}

/**
 * dlogits[n,v] = (probs[n,v] - [v = targets[n]])·dloss for v < V and 0 for the padded columns (written). With
 * dloss = 1/N this is the gradient of the mean loss.
 *
 * @param b `dlogits` (N,Vp) written; `probs` (N,Vp); `targets` (N).
 * @param s Sizes N, V, Vp and the loss gradient `dloss` shared by every row.
 * @example
 * ```ts
 * import { softmaxCrossEntropyBackward } from "./softmax_crossentropy.ts";
 * const dlogits = new Float32Array(3);
 * softmaxCrossEntropyBackward({ dlogits, probs: new Float32Array([0.5, 0.5, 0]), targets: new Int32Array([0]) },
 *   { N: 1, V: 2, Vp: 3, dloss: 1 });
 * if (dlogits[0] !== -0.5 || dlogits[1] !== 0.5 || dlogits[2] !== 0) throw new Error("wrong gradient");
 * ```
 */
export function softmaxCrossEntropyBackward(
  b: CpuBuffers<typeof SOFTMAX_CROSSENTROPY_BACKWARD>,
  s: { N: number; V: number; Vp: number; dloss: number },
): void {
  const { dlogits, probs, targets } = b;
  const { N, V, Vp, dloss } = s;
  for (let n = 0; n < N; n++) {
    const row = n * Vp;
    const target = targets[n];
    for (let v = 0; v < V; v++) dlogits[row + v] = (probs[row + v] - (v === target ? 1 : 0)) * dloss;
    for (let v = V; v < Vp; v++) dlogits[row + v] = 0;
  }
}

/**
 * GPU form of `softmaxCrossEntropyForward`. probs = softmax over the first V columns (padded columns 0);
 * losses = -log probs[target].
 */
function softmaxCrossEntropyForwardGpu(
  rt: GpuRuntime,
  b: GpuBuffers<typeof SOFTMAX_CROSSENTROPY_FORWARD>,
  s: { N: number; V: number; Vp: number },
): void {
  const { N, V, Vp } = s;
  for (const range of ranges(N, perBinding(rt, Vp, b.logits))) {
    rt.dispatch({
      kernel: softmaxCrossEntropyForwardKernel,
      bindings: bindRows(rt, range, [[b.losses, 1], [b.probs, Vp], [b.logits, Vp], [b.targets, 1]]),
      params: { N: range[1], V, Vp },
      groups: gridRows(rt, range[1]),
    });
  }
}

/** GPU form of `softmaxCrossEntropyBackward`. dlogits = (probs - onehot(targets))·dloss, padded columns 0. */
function softmaxCrossEntropyBackwardGpu(
  rt: GpuRuntime,
  b: GpuBuffers<typeof SOFTMAX_CROSSENTROPY_BACKWARD>,
  s: { N: number; V: number; Vp: number; dloss: number },
): void {
  const { N, V, Vp, dloss } = s;
  for (const range of ranges(N, perBinding(rt, Vp, b.probs))) {
    rt.dispatch({
      kernel: softmaxCrossEntropyBackwardKernel,
      bindings: bindRows(rt, range, [[b.dlogits, Vp], [b.probs, Vp], [b.targets, 1]]),
      params: { N: range[1], V, Vp, dloss },
      groups: [grid1d(rt, range[1] * Vp)],
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
    work: (s) => ({ bytes: 4 * 3 * s.N * s.Vp }),
  }),
  backward: defineOp({
    name: "softmaxCrossEntropyBackward",
    buffers: SOFTMAX_CROSSENTROPY_BACKWARD,
    cpu: softmaxCrossEntropyBackward,
    gpu: (g, b, s) => softmaxCrossEntropyBackwardGpu(g.rt, b, s),
    work: (s) => ({ bytes: 4 * 2 * s.N * s.Vp }),
  }),
};
