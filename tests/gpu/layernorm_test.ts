/**
 * GPU layernorm forward/backward against the CPU layer (layers/layernorm.ts): C = 30 (not a multiple of 4), a single
 * row with C = 1, and C = 770 (several columns per thread, more rows than one reduction chunk). Outputs are
 * NaN-poisoned; dinp, dweight and dbias start from random values because all three accumulate.
 */
import { layernorm, layernormBackward, layernormForward } from "../../layers/layernorm.ts";
import { assertClose } from "../_assert.ts";
import { rng, uniform } from "../_random.ts";
import { adapterAvailable, poisoned, testOps, upload } from "./_helpers.ts";

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
        out: await poisoned(ops, N * C),
        mean: await poisoned(ops, N),
        rstd: await poisoned(ops, N),
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
