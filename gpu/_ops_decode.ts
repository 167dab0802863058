/**
 * GPU launcher of the decode-step attention (`kernels/attention_decode.wgsl`): one query over the qkv rows of the
 * positions so far, which serve as the KV cache, one workgroup per head.
 *
 * @module
 */
import { attentionDecodeKernel } from "./kernels.ts";
import type { GpuRuntime } from "./runtime.ts";
import { bindRange, type GpuTensor } from "./tensor.ts";

type F = GpuTensor;

/**
 * out (C) = attention of the query in row `pos` of inp over rows 0..pos (inp: (≥ pos+1, 3C) qkv rows). The
 * attention weights pass through the runtime's scratch buffer (NH·(pos+1) floats).
 */
export function attentionDecode(
  rt: GpuRuntime,
  b: { out: F; inp: F },
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
