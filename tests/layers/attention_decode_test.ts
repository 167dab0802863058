/**
 * The decode-step attention (`attentionDecode`) against row `pos` of the full causal `attentionForward` over the
 * same qkv rows: C = 30 with three heads (head size 10), prefixes of 1, 2, 17 and 64 positions.
 */
import { attentionDecode, attentionForward } from "../../layers/attention.ts";
import { assertClose } from "../_assert.ts";
import { rng, uniform } from "../_random.ts";

for (const [T, C, NH] of [[1, 30, 3], [2, 30, 3], [17, 30, 3], [64, 32, 2], [9, 12, 1]]) {
  Deno.test(`attentionDecode equals the last row of attentionForward (T=${T}, C=${C}, NH=${NH})`, () => {
    const inp = uniform(rng(T * 7 + C), T * 3 * C, 2);
    const full = new Float32Array(T * C);
    attentionForward({ out: full, preatt: new Float32Array(NH * T * T), att: new Float32Array(NH * T * T), inp }, {
      B: 1,
      T,
      C,
      NH,
    });
    // Every prefix: the query at pos attends to rows 0..pos only, so later rows must not matter.
    for (let pos = 0; pos < T; pos++) {
      const out = new Float32Array(C).fill(NaN);
      attentionDecode({ out, inp: inp.subarray(0, (pos + 1) * 3 * C) }, { pos, C, NH });
      assertClose(out, full.subarray(pos * C, (pos + 1) * C), { atol: 1e-6 }, `decode out at pos ${pos}`);
    }
  });
}

Deno.test("attentionDecode rejects a qkv prefix shorter than pos + 1 rows", () => {
  let threw = false;
  try {
    attentionDecode({ out: new Float32Array(3), inp: new Float32Array(9) }, { pos: 1, C: 3, NH: 1 });
  } catch (err) {
    threw = err instanceof RangeError;
  }
  if (!threw) throw new Error("expected a RangeError");
});
