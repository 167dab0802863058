import { geluBackward, geluForward } from "../../layers/gelu.ts";
import { assertClose } from "../_assert.ts";
import { randn, rng } from "../_random.ts";
import { f64, poisoned } from "./_check.ts";

/** GELU, tanh form, float64. */
const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

Deno.test("gelu: forward matches float64, backward matches finite differences, large |x| stays finite", () => {
  const r = rng(5);
  const inp = randn(r, 37, 3);
  inp.set([0, -1e-3, 40, -40, 100, -100], 0);
  const N = inp.length;
  const out = poisoned(N);
  geluForward({ out, inp }, { N });
  assertClose(out, f64(inp).map(gelu), { atol: 1e-7, rtol: 1e-6 }, "out");

  const dout = randn(r, N);
  const dinp = poisoned(N);
  geluBackward({ dinp, inp, dout }, { N });
  const h = 1e-5;
  const fd = f64(inp).map((x, i) => (gelu(x + h) - gelu(x - h)) / (2 * h) * dout[i]);
  // float32 result of float64 math vs central differences (error ~1e-10): 1e-6 relative is tight.
  assertClose(dinp, fd, { atol: 1e-7, rtol: 1e-6 }, "dinp (written)");
});
