/**
 * Causal multi-head self-attention. The input is the QKV projection (B,T,3C): channels [0,C) are the queries of all
 * heads, [C,2C) the keys, [2C,3C) the values; head h owns channels h·hs … (h+1)·hs - 1 of each, hs = C/NH.
 * For each head: preatt = q·kᵀ/√hs over keys t2 ≤ t, att = softmax(preatt) per row, out = att · v.
 * Dot products and softmax sums run in float64.
 *
 * The forms of `attention.forward` and `attention.backward`:
 * - `cpu`: the scalar functions `attentionForward` and `attentionBackward` below, the reference;
 * - `wasm`: WebAssembly SIMD per (batch, head), spread over Workers (`cpu/kernels.ts`, `cpu/wasm/attention.ts`);
 * - `gpu`: the causal products on the shared SGEMM (`gpu/_gemm.ts`, `kernels/matmul.wgsl`) with q, k, v read in
 *   place from the qkv rows, around the row softmax kernels `kernels/attention_softmax_{forward,backward}.wgsl`.
 *   Given `lse`, the forward softmax writes each row's log-sum-exp instead of att, att·v makes the probabilities
 *   from preatt and lse as it stages them (the GEMM's `aExp`), and the backward's recompute (`outHolds`) makes att in
 *   the q·kᵀ product itself, exp(q·kᵀ/√hs − lse) (the GEMM's `rowExp`): no preatt, no softmax pass.
 *
 * `attention.decode` (one query over the KV cache) is the op record of `layers/attention_decode.ts`.
 *
 * @module
 */
import reduceSrc from "../kernels/_reduce.wgsl" with { type: "text" };
import reduceLanesSrc from "../kernels/_reduce_lanes.wgsl" with { type: "text" };
import attentionSoftmaxBackwardSrc from "../kernels/attention_softmax_backward.wgsl" with { type: "text" };
import attentionSoftmaxForwardSrc from "../kernels/attention_softmax_forward.wgsl" with { type: "text" };
import type { GemmOptions } from "../gpu/_gemm.ts";
import { wgslKernel } from "../gpu/kernel.ts";
import type { GpuRuntime } from "../gpu/runtime.ts";
import { bindRange, type GpuTensor } from "../gpu/tensor.ts";
import { attentionDecodeOp } from "./attention_decode.ts";
import { batchGroups, dispatchSoftmax, headProducts, headSizes } from "./_attention_products.ts";
import { dispatchRowDelta } from "./flash_attention.ts";
import { zeroedScratch } from "./_scratch.ts";
import { type BufferSpec, type CpuBuffers, defineOp, type GpuBuffers } from "./_op.ts";

/**
 * Causal attention forward: out (B,T,C), preatt and att (B,NH,T,T) written from the qkv rows inp (B,T,3C); `lse`
 * (B,NH,T), where given, the log-sum-exp of each row of scores, which the GPU form writes in the forward pass and
 * recomputes att from in the backward's recompute (`outHolds`); the CPU forms leave it alone.
 */
export const ATTENTION_FORWARD = {
  out: "f32",
  preatt: "f32",
  att: "f32",
  inp: "f32",
  lse: "f32?",
} as const satisfies BufferSpec;
/**
 * Causal attention backward: dinp (B,T,3C) written from dout (B,T,C), inp and att; dpreatt, datt are scratch. With
 * `out` (B,T,C, the forward's output), the GPU form computes the softmax's row term as rowsum(dout ∘ out) and makes
 * dpreatt in the dout·vᵀ product (no datt, no softmax pass); the CPU forms leave it alone.
 */
export const ATTENTION_BACKWARD = {
  dinp: "f32",
  dpreatt: "f32",
  datt: "f32",
  dout: "f32",
  inp: "f32",
  att: "f32",
  out: "f32?",
} as const satisfies BufferSpec;
type F = GpuTensor;

/**
 * Sizes of the attention forward. `outHolds`: `out` already holds this op's result for these inputs (the backward
 * pass recomputing a block's scores, which the blocks share): only preatt and att are needed, and a backend may skip
 * the att·v product (the GPU form does; the CPU forms write out again, with the same values).
 */
