/**
 * The descriptors of every production WGSL kernel (see `kernel.ts` for the conventions they follow). The WGSL is
 * imported as text, so `deno compile` and `deno bundle` embed it.
 *
 * @module
 */
import adamwUpdateSrc from "../kernels/adamw_update.wgsl" with { type: "text" };
import attentionDecodeSrc from "../kernels/attention_decode.wgsl" with { type: "text" };
import attentionSoftmaxBackwardSrc from "../kernels/attention_softmax_backward.wgsl" with { type: "text" };
import attentionSoftmaxForwardSrc from "../kernels/attention_softmax_forward.wgsl" with { type: "text" };
import colsumPartialSrc from "../kernels/colsum_partial.wgsl" with { type: "text" };
import encoderBackwardWpeSrc from "../kernels/encoder_backward_wpe.wgsl" with { type: "text" };
import encoderBackwardWteSrc from "../kernels/encoder_backward_wte.wgsl" with { type: "text" };
import encoderForwardSrc from "../kernels/encoder_forward.wgsl" with { type: "text" };
import fillZeroSrc from "../kernels/fill_zero.wgsl" with { type: "text" };
import geluBackwardSrc from "../kernels/gelu_backward.wgsl" with { type: "text" };
import geluForwardSrc from "../kernels/gelu_forward.wgsl" with { type: "text" };
import gradNormFinalSrc from "../kernels/grad_norm_final.wgsl" with { type: "text" };
import gradNormPartialSrc from "../kernels/grad_norm_partial.wgsl" with { type: "text" };
import layernormBackwardSrc from "../kernels/layernorm_backward.wgsl" with { type: "text" };
import layernormForwardSrc from "../kernels/layernorm_forward.wgsl" with { type: "text" };
import layernormParamPartialSrc from "../kernels/layernorm_param_partial.wgsl" with { type: "text" };
import gemmBindingsSrc from "../kernels/_gemm_bindings.wgsl" with { type: "text" };
import matmulSrc from "../kernels/matmul.wgsl" with { type: "text" };
import matmulSmallSrc from "../kernels/matmul_small.wgsl" with { type: "text" };
import residualForwardSrc from "../kernels/residual_forward.wgsl" with { type: "text" };
import softmaxCrossEntropyBackwardSrc from "../kernels/softmax_crossentropy_backward.wgsl" with { type: "text" };
import softmaxCrossEntropyForwardSrc from "../kernels/softmax_crossentropy_forward.wgsl" with { type: "text" };
import sumPartialsSrc from "../kernels/sum_partials.wgsl" with { type: "text" };
import type { KernelDescriptor } from "./kernel.ts";

const r = (name: string) => ({ name, access: "read" as const });
const rw = (name: string) => ({ name, access: "read_write" as const });
const WG256 = { WG: 256 };
const WG128 = { WG: 128 };

/** The batched strided SGEMM behind every dense product (128×128 tiles, 16 named vec4f accumulators). */
export const matmulKernel: KernelDescriptor = {
  name: "matmul",
  source: matmulSrc + gemmBindingsSrc,
  storage: [r("a"), r("b"), rw("c"), r("bias")],
  params: {
    M: "u32",
    N: "u32",
    K: "u32",
    a_sm: "u32",
    a_sk: "u32",
    b_sk: "u32",
    b_sn: "u32",
    c_sm: "u32",
    z_inner: "u32",
    a_so: "u32",
    a_si: "u32",
    b_so: "u32",
    b_si: "u32",
    c_so: "u32",
    c_si: "u32",
    k_chunk: "u32",
    k_zstride: "u32",
    alpha: "f32",
    a_m_contig: "u32",
    b_n_contig: "u32",
    has_bias: "u32",
    causal: "u32",
    m_fastest: "u32",
  },
  overrides: { BK: 16 },
};

/** The same product one output per thread, for outputs smaller than one tile. */
export const matmulSmallKernel: KernelDescriptor = {
  ...matmulKernel,
  name: "matmul_small",
  source: matmulSmallSrc + gemmBindingsSrc,
  overrides: { WX: 16, WY: 16 },
};

