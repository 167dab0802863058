/**
 * Layernorm (layers/layernorm.ts) in all its forms. The scalar reference: forward against a float64 layernorm
 * written from the definition, backward against finite differences. The GPU form against the reference: C = 30 (not
 * a multiple of 4), a single row with C = 1, and C = 770 (several columns per thread, more rows than one reduction
 * chunk). Outputs are NaN-poisoned; dinp, dweight and dbias start from random values because all three accumulate.
 */
import { layernorm, layernormBackward, layernormForward } from "../../layers/layernorm.ts";
import { assertClose } from "../_assert.ts";
import { randn, rng, uniform } from "../_random.ts";
import { adapterAvailable, poisoned as gpuPoisoned, testOps, upload } from "../gpu/_helpers.ts";
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

// Row sums of C ≤ 770 terms in f32 (tree-reduced) vs float64; the outputs are O(1): 1e-5 is ~50× the f32 rounding.
const TOL = { atol: 1e-5, rtol: 1e-5 };

for (const [N, C] of [[33, 30], [1, 1], [70, 770]]) {
  Deno.test({
    name: `gpu layernorm N=${N} C=${C}: forward and backward (all three gradients accumulate) vs CPU`,
    ignore: !adapterAvailable,
    fn: async () => {
      const ops = await testOps();
      const inp = uniform(rng(N + C), N * C, 3);
      const weight = uniform(rng(2), C);
      const bias = uniform(rng(3), C);
      const out = new Float32Array(N * C);
      const mean = new Float32Array(N);
      const rstd = new Float32Array(N);
      layernormForward({ out, mean, rstd, inp, weight, bias }, { N, C });
      const g = {
        out: await gpuPoisoned(ops, N * C),
        mean: await gpuPoisoned(ops, N),
        rstd: await gpuPoisoned(ops, N),
        inp: await upload(ops, inp),
        weight: await upload(ops, weight),
        bias: await upload(ops, bias),
      };
      ops.run(layernorm.forward, g, { N, C });
      // rstd is 1/√eps ≈ 316 when C = 1 (zero variance): compare it relatively.
      const diffs = [
        assertClose(await ops.read(g.out), out, TOL, "out"),
        assertClose(await ops.read(g.mean), mean, TOL, "mean"),
        assertClose(await ops.read(g.rstd), rstd, { atol: 1e-5, rtol: 1e-5 }, "rstd"),
      ];
      const dout = uniform(rng(4), N * C);
      const dinp = uniform(rng(5), N * C);
      const dweight = uniform(rng(6), C);
      const dbias = uniform(rng(7), C);
      const gb = {
        dinp: await upload(ops, dinp),
        dweight: await upload(ops, dweight),
        dbias: await upload(ops, dbias),
        dout: await upload(ops, dout),
        inp: g.inp,
        weight: g.weight,
        mean: g.mean,
        rstd: g.rstd,
      };
      layernormBackward({ dinp, dweight, dbias, dout, inp, weight, mean, rstd }, { N, C });
      ops.run(layernorm.backward, gb, { N, C });
      // dweight and dbias sum N rows of O(1) terms; dinp carries rstd (up to 316 for C = 1, where it is ~0 anyway).
      const sums = { atol: 1e-5 * Math.max(1, N / 10), rtol: 1e-5 };
      diffs.push(
        assertClose(await ops.read(gb.dinp), dinp, { atol: 1e-4, rtol: 1e-5 }, "dinp"),
        assertClose(await ops.read(gb.dweight), dweight, sums, "dweight"),
        assertClose(await ops.read(gb.dbias), dbias, sums, "dbias"),
      );
      console.log(`  max abs diff ${Math.max(...diffs).toExponential(1)}`);
    },
  });
}
