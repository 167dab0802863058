/**
 * GPU launchers of the elementwise ops (zero, GELU, residual, AdamW) and the two-stage gradient norm. Each runs
 * over pieces that lie in one GPUBuffer of every operand and fit one binding (`lockstepPieces`), so they work on
 * whole arenas (AdamW over every parameter) as well as on single tensors.
 *
 * @module
 */
import { dispatchElementwise, grid1d } from "./dispatch.ts";
import type { AdamWHyper } from "../layers/adamw.ts";
import {
  adamwUpdateKernel,
  fillZeroKernel,
  geluBackwardKernel,
  geluForwardKernel,
  gradNormFinalKernel,
  gradNormPartialKernel,
  residualForwardKernel,
} from "./kernels.ts";
import type { GpuRuntime } from "./runtime.ts";
import { bindRange, type GpuTensor, lockstepPieces, maxBindingElements } from "./tensor.ts";

type F = GpuTensor;

/** Most workgroups of the first gradient-norm stage per piece (each writes one partial sum). */
const NORM_PARTIALS = 256;

/** t = 0. */
export function zero(rt: GpuRuntime, t: F, n = t.length): void {
  dispatchElementwise(rt, fillZeroKernel, [t], n);
}

/** out = GELU(inp). */
export function geluForward(rt: GpuRuntime, b: { out: F; inp: F }, s: { N: number }): void {
  dispatchElementwise(rt, geluForwardKernel, [b.out, b.inp], s.N);
}

/** dinp = GELU'(inp)·dout. */
export function geluBackward(rt: GpuRuntime, b: { dinp: F; inp: F; dout: F }, s: { N: number }): void {
  dispatchElementwise(rt, geluBackwardKernel, [b.dinp, b.inp, b.dout], s.N);
}

/** out = inp1 + inp2. */
export function residualForward(rt: GpuRuntime, b: { out: F; inp1: F; inp2: F }, s: { N: number }): void {
  dispatchElementwise(rt, residualForwardKernel, [b.out, b.inp1, b.inp2], s.N);
}

/** One AdamW step; the bias corrections 1 - β^t are computed here in float64. */
export function adamwUpdate(
  rt: GpuRuntime,
  b: { params: F; grads: F; m: F; v: F },
  s: { n: number },
  h: AdamWHyper,
): void {
  dispatchElementwise(rt, adamwUpdateKernel, [b.params, b.grads, b.m, b.v], s.n, {
    learning_rate: h.learningRate,
    beta1: h.beta1,
    beta2: h.beta2,
    eps: h.eps,
    weight_decay: h.weightDecay,
    m_correction: 1 - h.beta1 ** h.step,
    v_correction: 1 - h.beta2 ** h.step,
    grad_scale: h.gradScale,
  });
}

/** out[0] = Σ grads² over n elements: per-piece partial sums into scratch, then one ordered final sum. */
export function gradNormSquared(rt: GpuRuntime, out: F, b: { grads: F }, s: { n: number }): void {
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
      groups: [Math.min(per, grid1d(rt, n))],
    });
  });
  rt.dispatch({
    kernel: gradNormFinalKernel,
    bindings: [bindRange(out, 0, 1, rt.limits), bindRange(partial, 0, count, rt.limits)],
    params: { count },
    groups: [1],
  });
}
