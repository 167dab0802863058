/**
 * GELU with GPT-2's tanh approximation: GELU(x) = ½·x·(1 + tanh(k·(x + 0.044715·x³))), k = √(2/π).
 * Computed in float64, stored as float32.
 *
 * Forms: `cpu` is the scalar float64 reference below; `wasm` is CpuKernels' float32 SIMD loop (tanh through a ~1 ulp
 * polynomial); `gpu` dispatches kernels/gelu_forward.wgsl and kernels/gelu_backward.wgsl, each a 1-D grid-stride loop,
 * over pieces that lie in one GPUBuffer of every operand and fit one binding (`dispatchElementwise`).
 *
 * @module
 */
import geluSrc from "../kernels/_gelu.wgsl" with { type: "text" };
import geluBackwardSrc from "../kernels/gelu_backward.wgsl" with { type: "text" };
import geluForwardSrc from "../kernels/gelu_forward.wgsl" with { type: "text" };
import { dispatchElementwise } from "../gpu/dispatch.ts";
import { wgslKernel } from "../gpu/kernel.ts";
import { type BufferSpec, type CpuBuffers, defineOp } from "./_op.ts";

/** GELU forward: out (N) written from inp (N). */
export const GELU_FORWARD = { out: "f32", inp: "f32" } as const satisfies BufferSpec;
/** GELU backward: dinp (N) written from inp (N) and dout (N). */
export const GELU_BACKWARD = { dinp: "f32", inp: "f32", dout: "f32" } as const satisfies BufferSpec;

/** out = GELU(inp). */
const geluForwardKernel = wgslKernel(geluForwardSrc + geluSrc);
/** dinp = GELU'(inp)·dout. */
const geluBackwardKernel = wgslKernel(geluBackwardSrc + geluSrc);

const GELU_K = Math.sqrt(2 / Math.PI);
const GELU_CUBIC = 0.044715;

/**
 * out[i] = GELU(inp[i]) for N elements.
 *
 * @param b `out` (N) written; `inp` (N).
 * @param s Size N.
 * @example
 * ```ts
 * import { geluForward } from "./gelu.ts";
 * const out = new Float32Array(2);
 * geluForward({ out, inp: new Float32Array([0, 10]) }, { N: 2 });
 * if (out[0] !== 0 || Math.abs(out[1] - 10) > 1e-6) throw new Error("GELU(0) = 0, GELU(10) ≈ 10");
 * ```
 */
export function geluForward(b: CpuBuffers<typeof GELU_FORWARD>, s: { N: number }): void {
  const { out, inp } = b;
  for (let i = 0; i < s.N; i++) {
    const x = inp[i];
    out[i] = 0.5 * x * (1 + Math.tanh(GELU_K * (x + GELU_CUBIC * x * x * x)));
  }
}

/**
 * dinp[i] = GELU'(inp[i])·dout[i] (written), where with u = k·(x + 0.044715·x³):
 * GELU'(x) = ½·(1 + tanh u) + ½·x·(1 - tanh² u)·k·(1 + 3·0.044715·x²).
 *
 * @param b `dinp` (N) written; `inp` (N) the forward input; `dout` (N).
 * @param s Size N.
 * @example
 * ```ts
 * import { geluBackward } from "./gelu.ts";
 * const dinp = new Float32Array(1);
 * geluBackward({ dinp, inp: new Float32Array([0]), dout: new Float32Array([2]) }, { N: 1 });
 * if (dinp[0] !== 1) throw new Error("GELU'(0) = 1/2");
 * ```
 */
export function geluBackward(b: CpuBuffers<typeof GELU_BACKWARD>, s: { N: number }): void {
  const { dinp, inp, dout } = b;
  for (let i = 0; i < s.N; i++) {
    const x = inp[i];
    const tanhU = Math.tanh(GELU_K * (x + GELU_CUBIC * x * x * x));
    const sech2U = 1 - tanhU * tanhU;
    const localGrad = 0.5 * (1 + tanhU) + 0.5 * x * sech2U * GELU_K * (1 + 3 * GELU_CUBIC * x * x);
    dinp[i] = localGrad * dout[i];
  }
}

/** GELU as op records. */
export const gelu = {
  forward: defineOp({
    name: "geluForward",
    buffers: GELU_FORWARD,
    cpu: geluForward,
    wasm: (k, b, s) => k.geluForward(b, s),
    // out = GELU(inp).
    gpu: (g, b, s) => dispatchElementwise(g.rt, geluForwardKernel, [b.out, b.inp], s.N),
    work: (s) => ({ bytes: 8 * s.N }),
  }),
  backward: defineOp({
    name: "geluBackward",
    buffers: GELU_BACKWARD,
    cpu: geluBackward,
    wasm: (k, b, s) => k.geluBackward(b, s),
    // dinp = GELU'(inp)·dout.
    gpu: (g, b, s) => dispatchElementwise(g.rt, geluBackwardKernel, [b.dinp, b.inp, b.dout], s.N),
    work: (s) => ({ bytes: 12 * s.N }),
  }),
};
