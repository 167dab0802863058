/**
 * Zero-filling a tensor (the gradients before a step, the residual-stream gradient before a backward pass).
 *
 * Forms: `cpu` is `Float32Array.fill`; there is no `wasm` form (the fill is already native); `gpu` dispatches
 * kernels/fill_zero.wgsl, a 1-D grid-stride loop, over pieces that lie in one GPUBuffer and fit one binding
 * (`dispatchElementwise`), so it clears whole arenas as well as single tensors.
 *
 * @module
 */
import fillZeroSrc from "../kernels/fill_zero.wgsl" with { type: "text" };
import { dispatchElementwise } from "../gpu/dispatch.ts";
import { type KernelDescriptor, wgslKernel } from "../gpu/kernel.ts";
import { defineOp } from "./_op.ts";

/** out = 0 (also clears scratch, e.g. the gradient norm's partial sums). */
export const fillZeroKernel: KernelDescriptor = wgslKernel(fillZeroSrc);

/**
 * out[0 .. n) = 0, as an op record.
 *
 * @example
 * ```ts
 * import { zero } from "./fill.ts";
 * const out = new Float32Array([1, 2, 3]);
 * zero.cpu({ out }, { n: 2 });
 * if (out[0] !== 0 || out[1] !== 0 || out[2] !== 3) throw new Error("only the first n elements are cleared");
 * ```
 */
export const zero = defineOp({
  name: "zero",
  buffers: { out: "f32" },
  cpu: (b, s: { n: number }) => void b.out.fill(0, 0, s.n),
  // t = 0.
  gpu: (g, b, s) => dispatchElementwise(g.rt, fillZeroKernel, [b.out], s.n),
  work: (s) => ({ bytes: 4 * s.n }),
});
