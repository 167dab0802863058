import { residualForward } from "../../layers/residual.ts";
import { assertClose } from "../_assert.ts";
import { randn, rng } from "../_random.ts";
import { poisoned } from "./_check.ts";

Deno.test("residual: out = inp1 + inp2 exactly (one float32 rounding)", () => {
  const r = rng(9);
  const inp1 = randn(r, 31), inp2 = randn(r, 31), out = poisoned(31);
  residualForward({ out, inp1, inp2 }, { N: 31 });
  // The float32 sum of two float32 values equals Math.fround of their exact sum.
  assertClose(out, inp1.map((x, i) => Math.fround(x + inp2[i])), { atol: 0 }, "out");
});