/** out = 0. */
export const fillZeroKernel: KernelDescriptor = {
  name: "fill_zero",
  source: fillZeroSrc,
  storage: [rw("out")],
  params: { n: "u32" },
  overrides: WG256,
};

/** out = inp1 + inp2. */
export const residualForwardKernel: KernelDescriptor = {
  name: "residual_forward",
  source: residualForwardSrc,
  storage: [rw("out"), r("inp1"), r("inp2")],
  params: { n: "u32" },
  overrides: WG256,
};

/** out = GELU(inp). */
export const geluForwardKernel: KernelDescriptor = {
  name: "gelu_forward",
  source: geluForwardSrc,
  storage: [rw("out"), r("inp")],
  params: { n: "u32" },
  overrides: WG256,
};

/** dinp = GELU'(inp)·dout. */
export const geluBackwardKernel: KernelDescriptor = {
  name: "gelu_backward",
  source: geluBackwardSrc,
  storage: [rw("dinp"), r("inp"), r("dout")],
  params: { n: "u32" },
  overrides: WG256,
};

/** Row-wise layernorm forward. */
export const layernormForwardKernel: KernelDescriptor = {
  name: "layernorm_forward",
  source: layernormForwardSrc,
  storage: [rw("out"), rw("mean"), rw("rstd"), r("inp"), r("weight"), r("bias")],
  params: { N: "u32", C: "u32" },
  overrides: WG128,
};

/** Row-wise layernorm input gradient (dinp +=). */
export const layernormBackwardKernel: KernelDescriptor = {
  name: "layernorm_backward",
  source: layernormBackwardSrc,
  storage: [rw("dinp"), r("dout"), r("inp"), r("weight"), r("mean"), r("rstd")],
  params: { N: "u32", C: "u32" },
  overrides: WG128,
};

/** Per-chunk column sums of dout·norm and dout (layernorm's dweight and dbias, first stage). */
export const layernormParamPartialKernel: KernelDescriptor = {
  name: "layernorm_param_partial",
  source: layernormParamPartialSrc,
  storage: [rw("partial"), r("dout"), r("inp"), r("mean"), r("rstd")],
  params: { N: "u32", C: "u32", rows_per_chunk: "u32" },
  overrides: { WX: 64, WY: 4 },
};

/** Per-chunk column sums of a strided matrix (matmul's dbias, first stage). */
export const colsumPartialKernel: KernelDescriptor = {
  name: "colsum_partial",
  source: colsumPartialSrc,
  storage: [rw("partial"), r("x")],
  params: { rows: "u32", W: "u32", sx: "u32", rows_per_chunk: "u32" },
  overrides: { WX: 64, WY: 4 },
};

/** out += Σ_s partial[s·stride + i] (second stage of chunked reductions). */
export const sumPartialsKernel: KernelDescriptor = {
  name: "sum_partials",
  source: sumPartialsSrc,
  storage: [rw("out"), r("partial")],
  params: { n: "u32", count: "u32", stride: "u32" },
  overrides: WG256,
};

/** Causal softmax of attention scores. */
export const attentionSoftmaxForwardKernel: KernelDescriptor = {
  name: "attention_softmax_forward",
  source: attentionSoftmaxForwardSrc,
  storage: [rw("att"), r("preatt")],
  params: { rows: "u32", T: "u32" },
  overrides: WG128,
};

/** One decode step of causal attention: the query at `pos` over the qkv rows 0..pos (the KV cache). */
export const attentionDecodeKernel: KernelDescriptor = {
  name: "attention_decode",
  source: attentionDecodeSrc,
  storage: [rw("out"), rw("att"), r("inp")],
  params: { pos: "u32", C: "u32", NH: "u32", scale: "f32" },
  overrides: WG128,
};

/** Backward of the causal softmax. */
export const attentionSoftmaxBackwardKernel: KernelDescriptor = {
  name: "attention_softmax_backward",
  source: attentionSoftmaxBackwardSrc,
  storage: [rw("dpreatt"), r("att"), r("datt")],
  params: { rows: "u32", T: "u32" },
  overrides: WG128,
};

