/**
 * One step of incremental decoding: causal attention of the single query at position `pos` over the qkv rows of
 * positions 0..pos, which serve as the KV cache (`attention.decode` in `layers/attention.ts`).
 *
 * Forms: `cpu` is `attentionDecode` below, row `pos` of the reference `attentionForward` without the saved scores;
 * `gpu` is `kernels/attention_decode.wgsl`, one workgroup per head. The CPU backend runs the scalar form.
 *
 * @module
 */
import attentionDecodeSrc from "../kernels/attention_decode.wgsl" with { type: "text" };
import reduceSrc from "../kernels/_reduce.wgsl" with { type: "text" };
import { wgslKernel } from "../gpu/kernel.ts";
import type { GpuRuntime } from "../gpu/runtime.ts";
import { bindRange } from "../gpu/tensor.ts";
import { zeroedScratch } from "./_scratch.ts";
import { type BufferSpec, type CpuBuffers, defineOp, type GpuBuffers } from "./_op.ts";

/** One decode step: out (C) of the query in row pos of inp, over its rows 0..pos (the KV cache). */
export const ATTENTION_DECODE = { out: "f32", inp: "f32" } as const satisfies BufferSpec;

/** One decode step of causal attention: the query at `pos` over the qkv rows 0..pos (the KV cache). */
const attentionDecodeKernel = wgslKernel(attentionDecodeSrc + reduceSrc);

/**
 * Decode step: causal attention of the single query at position `pos` over positions 0..pos, the same arithmetic as
 * row `pos` of `attentionForward` (float64 dot products and softmax) without the saved scores. The key and value
 * rows of earlier positions are read in place from `inp`, which is what makes them a KV cache.
 *
 * @param b `out` (C) written; `inp` (≥ pos+1, 3C), the qkv rows of positions 0..pos.
 * @param s `pos` (0-based), C, NH (C divisible by NH).
 * @example
 * ```ts
 * import { attentionDecode } from "./attention_decode.ts";
 * // Two positions with equal scores: out is the mean of the two values.
 * const inp = new Float32Array([1, 1, 2, 1, 1, 4]);
 * const out = new Float32Array(1);
 * attentionDecode({ out, inp }, { pos: 1, C: 1, NH: 1 });
 * if (out[0] !== 3) throw new Error("wrong attention");
 * ```
 */
export function attentionDecode(
  b: CpuBuffers<typeof ATTENTION_DECODE>,
  s: { pos: number; C: number; NH: number },
): void {
  const { out, inp } = b;
  const { pos, C, NH } = s;
  const hs = C / NH;
  const scale = 1 / Math.sqrt(hs);
  const C3 = 3 * C;
  if (inp.length < (pos + 1) * C3 || out.length < C) {
    throw new RangeError(`attentionDecode: inp needs ${(pos + 1) * C3} elements and out ${C}`);
  }
  const weights = zeroedScratch(0, pos + 1);
  const acc = zeroedScratch(1, hs);
  for (let h = 0; h < NH; h++) {
    const query = pos * C3 + h * hs;
    let max = -Infinity;
    for (let t2 = 0; t2 <= pos; t2++) {
      const key = t2 * C3 + C + h * hs;
      let dot = 0;
      for (let i = 0; i < hs; i++) dot += inp[query + i] * inp[key + i];
      const score = dot * scale;
      weights[t2] = score;
      if (score > max) max = score;
    }
    let expSum = 0;
    for (let t2 = 0; t2 <= pos; t2++) {
      const e = Math.exp(weights[t2] - max);
      weights[t2] = e;
      expSum += e;
    }
    for (let t2 = 0; t2 <= pos; t2++) weights[t2] /= expSum;
    acc.fill(0);
    for (let t2 = 0; t2 <= pos; t2++) {
      const value = t2 * C3 + 2 * C + h * hs;
      const w = weights[t2];
      for (let i = 0; i < hs; i++) acc[i] += w * inp[value + i];
    }
    out.set(acc, h * hs);
  }
}

/**
 * GPU decode step: out (C) = attention of the query in row `pos` of inp over rows 0..pos (inp: (≥ pos+1, 3C) qkv
 * rows). The attention weights pass through the runtime's scratch buffer (NH·(pos+1) floats).
 */
function attentionDecodeGpu(
  rt: GpuRuntime,
  b: GpuBuffers<typeof ATTENTION_DECODE>,
  s: { pos: number; C: number; NH: number },
): void {
  const { pos, C, NH } = s;
  const n = pos + 1;
  const att = rt.scratch(NH * n);
  rt.dispatch({
    kernel: attentionDecodeKernel,
    bindings: [
      bindRange(b.out, 0, C, rt.limits),
      bindRange(att, 0, NH * n, rt.limits),
      bindRange(b.inp, 0, n * 3 * C, rt.limits),
    ],
    params: { pos, C, NH, scale: 1 / Math.sqrt(C / NH) },
    groups: [NH],
  });
}

/** The decode step as an op record. */
export const attentionDecodeOp = defineOp({
  name: "attentionDecode",
  buffers: ATTENTION_DECODE,
  cpu: attentionDecode,
  gpu: (g, b, s) => attentionDecodeGpu(g.rt, b, s),
  work: (s) => ({ flops: 4 * (s.pos + 1) * s.C }), // q·k and w·v over pos+1 rows
});