export type AttentionForwardSizes = {
  B: number;
  T: number;
  C: number;
  NH: number;
  outHolds?: boolean;
  /**
   * Whether att is read after this call as the forward pass leaves it (the backward pass of the last block, which
   * skips the recompute). Without it, given `lse`, the GPU form writes no att: att·v makes the probabilities from
   * preatt and lse as it reads them (the backward recomputes att from lse). The CPU forms always write att.
   */
  keepAtt?: boolean;
};

/**
 * Forward: out (B,T,C) gets each head's att·v in its channel slice; preatt and att (B,NH,T,T) are saved. Entries
 * above the diagonal (t2 > t) are set to 0 in both.
 *
 * @param b `out` (B,T,C), `preatt`, `att` (B,NH,T,T) written; `inp` (B,T,3C).
 * @param s Sizes B, T, C, NH (C divisible by NH).
 * @example
 * ```ts
 * import { attentionForward } from "./attention.ts";
 * // One position: attention to itself only, so out = v.
 * const out = new Float32Array(1), preatt = new Float32Array(1), att = new Float32Array(1);
 * attentionForward({ out, preatt, att, inp: new Float32Array([0.5, 2, 7]) }, { B: 1, T: 1, C: 1, NH: 1 });
 * if (out[0] !== 7 || att[0] !== 1 || preatt[0] !== 1) throw new Error("wrong attention");
 * ```
 */
export function attentionForward(
  b: CpuBuffers<typeof ATTENTION_FORWARD>,
  s: { B: number; T: number; C: number; NH: number },
): void {
  const { out, preatt, att, inp } = b;
  const { B, T, C, NH } = s;
  const hs = C / NH;
  const scale = 1 / Math.sqrt(hs);
  const C3 = 3 * C;
  const weights = zeroedScratch(0, T); // one row of attention weights in float64
  const acc = zeroedScratch(1, hs);
  for (let bb = 0; bb < B; bb++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const query = (bb * T + t) * C3 + h * hs;
        const attRow = ((bb * NH + h) * T + t) * T;
        // Scores against keys 0..t, and their max for a stable softmax.
        let max = -Infinity;
        for (let t2 = 0; t2 <= t; t2++) {
          const key = (bb * T + t2) * C3 + C + h * hs;
          let dot = 0;
          for (let i = 0; i < hs; i++) dot += inp[query + i] * inp[key + i];
          const score = dot * scale;
          weights[t2] = score;
          preatt[attRow + t2] = score;
          if (score > max) max = score;
        }
        let expSum = 0;
        for (let t2 = 0; t2 <= t; t2++) {
          const e = Math.exp(weights[t2] - max);
          weights[t2] = e;
          expSum += e;
        }
        for (let t2 = 0; t2 <= t; t2++) {
          weights[t2] /= expSum;
          att[attRow + t2] = weights[t2];
        }
        for (let t2 = t + 1; t2 < T; t2++) {
          preatt[attRow + t2] = 0;
          att[attRow + t2] = 0;
        }
        // out = Σ_t2 att[t2] · value[t2]
        acc.fill(0);
        for (let t2 = 0; t2 <= t; t2++) {
          const value = (bb * T + t2) * C3 + 2 * C + h * hs;
          const w = weights[t2];
          for (let i = 0; i < hs; i++) acc[i] += w * inp[value + i];
        }
        out.set(acc, (bb * T + t) * C + h * hs);
      }
    }
  }
}