/** Fused softmax + cross-entropy over the first V of Vp columns. */
export const softmaxCrossEntropyForwardKernel: KernelDescriptor = {
  name: "softmax_crossentropy_forward",
  source: softmaxCrossEntropyForwardSrc,
  storage: [rw("losses"), rw("probs"), r("logits"), r("targets")],
  params: { N: "u32", V: "u32", Vp: "u32" },
  overrides: WG256,
};

/** dlogits = (probs - onehot)·dloss. */
export const softmaxCrossEntropyBackwardKernel: KernelDescriptor = {
  name: "softmax_crossentropy_backward",
  source: softmaxCrossEntropyBackwardSrc,
  storage: [rw("dlogits"), r("probs"), r("targets")],
  params: { N: "u32", V: "u32", Vp: "u32", dloss: "f32" },
  overrides: WG256,
};

/** Token + position embedding. */
export const encoderForwardKernel: KernelDescriptor = {
  name: "encoder_forward",
  source: encoderForwardSrc,
  storage: [rw("out"), r("inp"), r("wte"), r("wpe")],
  params: { N: "u32", T: "u32", C: "u32", v0: "u32", v1: "u32" },
  overrides: WG256,
};

/** dwte += bucketed sums of dout. */
export const encoderBackwardWteKernel: KernelDescriptor = {
  name: "encoder_backward_wte",
  source: encoderBackwardWteSrc,
  storage: [rw("dwte"), r("dout"), r("buckets")],
  params: { cap: "u32", C: "u32", v0: "u32", v1: "u32" },
  overrides: WG256,
};

/** dwpe += Σ_b dout. */
export const encoderBackwardWpeKernel: KernelDescriptor = {
  name: "encoder_backward_wpe",
  source: encoderBackwardWpeSrc,
  storage: [rw("dwpe"), r("dout")],
  params: { B: "u32", T: "u32", C: "u32" },
  overrides: WG256,
};

/** One AdamW step. */
export const adamwUpdateKernel: KernelDescriptor = {
  name: "adamw_update",
  source: adamwUpdateSrc,
  storage: [rw("params"), r("grads"), rw("m"), rw("v")],
  params: {
    n: "u32",
    learning_rate: "f32",
    beta1: "f32",
    beta2: "f32",
    eps: "f32",
    weight_decay: "f32",
    m_correction: "f32",
    v_correction: "f32",
    grad_scale: "f32",
  },
  overrides: WG256,
};

/** Σ grads², first stage (one partial per workgroup). */
export const gradNormPartialKernel: KernelDescriptor = {
  name: "grad_norm_partial",
  source: gradNormPartialSrc,
  storage: [r("grads"), rw("partial")],
  params: { n: "u32" },
  overrides: WG256,
};

/** Σ grads², second stage. */
export const gradNormFinalKernel: KernelDescriptor = {
  name: "grad_norm_final",
  source: gradNormFinalSrc,
  storage: [rw("out"), r("partial")],
  params: { count: "u32" },
  overrides: WG256,
};

/** Every production kernel (for the convention test and for warming the pipeline cache). */
export const ALL_KERNELS: readonly KernelDescriptor[] = [
  matmulKernel,
  matmulSmallKernel,
  fillZeroKernel,
  residualForwardKernel,
  geluForwardKernel,
  geluBackwardKernel,
  layernormForwardKernel,
  layernormBackwardKernel,
  layernormParamPartialKernel,
  colsumPartialKernel,
  sumPartialsKernel,
  attentionSoftmaxForwardKernel,
  attentionSoftmaxBackwardKernel,
  attentionDecodeKernel,
  softmaxCrossEntropyForwardKernel,
  softmaxCrossEntropyBackwardKernel,
  encoderForwardKernel,
  encoderBackwardWteKernel,
  encoderBackwardWpeKernel,
  adamwUpdateKernel,
  gradNormPartialKernel,
  gradNormFinalKernel,
];
