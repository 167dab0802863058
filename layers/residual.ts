/**
 * The residual connection: out = inp1 + inp2. It has no backward function: the gradient of a sum reaches both inputs
 * unchanged, so the model keeps one residual-stream gradient buffer that both branches read and add to.
 *
 * Forms: `cpu` is the scalar loop below (exact: one float32 rounding per element); there is no `wasm` form; `gpu`
 * dispatches kernels/residual_forward.wgsl, a 1-D grid-stride loop, over pieces that lie in one GPUBuffer of
 * every operand and fit one binding (`dispatchElementwise`).
 *
 * @module
 */
import residualForwardSrc from "../kernels/residual_forward.wgsl" with { type: "text" };
import { dispatchElementwise } from "../gpu/dispatch.ts";
import { wgslKernel } from "../gpu/kernel.ts";
import { type BufferSpec, type CpuBuffers, defineOp } from "./_op.ts";

/** Residual add: out (N) = inp1 (N) + inp2 (N). */
export const RESIDUAL_FORWARD = { out: "f32", inp1: "f32", inp2: "f32" } as const satisfies BufferSpec;

/** out = inp1 + inp2. */
const residualForwardKernel = wgslKernel(residualForwardSrc);

/**
 * out[i] = inp1[i] + inp2[i] for N elements.
 *
 * @param b `out` (N) written; `inp1`, `inp2` (N).
 * @param s Size N.
 * @example
 * ```ts
 * import { residualForward } from "./residual.ts";
 * const out = new Float32Array(1);
 * residualForward({ out, inp1: new Float32Array([1]), inp2: new Float32Array([2]) }, { N: 1 });
 * if (out[0] !== 3) throw new Error("1 + 2 = 3");
 * ```
 */
export function residualForward(
  b: CpuBuffers<typeof RESIDUAL_FORWARD>,
  s: { N: number },
): void {
  const { out, inp1, inp2 } = b;
  for (let i = 0; i < s.N; i++) out[i] = inp1[i] + inp2[i];
}

/** The residual add as an op record (its backward is the identity: the residual-stream gradient passes through). */
export const residual = {
  forward: defineOp({
    name: "residualForward",
    buffers: RESIDUAL_FORWARD,
    cpu: residualForward,
    // out = inp1 + inp2.
    gpu: (g, b, s) => dispatchElementwise(g.rt, residualForwardKernel, [b.out, b.inp1, b.inp2], s.N),
    work: (s) => ({ bytes: 12 * s.N }),
  }),
};
