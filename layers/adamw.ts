/**
 * The AdamW optimizer step (decoupled weight decay, as in llm.c's `gpt2_update` and PyTorch's AdamW) and the squared
 * global gradient norm used for clipping. Element math runs in float64; m, v and the parameters are stored as float32.
 *
 * Forms: `cpu` is the scalar float64 reference below; `wasm` is CpuKernels' float32 SIMD loop (the norm: float32
 * squares summed in float64); `gpu` dispatches kernels/adamw_update.wgsl as a 1-D grid-stride loop (or, with an f16
 * copy of the parameters to refresh, kernels/adamw_update_f16.wgsl, which writes it in the same pass), and the norm in
 * two stages (kernels/grad_norm_partial.wgsl per piece, then one ordered kernels/grad_norm_final.wgsl). Both run over
 * pieces that lie in one GPUBuffer of every operand and fit one binding (`lockstepPieces`), so they work on whole
 * arenas (AdamW over every parameter) as well as on single tensors.
 *
 * @module
 */
import adamwStepSrc from "../kernels/_adamw_step.wgsl" with { type: "text" };
import halfBitsSrc from "../kernels/_half_bits.wgsl" with { type: "text" };
import adamwUpdateSrc from "../kernels/adamw_update.wgsl" with { type: "text" };
import adamwUpdateF16Src from "../kernels/adamw_update_f16.wgsl" with { type: "text" };
import reduceSrc from "../kernels/_reduce.wgsl" with { type: "text" };
import gradNormFinalSrc from "../kernels/grad_norm_final.wgsl" with { type: "text" };
import gradNormPartialSrc from "../kernels/grad_norm_partial.wgsl" with { type: "text" };
import { dispatchElementwise, grid1d } from "../gpu/dispatch.ts";
import type { GpuLaunch } from "../gpu/executor.ts";
import { wgslKernel } from "../gpu/kernel.ts";
import { bindRange, type GpuTensor, lockstepPieces, maxBindingElements } from "../gpu/tensor.ts";
import { type BufferSpec, type CpuBuffers, defineOp } from "./_op.ts";
import { f16CopyForward } from "./f16_copy.ts";
import { fillZeroKernel } from "./fill.ts";

/**
 * AdamW: params, m, v (n) updated in place from grads (n); with `norm` (the 2 floats of `adamw.gradNormSquared`) and
 * a `maxNorm` > 0, the gradients are clipped to that global norm first, the scale computed where the update runs
 * (on the GPU: no read-back inside the step). With `params16` (an f16 model's copy of the weights), the same step
 * writes the updated parameters rounded to halves there (a skipped step writes neither).
 */
export const ADAMW_UPDATE = {
  params: "f32",
  grads: "f32",
  m: "f32",
  v: "f32",
  norm: "f32?",
  params16: "f16?",
} as const satisfies BufferSpec;
/** Σ grads² of grads (n) into out (2 floats, see `adamw.gradNormSquared`). */
export const GRAD_NORM_SQUARED = { out: "f32", grads: "f32" } as const satisfies BufferSpec;

/** One AdamW step. */
const adamwUpdateKernel = wgslKernel(adamwUpdateSrc + adamwStepSrc);
/** One AdamW step that also writes the f16 copy of the parameters. */
const adamwUpdateF16Kernel = wgslKernel(adamwUpdateF16Src + adamwStepSrc + halfBitsSrc);
/** Σ grads², first stage (one partial per workgroup). */
const gradNormPartialKernel = wgslKernel(gradNormPartialSrc + reduceSrc);
/** Σ grads², second stage. */
const gradNormFinalKernel = wgslKernel(gradNormFinalSrc + reduceSrc);

/** Most workgroups of the first gradient-norm stage per piece (each writes one partial sum). */
const NORM_PARTIALS = 1024; // 256 left the H200 at 656 GB/s (two workgroups an SM)

/** Hyperparameters of one AdamW step (llm.c's `gpt2_update`); read when the update runs. */
export interface AdamWHyper {
  learningRate: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** 1-based step number t, for bias correction. */
  step: number;
  /** Multiplier applied to every gradient before the update (clipping: min(1, maxNorm / norm)); 1 for none. */
  gradScale: number;
}

/**
 * The sizes and scalars of `adamw.update`: `maxNorm` > 0 clips to that global gradient norm (read from `norm`, of the
 * gradients times `gradScale`: a scaled loss's gradients scaled back); `skipNonFinite` leaves params, m and v as
 * they are when that norm is Inf or NaN (an overflow under loss scaling: the step is skipped).
 */
export type AdamWSizes = { n: number; maxNorm?: number; skipNonFinite?: boolean } & AdamWHyper;

