/**
 * The f16 copy of a tensor: out = inp rounded to IEEE half precision, element by element. Mixed-precision training
 * and generation keep the float32 weights as the master copy and give the matmuls an f16 copy to read (half the
 * bytes); this op refreshes the copy after the weights change.
 *
 * Forms: `cpu` rounds each value to the nearest half, ties to even (`roundToHalf`), into a Float32Array (the CPU form
 * of an f16 buffer, see `BufferKind`); there is no `wasm` form; `gpu` dispatches kernels/f16_copy.wgsl over pieces
 * that lie in one GPUBuffer of both tensors. It rounds with kernels/_half_bits.wgsl (integer operations on the float's
 * bits, not `pack2x16float`, which WGSL lets round either way and flush subnormals), so the GPU's copy is the CPU's bit
 * for bit on every device; no `shader-f16` needed.
 *
 * @module
 */
import halfBitsSrc from "../kernels/_half_bits.wgsl" with { type: "text" };
import f16CopySrc from "../kernels/f16_copy.wgsl" with { type: "text" };
import { dispatchElementwise } from "../gpu/dispatch.ts";
import { wgslKernel } from "../gpu/kernel.ts";
import { roundToHalf } from "../util/f16.ts";
import { type BufferSpec, type CpuBuffers, defineOp } from "./_op.ts";

/** out (N, f16) = inp (N) rounded to halves. */
export const F16_COPY = { out: "f16", inp: "f32" } as const satisfies BufferSpec;

const f16CopyKernel = wgslKernel(f16CopySrc + halfBitsSrc);

/**
 * out[i] = inp[i] rounded to the nearest half (ties to even), for N elements.
 *
 * @param b `out` (N) written with half-rounded values; `inp` (N).
 * @param s Size N.
 * @example
 * ```ts
 * import { f16CopyForward } from "./f16_copy.ts";
 * const out = new Float32Array(2);
 * f16CopyForward({ out, inp: new Float32Array([0.1, 70000]) }, { N: 2 });
 * if (out[0] !== 0.0999755859375 || out[1] !== Infinity) throw new Error("halves: 0.1 rounds, 70000 overflows");
 * ```
 */
export function f16CopyForward(b: CpuBuffers<typeof F16_COPY>, s: { N: number }): void {
  const { out, inp } = b;
  for (let i = 0; i < s.N; i++) out[i] = roundToHalf(inp[i]);
}

/** The f16 copy as an op record (no backward: the master weights get the gradients). */
export const f16Copy = {
  forward: defineOp({
    name: "f16Copy",
    buffers: F16_COPY,
    cpu: f16CopyForward,
    gpu: (g, b, s) => {
      if (b.out.arena.dtype !== "f16" || b.inp.arena.dtype !== "f32") {
        throw new Error("f16Copy: out must be an f16 tensor and inp an f32 one");
      }
      dispatchElementwise(g.rt, f16CopyKernel, [b.out, b.inp], s.N);
    },
    work: (s) => ({ bytes: 6 * s.N }),
  }),
};
