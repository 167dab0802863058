/**
 * GPU GELU forward/backward, residual, zero, AdamW and the gradient norm against the CPU layers (layers/gelu.ts,
 * layers/residual.ts, layers/adamw.ts), on odd lengths and GELU inputs out to ±30 (where a naive tanh overflows).
 * Outputs are NaN-poisoned; AdamW's m and v start non-zero, at step 3, with gradient scaling.
 */
import { adamw, adamwUpdate, gradNormSquared } from "../../layers/adamw.ts";
import { gelu, geluBackward, geluForward } from "../../layers/gelu.ts";
import { residual, residualForward } from "../../layers/residual.ts";
import { assertClose } from "../_assert.ts";
import { rng, uniform } from "../_random.ts";
import { adapterAvailable, poisoned, testOps, upload } from "./_helpers.ts";
import { zero } from "../../layers/fill.ts";

Deno.test({
  name: "gpu gelu forward/backward and residual on 1001 elements (|x| up to 30) vs CPU",
  ignore: !adapterAvailable,
  fn: async () => {
    const ops = await testOps();
    const N = 1001;
    const inp = uniform(rng(1), N, 4);
    inp.set([30, -30, 12, -12, 0]);
    const dout = uniform(rng(2), N);
    const out = new Float32Array(N);
    const dinp = new Float32Array(N);
    geluForward({ out, inp }, { N });
    geluBackward({ dinp, inp, dout }, { N });
    const g = { inp: await upload(ops, inp), dout: await upload(ops, dout) };
    const gout = await poisoned(ops, N);
    const gdinp = await poisoned(ops, N);
    ops.run(gelu.forward, { out: gout, inp: g.inp }, { N });
    ops.run(gelu.backward, { dinp: gdinp, inp: g.inp, dout: g.dout }, { N });
    // A few f32 operations per element (tanh in f32 vs float64): 1e-6 absolute + relative.
    const tol = { atol: 1e-6, rtol: 1e-6 };
    const d1 = assertClose(await ops.read(gout), out, tol, "gelu out");
    const d2 = assertClose(await ops.read(gdinp), dinp, tol, "gelu dinp");
    const sum = new Float32Array(N);
    residualForward({ out: sum, inp1: inp, inp2: dout }, { N });
    const gsum = await poisoned(ops, N);
    ops.run(residual.forward, { out: gsum, inp1: g.inp, inp2: g.dout }, { N });
    const d3 = assertClose(await ops.read(gsum), sum, { atol: 0, rtol: 0 }, "residual"); // one f32 add: exact
    ops.run(zero, { out: gsum }, { n: gsum.length });
    assertClose(await ops.read(gsum), new Float32Array(N), { atol: 0, rtol: 0 }, "zero");
    console.log(`  max abs diff: gelu ${Math.max(d1, d2).toExponential(1)}, residual ${d3}`);
  },
});

Deno.test({
  name: "gpu adamw (step 3, gradScale 0.5, non-zero m and v) and grad norm on 3001 elements vs CPU",
  ignore: !adapterAvailable,
  fn: async () => {
    const ops = await testOps();
    const n = 3001;
    const params = uniform(rng(1), n);
    const grads = uniform(rng(2), n);
    const m = uniform(rng(3), n, 0.1);
    const v = uniform(rng(4), n, 0.01).map(Math.abs);
    const g = {
      params: await upload(ops, params),
      grads: await upload(ops, grads),
      m: await upload(ops, m),
      v: await upload(ops, v),
    };
    const hyper = {
      learningRate: 1e-3,
      beta1: 0.9,
      beta2: 0.999,
      eps: 1e-8,
      weightDecay: 0.01,
      step: 3,
      gradScale: 0.5,
    };
    adamwUpdate({ params, grads, m, v }, { n }, hyper);
    ops.run(adamw.update, g, { ...{ n }, ...hyper });
    // Parameters move by ~lr per step; f32 vs float64 arithmetic on the update differs by ~1e-7 of the parameter.
    const tol = { atol: 1e-6, rtol: 1e-6 };
    const d = Math.max(
      assertClose(await ops.read(g.params), params, tol, "params"),
      assertClose(await ops.read(g.m), m, tol, "m"),
      assertClose(await ops.read(g.v), v, tol, "v"),
    );
    const expected = gradNormSquared({ grads }, { n });
    const normOut = await poisoned(ops, 1);
    ops.run(adamw.gradNormSquared, { out: normOut, grads: g.grads }, { n });
    const got = (await ops.read(normOut))[0];
    // Σ of 3001 squares in f32 with Kahan-compensated partial sums: relative error ~1e-7.
    if (!(Math.abs(got - expected) <= 1e-6 * expected)) throw new Error(`grad norm² ${got} vs CPU ${expected}`);
    console.log(
      `  max abs diff ${d.toExponential(1)}, norm² rel ${(Math.abs(got - expected) / expected).toExponential(1)}`,
    );
  },
});