/**
 * Backward: dinp (B,T,3C) is written in full (query, key and value gradients). Per head and query position t:
 * datt[t2] = dout[t]·v[t2], dv[t2] += att[t2]·dout[t]; softmax backward
 * dpreatt[t2] = att[t2]·(datt[t2] - Σ_t3 att[t3]·datt[t3]); dq += Σ_t2 dpreatt[t2]·k[t2]/√hs,
 * dk[t2] += dpreatt[t2]·q/√hs. `datt` and `dpreatt` are scratch (filled for t2 ≤ t). Each batch's gradients are
 * accumulated in float64 and stored once.
 *
 * @param b `dinp` (B,T,3C) written; `dpreatt`, `datt` (B,NH,T,T) scratch; `dout` (B,T,C); `inp` (B,T,3C) and `att`
 *   (B,NH,T,T) from the forward pass.
 * @param s Sizes B, T, C, NH.
 * @example
 * ```ts
 * import { attentionBackward } from "./attention.ts";
 * // One position: out = v, so dv = dout and q, k get nothing.
 * const dinp = new Float32Array(3).fill(NaN), scratch = () => new Float32Array(1);
 * attentionBackward({ dinp, dpreatt: scratch(), datt: scratch(), dout: new Float32Array([5]),
 *   inp: new Float32Array([0.5, 2, 7]), att: new Float32Array([1]) }, { B: 1, T: 1, C: 1, NH: 1 });
 * if (dinp[0] !== 0 || dinp[1] !== 0 || dinp[2] !== 5) throw new Error("wrong attention gradient");
 * ```
 */
export function attentionBackward(
  b: CpuBuffers<typeof ATTENTION_BACKWARD>,
  s: { B: number; T: number; C: number; NH: number },
): void {
  const { dinp, dpreatt, datt, dout, inp, att } = b;
  const { B, T, C, NH } = s;
  const hs = C / NH;
  const scale = 1 / Math.sqrt(hs);
  const C3 = 3 * C;
  const dscores = zeroedScratch(0, T); // datt, then dpreatt, of one row, in float64
  for (let bb = 0; bb < B; bb++) {
    const grad = zeroedScratch(1, T * C3); // this batch's dinp (T,3C) in float64
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const attRow = ((bb * NH + h) * T + t) * T;
        const doutAt = (bb * T + t) * C + h * hs;
        // Through out = att · v: datt[t2] = dout·v[t2], dv[t2] += att[t2]·dout.
        let weightedSum = 0; // Σ_t2 att[t2]·datt[t2], for the softmax backward
        for (let t2 = 0; t2 <= t; t2++) {
          const value = (bb * T + t2) * C3 + 2 * C + h * hs;
          const dvalue = t2 * C3 + 2 * C + h * hs;
          const a = att[attRow + t2];
          let dot = 0;
          for (let i = 0; i < hs; i++) {
            const d = dout[doutAt + i];
            dot += inp[value + i] * d;
            grad[dvalue + i] += a * d;
          }
          dscores[t2] = dot;
          datt[attRow + t2] = dot;
          weightedSum += a * dot;
        }
        // Through the softmax, then through preatt = q·k·scale.
        const query = (bb * T + t) * C3 + h * hs;
        const dquery = t * C3 + h * hs;
        for (let t2 = 0; t2 <= t; t2++) {
          const dpre = att[attRow + t2] * (dscores[t2] - weightedSum);
          dpreatt[attRow + t2] = dpre;
          const key = (bb * T + t2) * C3 + C + h * hs;
          const dkey = t2 * C3 + C + h * hs;
          const g = dpre * scale;
          for (let i = 0; i < hs; i++) {
            grad[dquery + i] += g * inp[key + i];
            grad[dkey + i] += g * inp[query + i];
          }
        }
      }
    }
    dinp.set(grad, bb * T * C3);
  }
}

/** Causal softmax of attention scores (GPU forward). */
const attentionSoftmaxForwardKernel = wgslKernel(attentionSoftmaxForwardSrc + reduceSrc + reduceLanesSrc);

/**
 * GPU forward: preatt = q·kᵀ/√hs and att = softmax, both on and below the diagonal only (whatever reads them masks
 * the rest), out = att · v, per (batch, head), with q, k, v read in place from qkv (B,T,3C).
 */
