import { matmulBackward, matmulForward } from "../../layers/matmul.ts";
import { assertClose } from "../_assert.ts";
import { randn, rng } from "../_random.ts";
import { dot, f64, finiteDifferences, minus, poisoned } from "./_check.ts";

/** Float64 out[n,o] = Σ_c inp[n,c]·w[o,c] + b[o], written from the definition. */
function reference(
  inp: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number> | undefined,
  N: number,
  C: number,
  OC: number,
): Float64Array {
  const out = new Float64Array(N * OC);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < OC; o++) {
      let s = b ? b[o] : 0;
      for (let c = 0; c < C; c++) s += inp[n * C + c] * w[o * C + c];
      out[n * OC + o] = s;
    }
  }
  return out;
}

for (const [N, C, OC, withBias] of [[7, 30, 13, true], [1, 30, 90, true], [5, 3, 1, false]] as const) {
  Deno.test(`matmul N=${N} C=${C} OC=${OC}${withBias ? "" : " no bias"}: forward and backward`, () => {
    const r = rng(N * 1000 + C * 10 + OC);
    const inp = randn(r, N * C), weight = randn(r, OC * C), bias = withBias ? randn(r, OC) : undefined;
    const out = poisoned(N * OC);
    matmulForward({ out, inp, weight, bias }, { N, C, OC });
    // float64 dot products, one float32 rounding: relative 6e-8 of the O(√C) result.
    assertClose(out, reference(inp, weight, bias, N, C, OC), { atol: 1e-6, rtol: 1e-6 }, "out");

    const dout = randn(r, N * OC);
    const dweight0 = randn(r, OC * C), dbias0 = randn(r, OC);
    const dinp = poisoned(N * C), dweight = dweight0.slice(), dbias = withBias ? dbias0.slice() : undefined;
    matmulBackward({ dinp, dweight, dbias, dout, inp, weight }, { N, C, OC });
    const J = (i: ArrayLike<number>, w: ArrayLike<number>, b?: ArrayLike<number>) =>
      dot(reference(i, w, b, N, C, OC), dout);
    // The objective is linear, so finite differences are exact up to rounding (~1e-10).
    const tol = { atol: 1e-5, rtol: 1e-5 };
    assertClose(dinp, finiteDifferences((x) => J(x, weight, bias), f64(inp)), tol, "dinp (written)");
    const fdW = finiteDifferences((w) => J(inp, w, bias), f64(weight));
    assertClose(minus(dweight, dweight0), fdW, tol, "dweight (accumulated)");
    if (withBias) {
      const fdB = finiteDifferences((b) => J(inp, weight, b), f64(bias!));
      assertClose(minus(dbias!, dbias0), fdB, tol, "dbias (accumulated)");
    }
  });
}
