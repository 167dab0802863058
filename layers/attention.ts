/**
 * Causal multi-head self-attention. The input is the QKV projection (B,T,3C): channels [0,C) are the queries of all
 * heads, [C,2C) the keys, [2C,3C) the values; head h owns channels h·hs … (h+1)·hs - 1 of each, hs = C/NH.
 * For each head: preatt = q·kᵀ/√hs over keys t2 ≤ t, att = softmax(preatt) per row, out = att · v.
 * Dot products and softmax sums run in float64.
 *
 * @module
 */
import { zeroedScratch } from "./_scratch.ts";
import { attentionDecode as attentionDecodeGpu } from "../gpu/_ops_decode.ts";
import * as dense from "../gpu/_ops_dense.ts";
import { defineOp } from "./_op.ts";

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
  b: { out: Float32Array; preatt: Float32Array; att: Float32Array; inp: Float32Array },
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
  b: {
    dinp: Float32Array;
    dpreatt: Float32Array;
    datt: Float32Array;
    dout: Float32Array;
    inp: Float32Array;
    att: Float32Array;
  },
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

/**
 * Decode step: causal attention of the single query at position `pos` over positions 0..pos, the same arithmetic as
 * row `pos` of `attentionForward` (float64 dot products and softmax) without the saved scores. The key and value
 * rows of earlier positions are read in place from `inp`, which is what makes them a KV cache.
 *
 * @param b `out` (C) written; `inp` (≥ pos+1, 3C), the qkv rows of positions 0..pos.
 * @param s `pos` (0-based), C, NH (C divisible by NH).
 * @example
 * ```ts
 * import { attentionDecode } from "./attention.ts";
 * // Two positions with equal scores: out is the mean of the two values.
 * const inp = new Float32Array([1, 1, 2, 1, 1, 4]);
 * const out = new Float32Array(1);
 * attentionDecode({ out, inp }, { pos: 1, C: 1, NH: 1 });
 * if (out[0] !== 3) throw new Error("wrong attention");
 * ```
 */
export function attentionDecode(
  b: { out: Float32Array; inp: Float32Array },
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

/** Causal self-attention as op records: forward, backward, and one decode step over the KV cache. */
export const attention = {
  forward: defineOp({
    name: "attentionForward",
    buffers: { out: "f32", preatt: "f32", att: "f32", inp: "f32" },
    cpu: attentionForward,
    wasm: (k, b, s) => k.attentionForward(b, s),
    gpu: (g, b, s) => dense.attentionForward(g.rt, b, s, g.gemm),
    work: (s) => ({ flops: 2 * s.B * s.T * s.T * s.C }), // two causal (T×T×hs) products per head, half of each done
  }),
  backward: defineOp({
    name: "attentionBackward",
    buffers: { dinp: "f32", dpreatt: "f32", datt: "f32", dout: "f32", inp: "f32", att: "f32" },
    cpu: attentionBackward,
    wasm: (k, b, s) => k.attentionBackward(b, s),
    gpu: (g, b, s) => dense.attentionBackward(g.rt, b, s, g.gemm),
    work: (s) => ({ flops: 4 * s.B * s.T * s.T * s.C }),
  }),
  decode: defineOp({
    name: "attentionDecode",
    buffers: { out: "f32", inp: "f32" },
    cpu: attentionDecode,
    gpu: (g, b, s) => attentionDecodeGpu(g.rt, b, s),
    work: (s) => ({ flops: 4 * (s.pos + 1) * s.C }), // q·k and w·v over pos+1 rows
  }),
};
