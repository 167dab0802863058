import { attentionBackward, attentionForward } from "../../layers/attention.ts";
import { assertClose } from "../_assert.ts";
import { randn, rng } from "../_random.ts";
import { dot, f64, finiteDifferences, poisoned } from "./_check.ts";

/**
 * Float64 causal attention from the definition, as matrices per (batch, head): S = Q·Kᵀ/√hs with -∞ above the
 * diagonal, A = softmax rows of S, Y = A·V. Returns out (B,T,C) and att (B,NH,T,T).
 */
function reference(qkv: ArrayLike<number>, B: number, T: number, C: number, NH: number) {
  const hs = C / NH;
  const out = new Float64Array(B * T * C);
  const att = new Float64Array(B * NH * T * T);
  const at = (b: number, t: number, part: number, h: number, i: number) =>
    qkv[(b * T + t) * 3 * C + part * C + h * hs + i];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < NH; h++) {
      for (let t = 0; t < T; t++) {
        const scores = Array.from({ length: T }, (_, t2) => {
          if (t2 > t) return -Infinity;
          let s = 0;
          for (let i = 0; i < hs; i++) s += at(b, t, 0, h, i) * at(b, t2, 1, h, i);
          return s / Math.sqrt(hs);
        });
        const max = Math.max(...scores);
        const exps = scores.map((s) => Math.exp(s - max));
        const sum = exps.reduce((a, e) => a + e, 0);
        for (let t2 = 0; t2 < T; t2++) att[((b * NH + h) * T + t) * T + t2] = exps[t2] / sum;
        for (let i = 0; i < hs; i++) {
          let y = 0;
          for (let t2 = 0; t2 <= t; t2++) y += (exps[t2] / sum) * at(b, t2, 2, h, i);
          out[(b * T + t) * C + h * hs + i] = y;
        }
      }
    }
  }
  return { out, att };
}

for (const [B, T, C, NH] of [[2, 5, 30, 3], [3, 1, 30, 3], [1, 7, 8, 1]]) {
  Deno.test(`attention B=${B} T=${T} C=${C} NH=${NH}: forward, causal mask, backward vs finite differences`, () => {
    const r = rng(B * 1000 + T * 10 + NH);
    const inp = randn(r, B * T * 3 * C);
    const out = poisoned(B * T * C), preatt = poisoned(B * NH * T * T), att = poisoned(B * NH * T * T);
    attentionForward({ out, preatt, att, inp }, { B, T, C, NH });
    const ref = reference(inp, B, T, C, NH);
    // float64 sums, float32 storage of O(1) values.
    assertClose(out, ref.out, { atol: 1e-6, rtol: 1e-6 }, "out");
    assertClose(att, ref.att, { atol: 1e-7, rtol: 1e-6 }, "att (0 above the diagonal)");
    for (let i = 0; i < preatt.length; i++) {
      if (Number.isNaN(preatt[i])) throw new Error(`preatt[${i}] not written`);
    }

    const dout = randn(r, B * T * C);
    const dinp = poisoned(B * T * 3 * C);
    const dpreatt = poisoned(B * NH * T * T), datt = poisoned(B * NH * T * T);
    attentionBackward({ dinp, dpreatt, datt, dout, inp, att }, { B, T, C, NH });
    const fd = finiteDifferences((x) => dot(reference(x, B, T, C, NH).out, dout), f64(inp));
    // dinp is written in full (poisoned first); float32 gradients vs float64 finite differences.
    assertClose(dinp, fd, { atol: 1e-5, rtol: 1e-4 }, "dinp (written)");
  });
}