function attentionForwardGpu(
  rt: GpuRuntime,
  b: GpuBuffers<typeof ATTENTION_FORWARD>,
  s: AttentionForwardSizes,
  opts: GemmOptions,
  lanes: number,
): void {
  const { T, C, NH } = s;
  const { hs, C3, TT } = headSizes(s);
  for (const { b0, batch, qkv, sq, product, rows } of batchGroups(rt, s, b.att)) {
    const { scoresOf, mixOf } = headProducts(rt, opts, batch, T, hs);
    const q = { t: b.inp, start: qkv, sm: C3, sk: 1, so: T * C3, si: hs };
    const kT = { t: b.inp, start: qkv + C, sk: 1, sn: C3, so: T * C3, si: hs };
    const scores = { start: sq, sm: T, so: NH * TT, si: TT };
    const lse = b.lse && { t: b.lse, start: b0 * NH * T, so: NH * T, si: T };
    if (s.outHolds && lse) {
      // The backward's recompute from the forward's lse: att = exp(q·kᵀ/√hs - lse) in the product, no softmax pass.
      rt.group(
        "q·kᵀ → att",
        product,
        () =>
          scoresOf({
            a: q,
            b: kT,
            c: { t: b.att, ...scores },
            alpha: 1 / Math.sqrt(hs),
            causal: "lowerC",
            rowExp: lse,
          }),
      );
      continue;
    }
    rt.group(
      "q·kᵀ",
      product,
      () => scoresOf({ a: q, b: kT, c: { t: b.preatt, ...scores }, alpha: 1 / Math.sqrt(hs), causal: "lowerC" }),
    );
    // With lse, unless att is wanted: the softmax writes lse only, and att·v exponentiates the scores it reads.
    const fromScores = lse !== undefined && !s.keepAtt && !s.outHolds;
    // Bytes of the causal half of the rows: read twice and written, or read once.
    rt.group(
      "softmax",
      { bytes: (fromScores ? 2 : 6) * rows * T },
      () =>
        dispatchSoftmax(rt, attentionSoftmaxForwardKernel, lanes, {
          bindings: [
            bindRange(b.att, sq, rows * T, rt.limits),
            bindRange(b.preatt, sq, rows * T, rt.limits),
            lse ? bindRange(lse.t, lse.start, rows, rt.limits) : rt.dummy,
          ],
          params: { rows, T, has_lse: Number(lse !== undefined), write_att: Number(!fromScores) },
        }),
    );
    if (s.outHolds) continue; // a recompute for backward: only the scores were needed
    const probabilities = { start: sq, sm: T, sk: 1, so: NH * TT, si: TT };
    rt.group("att·v", product, () =>
      mixOf({
        a: fromScores ? { t: b.preatt, ...probabilities } : { t: b.att, ...probabilities },
        b: { t: b.inp, start: qkv + 2 * C, sk: C3, sn: 1, so: T * C3, si: hs },
        c: { t: b.out, start: b0 * T * C, sm: C, so: T * C, si: hs },
        causal: "lowerA",
        ...(fromScores ? { aExp: lse } : {}),
      }));
  }
}

/** Backward of the causal softmax (GPU backward). */
const attentionSoftmaxBackwardKernel = wgslKernel(attentionSoftmaxBackwardSrc + reduceSrc + reduceLanesSrc);

/**
 * GPU backward: datt = dout·vᵀ, dv = attᵀ·dout, dpreatt = softmax backward, dq = dpreatt·k/√hs,
 * dk = dpreattᵀ·q/√hs, written into dinp (B,T,3C) in place of q, k, v. Given `out`: D = rowsum(dout ∘ out) and
 * dpreatt = att ∘ (dout·vᵀ − D) in one product instead of datt and the softmax pass.
 */
