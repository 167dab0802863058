import { layernormBackward, layernormForward } from "../../layers/layernorm.ts";
import { assertClose } from "../_assert.ts";
import { randn, rng } from "../_random.ts";
import { dot, f64, finiteDifferences, minus, poisoned } from "./_check.ts";

/** Float64 layernorm written from the definition: (x - mean) / sqrt(var + 1e-5) * w + b per row. */
function reference(x: Float64Array, w: ArrayLike<number>, b: ArrayLike<number>, N: number, C: number): Float64Array {
  const out = new Float64Array(N * C);
  for (let n = 0; n < N; n++) {
    const row = x.subarray(n * C, (n + 1) * C);
    const mean = row.reduce((s, v) => s + v, 0) / C;
    const variance = row.reduce((s, v) => s + (v - mean) ** 2, 0) / C;
    for (let c = 0; c < C; c++) out[n * C + c] = (row[c] - mean) / Math.sqrt(variance + 1e-5) * w[c] + b[c];
  }
  return out;
}

for (const [N, C] of [[7, 30], [1, 30], [3, 5]]) {
  Deno.test(`layernorm N=${N} C=${C}: forward matches float64, backward matches finite differences`, () => {
    const r = rng(N * 100 + C);
    const inp = randn(r, N * C, 2);
    for (let i = 0; i < inp.length; i++) inp[i] += 0.5; // nonzero mean
    const weight = randn(r, C);
    const bias = randn(r, C);
    const out = poisoned(N * C), mean = poisoned(N), rstd = poisoned(N);
    layernormForward({ out, mean, rstd, inp, weight, bias }, { N, C });
    // float32 storage of O(1) values: relative error ~6e-8 per rounding.
    assertClose(out, reference(f64(inp), weight, bias, N, C), { atol: 1e-6, rtol: 1e-6 }, "out");

    const dout = randn(r, N * C);
    const dinp0 = randn(r, N * C), dweight0 = randn(r, C), dbias0 = randn(r, C);
    const dinp = dinp0.slice(), dweight = dweight0.slice(), dbias = dbias0.slice();
    layernormBackward({ dinp, dweight, dbias, dout, inp, weight, mean, rstd }, { N, C });
    const fdInp = finiteDifferences((x) => dot(reference(x, weight, bias, N, C), dout), f64(inp));
    const fdWeight = finiteDifferences((w) => dot(reference(f64(inp), w, bias, N, C), dout), f64(weight));
    const fdBias = finiteDifferences((b) => dot(reference(f64(inp), weight, b, N, C), dout), f64(bias));
    // All three ACCUMULATE: the change is the gradient. Tolerance: float32 gradients vs float64 finite differences.
    const tol = { atol: 1e-5, rtol: 1e-4 };
    assertClose(minus(dinp, dinp0), fdInp, tol, "dinp (accumulated)");
    assertClose(minus(dweight, dweight0), fdWeight, tol, "dweight (accumulated)");
    assertClose(minus(dbias, dbias0), fdBias, tol, "dbias (accumulated)");
  });
}