/**
 * The clipping factor min(1, maxNorm / ‖g‖) from the two floats of `adamw.gradNormSquared`; 1 without clipping.
 *
 * @param normSquared out[0] + out[1] = Σ g² (undefined: no clipping).
 * @param maxNorm The norm to clip to (0 or undefined: none).
 * @param gradScale What the gradients are multiplied by before the update (the norm is theirs times it).
 * @returns The factor.
 * @example
 * ```ts
 * import { clipScale } from "./adamw.ts";
 * if (clipScale(new Float32Array([25, 0]), 1) !== 0.2) throw new Error("a norm of 5 clipped to 1 scales by 1/5");
 * ```
 */
export function clipScale(normSquared: ArrayLike<number> | undefined, maxNorm = 0, gradScale = 1): number {
  if (!normSquared || !(maxNorm > 0)) return 1;
  const norm = Math.sqrt(normSquared[0] + normSquared[1]) * gradScale;
  return norm > maxNorm ? maxNorm / norm : 1;
}

/** Whether an update skips: asked to, and the norm's words hold Inf or NaN. */
function skips(normSquared: ArrayLike<number> | undefined, s: AdamWSizes): boolean {
  return s.skipNonFinite === true && normSquared !== undefined && !Number.isFinite(normSquared[0] + normSquared[1]);
}

/** The CPU forms' update: skipped, or with the gradient scale times the clipping factor. */
function cpuUpdate(b: CpuBuffers<typeof ADAMW_UPDATE>, s: AdamWSizes, run: (hyper: AdamWHyper) => void): void {
  if (skips(b.norm, s)) return;
  run({ ...s, gradScale: s.gradScale * clipScale(b.norm, s.maxNorm, s.gradScale) });
  if (b.params16) f16CopyForward({ out: b.params16, inp: b.params }, { N: s.n });
}

/**
 * The scalars of one AdamW step as the WebAssembly and WGSL kernels take them: the hyperparameters, with the bias
 * corrections 1 - β1ᵗ and 1 - β2ᵗ computed here in float64 (the kernels run in float32).
 *
 * @param h The step's hyperparameters.
 * @returns One value per kernel parameter, by name.
 * @example
 * ```ts
 * import { adamwScalars } from "./adamw.ts";
 * const hyper = { learningRate: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradScale: 1 };
 * const k = adamwScalars({ ...hyper, step: 1 });
 * if (Math.abs(k.mCorrection - 0.1) > 1e-15) throw new Error("1 - 0.9¹");
 * ```
 */
export function adamwScalars(h: AdamWHyper): {
  learningRate: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  mCorrection: number;
  vCorrection: number;
  gradScale: number;
} {
  const { learningRate, beta1, beta2, eps, weightDecay, gradScale } = h;
  const mCorrection = 1 - beta1 ** h.step, vCorrection = 1 - beta2 ** h.step;
  return { learningRate, beta1, beta2, eps, weightDecay, mCorrection, vCorrection, gradScale };
}

/**
 * One AdamW step on n elements, at 1-based step t, with g = grads·gradScale:
 * m = β1·m + (1-β1)·g, v = β2·v + (1-β2)·g², m̂ = m/(1-β1ᵗ), v̂ = v/(1-β2ᵗ),
 * param -= lr·(m̂/(√v̂ + eps) + weightDecay·param).
 *
 * @param b `params`, `m`, `v` (n) updated in place; `grads` (n).
 * @param s Size n.
 * @param hyper Learning rate, betas, eps, weight decay, step and gradient scale.
 * @example
 * ```ts
 * import { adamwUpdate } from "./adamw.ts";
 * const params = new Float32Array([1]), m = new Float32Array(1), v = new Float32Array(1);
 * adamwUpdate({ params, grads: new Float32Array([0.5]), m, v }, { n: 1 },
 *   { learningRate: 0.1, beta1: 0.9, beta2: 0.999, eps: 0, weightDecay: 0, step: 1, gradScale: 1 });
 * if (Math.abs(params[0] - 0.9) > 1e-7) throw new Error("the first Adam step moves by lr·sign(g)");
 * ```
 */