function attentionBackwardGpu(
  rt: GpuRuntime,
  b: GpuBuffers<typeof ATTENTION_BACKWARD>,
  s: { B: number; T: number; C: number; NH: number },
  opts: GemmOptions,
  lanes: number,
): void {
  const { T, C, NH } = s;
  const { hs, C3, TT } = headSizes(s);
  const scale = 1 / Math.sqrt(hs);
  for (const { b0, batch, qkv, sq, product, rows } of batchGroups(rt, s, b.att)) {
    const { scoresOf, mixOf } = headProducts(rt, opts, batch, T, hs);
    const dy = b0 * T * C;
    const scores = { sm: T, so: NH * TT, si: TT };
    const scoresT = { sm: 1, sk: T, so: NH * TT, si: TT }; // (t2, t) view of a (t, t2) matrix
    const doutHeads = { t: b.dout, start: dy, sm: C, sk: 1, so: T * C, si: hs };
    const vT = { t: b.inp, start: qkv + 2 * C, sk: 1, sn: C3, so: T * C3, si: hs };
    const out = b.out;
    if (out) {
      // dpreatt = att ∘ (dout·vᵀ − D), D = rowsum(dout ∘ out) = Σ_t2 att·datt: the softmax's backward in the product.
      const D = rt.scratch(rows);
      rt.group("D", { bytes: 8 * (rows / NH) * C }, () =>
        dispatchRowDelta(
          rt,
          [
            bindRange(D, 0, rows, rt.limits),
            bindRange(out, dy, rows * hs, rt.limits),
            bindRange(b.dout, dy, rows * hs, rt.limits),
          ],
          rows,
          T,
          NH,
          hs,
        ));
      rt.group("dout·vᵀ → dpreatt", product, () =>
        scoresOf({
          a: doutHeads,
          b: vT,
          c: { t: b.dpreatt, start: sq, ...scores },
          causal: "lowerC",
          softmaxGrad: { aux: { t: b.att, start: sq }, v: { t: D, start: 0, so: NH * T, si: T } },
        }));
    } else {
      rt.group(
        "dout·vᵀ",
        product,
        () => scoresOf({ a: doutHeads, b: vT, c: { t: b.datt, start: sq, ...scores }, causal: "lowerC" }),
      );
    }
    rt.group("attᵀ·dout", product, () =>
      mixOf({
        a: { t: b.att, start: sq, ...scoresT },
        b: { t: b.dout, start: dy, sk: C, sn: 1, so: T * C, si: hs },
        c: { t: b.dinp, start: qkv + 2 * C, sm: C3, so: T * C3, si: hs },
        causal: "upperA",
      }));
    if (!b.out) { // the softmax's backward as its own pass (datt written above)
      rt.group(
        "softmax",
        { bytes: 4 * 2 * rows * T },
        () =>
          dispatchSoftmax(rt, attentionSoftmaxBackwardKernel, lanes, {
            bindings: [
              bindRange(b.dpreatt, sq, rows * T, rt.limits),
              bindRange(b.att, sq, rows * T, rt.limits),
              bindRange(b.datt, sq, rows * T, rt.limits),
            ],
            params: { rows, T },
          }),
      );
    }
    rt.group("dpreatt·k", product, () =>
      mixOf({
        a: { t: b.dpreatt, start: sq, sm: T, sk: 1, so: NH * TT, si: TT },
        b: { t: b.inp, start: qkv + C, sk: C3, sn: 1, so: T * C3, si: hs },
        c: { t: b.dinp, start: qkv, sm: C3, so: T * C3, si: hs },
        alpha: scale,
        causal: "lowerA",
      }));
    rt.group("dpreattᵀ·q", product, () =>
      mixOf({
        a: { t: b.dpreatt, start: sq, ...scoresT },
        b: { t: b.inp, start: qkv, sk: C3, sn: 1, so: T * C3, si: hs },
        c: { t: b.dinp, start: qkv + C, sm: C3, so: T * C3, si: hs },
        alpha: scale,
        causal: "upperA",
      }));
  }
}

/** Causal self-attention as op records: forward, backward, and one decode step over the KV cache. */
export const attention = {
  decode: attentionDecodeOp,
  forward: defineOp({
    name: "attentionForward",
    buffers: ATTENTION_FORWARD,
    cpu: (b, s: AttentionForwardSizes) => attentionForward(b, s),
    wasm: (k, b, s) => k.attentionForward(b, s),
    gpu: (g, b, s) => attentionForwardGpu(g.rt, b, s, g.gemm, g.softmaxLanes),
    // Two causal (T×T×hs) products per head, half of each done (one when out already holds the result on the GPU).
    work: (s) => ({ flops: (s.outHolds ? 1 : 2) * s.B * s.T * s.T * s.C }),
  }),
  backward: defineOp({
    name: "attentionBackward",
    buffers: ATTENTION_BACKWARD,
    cpu: attentionBackward,
    wasm: (k, b, s) => k.attentionBackward(b, s),
    gpu: (g, b, s) => attentionBackwardGpu(g.rt, b, s, g.gemm, g.softmaxLanes),
    work: (s) => ({ flops: 4 * s.B * s.T * s.T * s.C }),
  }),
};
