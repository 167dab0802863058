import { adamwUpdate, gradNormSquared } from "../../layers/adamw.ts";
import type { AdamWHyper } from "../../layers/adamw.ts";
import { assertClose } from "../_assert.ts";
import { randn, rng } from "../_random.ts";

Deno.test("adamw: 5 steps with gradient scaling and weight decay match a float64 AdamW", () => {
  const n = 37;
  const r = rng(11);
  const params = randn(r, n), m = new Float32Array(n), v = new Float32Array(n);
  const p64 = Float64Array.from(params), m64 = new Float64Array(n), v64 = new Float64Array(n);
  const base = { learningRate: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradScale: 0.5 };
  for (let step = 1; step <= 5; step++) {
    const grads = randn(r, n);
    const hyper: AdamWHyper = { ...base, step };
    adamwUpdate({ params, grads, m, v }, { n }, hyper);
    for (let i = 0; i < n; i++) {
      const g = grads[i] * base.gradScale;
      m64[i] = base.beta1 * m64[i] + (1 - base.beta1) * g;
      v64[i] = base.beta2 * v64[i] + (1 - base.beta2) * g * g;
      const mHat = m64[i] / (1 - base.beta1 ** step), vHat = v64[i] / (1 - base.beta2 ** step);
      p64[i] -= base.learningRate * (mHat / (Math.sqrt(vHat) + base.eps) + base.weightDecay * p64[i]);
    }
  }
  // float32 storage of m, v and params between steps: relative ~1e-7 per step.
  assertClose(params, p64, { atol: 1e-6, rtol: 1e-6 }, "params");
  assertClose(m, m64, { atol: 1e-7, rtol: 1e-6 }, "m");
  assertClose(v, v64, { atol: 1e-8, rtol: 1e-6 }, "v");
});

Deno.test("adamw: the first step moves each parameter by about lr against the gradient's sign", () => {
  const params = new Float32Array([1, 1, 1]), m = new Float32Array(3), v = new Float32Array(3);
  const grads = new Float32Array([3, -0.001, 0]);
  adamwUpdate({ params, grads, m, v }, { n: 3 }, {
    learningRate: 0.01,
    beta1: 0.9,
    beta2: 0.999,
    eps: 1e-8,
    weightDecay: 0,
    step: 1,
    gradScale: 1,
  }); // deno-fmt-ignore
  // m̂ = g and v̂ = g² at t=1, so the step is lr·g/(|g| + eps); a zero gradient does not move.
  assertClose(params, [0.99, 1.01, 1], { atol: 1e-6 }, "params");
});

Deno.test("gradNormSquared: float64 sum of squares", () => {
  const grads = randn(rng(12), 1001, 0.1);
  let want = 0;
  for (const g of grads) want += g * g;
  const got = gradNormSquared({ grads }, { n: grads.length });
  if (Math.abs(got - want) > 1e-12 * want) throw new Error(`${got} vs ${want}`);
  if (gradNormSquared({ grads }, { n: 2 }) !== grads[0] ** 2 + grads[1] ** 2) throw new Error("n is respected");
});