export function adamwUpdate(
  b: CpuBuffers<typeof ADAMW_UPDATE>,
  s: { n: number },
  hyper: AdamWHyper,
): void {
  const { params, grads, m, v } = b;
  const { learningRate, beta1, beta2, eps, weightDecay, step, gradScale } = hyper;
  const mCorrection = 1 - beta1 ** step;
  const vCorrection = 1 - beta2 ** step;
  for (let i = 0; i < s.n; i++) {
    const g = grads[i] * gradScale;
    const mi = beta1 * m[i] + (1 - beta1) * g;
    const vi = beta2 * v[i] + (1 - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    const mHat = mi / mCorrection;
    const vHat = vi / vCorrection;
    params[i] -= learningRate * (mHat / (Math.sqrt(vHat) + eps) + weightDecay * params[i]);
  }
}

/**
 * Σ grads[i]² over n elements, summed in float64 (the global norm is its square root).
 *
 * @param b `grads` (n).
 * @param s Size n.
 * @returns The sum of squares.
 * @example
 * ```ts
 * import { gradNormSquared } from "./adamw.ts";
 * if (gradNormSquared({ grads: new Float32Array([3, 4]) }, { n: 2 }) !== 25) throw new Error("3² + 4² = 25");
 * ```
 */
export function gradNormSquared(b: { grads: Float32Array }, s: { n: number }): number {
  const { grads } = b;
  let sum = 0;
  for (let i = 0; i < s.n; i++) sum += grads[i] * grads[i];
  return sum;
}

/**
 * AdamW and the squared gradient norm as op records. The norm's `out` holds two floats whose sum is Σ grad²: the CPU
 * splits its float64 sum into a float32 and the float32 remainder (so clipping sees the float64 value), the GPU
 * writes its float32 sum into `out[0]` and leaves `out[1]` as planned, zero.
 */
export const adamw = {
  update: defineOp({
    name: "adamwUpdate",
    buffers: ADAMW_UPDATE,
    cpu: (b, s: AdamWSizes) => cpuUpdate(b, s, (hyper) => adamwUpdate(b, s, hyper)),
    wasm: (k, b, s) => cpuUpdate(b, s, (hyper) => k.adamwUpdate(b, s, hyper)),
    gpu: (g, b, s) => {
      if (b.params16 && b.params16.arena.dtype !== "f16") {
        throw new Error("adamwUpdate: params16 must be an f16 tensor");
      }
      const [kernel, ts] = b.params16
        ? [adamwUpdateF16Kernel, [b.params, b.grads, b.m, b.v, b.params16]]
        : [adamwUpdateKernel, [b.params, b.grads, b.m, b.v]];
      dispatchElementwise(g.rt, kernel, ts, s.n, {
        ...adamwScalars(s),
        max_norm: b.norm ? s.maxNorm ?? 0 : 0,
        skip_nonfinite: Number(b.norm !== undefined && s.skipNonFinite === true),
      }, [b.norm ? bindRange(b.norm, 0, 2, g.rt.limits) : g.rt.dummy]);
    },
    work: (s) => ({ bytes: 4 * 7 * s.n }),
  }),
  gradNormSquared: defineOp({
    name: "gradNormSquared",
    buffers: GRAD_NORM_SQUARED,
    cpu: (b, s: { n: number }) => splitFloat64(gradNormSquared(b, s), b.out),
    wasm: (k, b, s) => splitFloat64(k.gradNormSquared(b, s), b.out),
    gpu: gradNormSquaredGpu,
    work: (s) => ({ bytes: 4 * s.n }),
  }),
};

/** out[0] = Σ grads² over n elements: per-piece partial sums into scratch, then one ordered final sum. */
function gradNormSquaredGpu(g: GpuLaunch, b: { out: GpuTensor; grads: GpuTensor }, s: { n: number }): void {
  const rt = g.rt;
  const maxElements = maxBindingElements(rt.limits);
  const pieces = lockstepPieces([b.grads], s.n, maxElements);
  // Every partial must fit the final stage's one binding.
  const per = Math.max(1, Math.min(NORM_PARTIALS, Math.floor(maxElements / Math.max(1, pieces.length))));
  const count = Math.max(1, pieces.length) * per;
  const partial = rt.scratch(count);
  rt.dispatch({
    kernel: fillZeroKernel,
    bindings: [bindRange(partial, 0, count, rt.limits)],
    params: { n: count },
    groups: [grid1d(rt, count)],
  });
  pieces.forEach(([start, n], i) => {
    rt.dispatch({
      kernel: gradNormPartialKernel,
      bindings: [bindRange(b.grads, start, n, rt.limits), bindRange(partial, i * per, per, rt.limits)],
      params: { n },
      groups: [Math.min(per, grid1d(rt, Math.ceil(n / gradNormPartialKernel.perThread)))],
    });
  });
  rt.dispatch({
    kernel: gradNormFinalKernel,
    bindings: [bindRange(b.out, 0, 1, rt.limits), bindRange(partial, 0, count, rt.limits)],
    params: { count },
    groups: [1],
  });
}

/** Writes x as out[0] = fround(x) and out[1] = fround(x - out[0]): two floats that add up to x within 2^-48·|x|. */
function splitFloat64(x: number, out: Float32Array): void {
  out[0] = x;
  out[1] = x - out[0];
}
