import assert from "node:assert/strict";
/**
 * AdamW and the squared gradient norm in all their forms: the scalar reference against float64 AdamW; the
 * WebAssembly SIMD kernels and the GPU kernels against the scalar reference, on awkward lengths, outputs poisoned
 * with NaN; on the GPU, m and v start non-zero, at step 3, with gradient scaling.
 *
 * WASM tolerance: the kernels compute in float32, so each element is within a few float32 ulps of the float64
 * reference: |got - want| <= 1e-6 · (|want| + scale), scale being the size of the terms involved (given per check);
 * an indexing slip is off by O(1).
 */
import { CpuKernels } from "../../cpu/kernels.ts";
import { adamw, adamwUpdate, gradNormSquared } from "../../layers/adamw.ts";
import type { AdamWHyper } from "../../layers/adamw.ts";
import { assertClose } from "../_assert.ts";
import { randn, rng, uniform } from "../_random.ts";
import { adapterAvailable, oneWorkgroupOps, poisoned as gpuPoisoned, testOps, upload } from "../gpu/_helpers.ts";
import { Arena, HYPER } from "../cpu/_wasm.ts";

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

// Views of one shared memory whose starts are not always 16-byte aligned.
const arena = new Arena({ mib: 32, seed: 7, skew: (n) => 4 * (n % 5) });

/** |got - want| <= rtol · (|want| + scale) per element (see the module comment). */
function near(scale: number, rtol = 1e-6) {
  return { atol: rtol * scale, rtol };
}

const LENGTHS = [1, 3, 4, 7, 65537, 70001]; // tails of 0-3 lanes, more than one 65536-element chunk

Deno.test("adamw: wasm update and grad norm match the scalar reference on awkward lengths", async () => {
  const k = await CpuKernels.create(arena.memory, 2, { parallelMinFlops: 0 });
  try {
    for (const n of LENGTHS) {
      arena.reset();
      // AdamW: v >= 0 as in training.
      const params = arena.random(n), grads = arena.random(n), m = arena.random(n, 0.1), v = arena.alloc(n);
      for (let i = 0; i < n; i++) v[i] = Math.abs(grads[i]) * 0.01;
      const want = { params: params.slice(), grads, m: m.slice(), v: v.slice() };
      adamwUpdate(want, { n }, HYPER);
      k.adamwUpdate({ params, grads, m, v }, { n }, HYPER);
      // m, v: a few float32 roundings of terms up to ~0.1 (m) and ~0.01 (v); params move by ~lr, so the
      // error is relative to lr.
      assertClose(m, want.m, near(0.1), `adamw m n=${n}`);
      assertClose(v, want.v, near(0.01), `adamw v n=${n}`);
      assertClose(params, want.params, near(HYPER.learningRate, 1e-5), `adamw params n=${n}`);
      const norm = k.gradNormSquared({ grads }, { n });
      const wantNorm = gradNormSquared({ grads }, { n });
      if (!(Math.abs(norm - wantNorm) <= 1e-6 * wantNorm)) throw new Error(`grad norm² ${norm} vs ${wantNorm}`);
    }
  } finally {
    k.close();
  }
});

Deno.test({
  name: "adamw: gpu update (step 3, gradScale 0.5, non-zero m and v) and grad norm on 3001 elements vs CPU",
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
    const hyper = HYPER;
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
    // On the usual grid (one step of the partial stage's loop), and on one workgroup (three steps, the last partial).
    const rel = [];
    for (const norms of [ops, await oneWorkgroupOps()]) {
      const normOut = await gpuPoisoned(norms, 1);
      norms.run(adamw.gradNormSquared, { out: normOut, grads: await upload(norms, grads) }, { n });
      const got = (await norms.read(normOut))[0];
      // Σ of 3001 squares in f32 with Kahan-compensated partial sums: relative error ~1e-7.
      if (!(Math.abs(got - expected) <= 1e-6 * expected)) throw new Error(`grad norm² ${got} vs CPU ${expected}`);
      rel.push((Math.abs(got - expected) / expected).toExponential(1));
    }
    console.log(`  max abs diff ${d.toExponential(1)}, norm² rel ${rel.join(", ")}`);
  },
});

Deno.test({
  name: "adamw: gpu clipping inside the update (norm from gradNormSquared, no read-back) vs CPU, clipped and not",
  ignore: !adapterAvailable,
  fn: async () => {
    const ops = await testOps();
    const n = 3001;
    const hyper = { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step: 2, gradScale: 1 };
    // Uniform grads in [-1, 1): a global norm of about √(n/3) ≈ 32, so maxNorm 1 clips and 100 does not.
    for (const maxNorm of [1, 100]) {
      const params = uniform(rng(5), n), grads = uniform(rng(6), n);
      const m = uniform(rng(7), n, 0.1), v = uniform(rng(8), n, 0.01).map(Math.abs);
      const g = {
        params: await upload(ops, params),
        grads: await upload(ops, grads),
        m: await upload(ops, m),
        v: await upload(ops, v),
        norm: await upload(ops, new Float32Array(2)), // out[1] stays 0 on the GPU (see adamw.gradNormSquared)
      };
      ops.run(adamw.gradNormSquared, { out: g.norm, grads: g.grads }, { n });
      ops.run(adamw.update, g, { n, ...hyper, maxNorm });
      const norm = Math.sqrt(gradNormSquared({ grads }, { n }));
      const scale = norm > maxNorm ? maxNorm / norm : 1;
      adamwUpdate({ params, grads, m, v }, { n }, { ...hyper, gradScale: scale });
      // As the unclipped GPU test; the f32 norm and scale differ from float64 by ~1e-7 relative, well inside.
      const tol = { atol: 1e-6, rtol: 1e-6 };
      assertClose(await ops.read(g.params), params, tol, `params (maxNorm ${maxNorm})`);
      assertClose(await ops.read(g.m), m, tol, `m (maxNorm ${maxNorm})`);
      assertClose(await ops.read(g.v), v, tol, `v (maxNorm ${maxNorm})`);
    }
  },
});

Deno.test("adamw: the CPU op clips from the norm buffer exactly as a gradScale of maxNorm / norm", () => {
  const n = 101;
  const hyper = { learningRate: 1e-2, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, step: 1, gradScale: 1 };
  const grads = uniform(rng(9), n);
  const norm = new Float32Array(2);
  adamw.gradNormSquared.cpu({ out: norm, grads }, { n });
  const viaOp = { params: uniform(rng(10), n), grads, m: new Float32Array(n), v: new Float32Array(n), norm };
  const direct = { params: viaOp.params.slice(), grads, m: new Float32Array(n), v: new Float32Array(n) };
  adamw.update.cpu(viaOp, { n, ...hyper, maxNorm: 0.5 });
  const exact = Math.sqrt(gradNormSquared({ grads }, { n }));
  adamwUpdate(direct, { n }, { ...hyper, gradScale: 0.5 / exact });
  assert.deepEqual(viaOp.params, direct.params);
  assert.deepEqual(viaOp.m, direct.m);
});

Deno.test({
  name: "adamw: a loss-scaled step (gradScale 2⁻¹⁶, clipping on the scaled-back norm) and an overflowed one skipped, " +
    "cpu and gpu",
  ignore: !adapterAvailable,
  fn: async () => {
    const ops = await testOps();
    const n = 777;
    const hyper = { learningRate: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, step: 3 };
    const S = 2 ** 16;
    const grads = uniform(rng(21), n), scaled = grads.map((g) => g * S); // exact: a power of two
    const start = { params: uniform(rng(22), n), m: uniform(rng(23), n, 0.1), v: uniform(rng(24), n, 0.01) };
    start.v = start.v.map(Math.abs);
    // The reference: the unscaled gradients, clipped to 1 by their own norm.
    const want = { params: start.params.slice(), m: start.m.slice(), v: start.v.slice() };
    const norm = Math.sqrt(gradNormSquared({ grads }, { n }));
    adamwUpdate({ ...want, grads }, { n }, { ...hyper, gradScale: 1 / norm });
    const sizes = { n, ...hyper, gradScale: 1 / S, maxNorm: 1, skipNonFinite: true };
    // CPU op: the same numbers exactly (scaling by 2⁻¹⁶ is exact).
    const cpu = { params: start.params.slice(), m: start.m.slice(), v: start.v.slice(), grads: scaled };
    const cpuNorm = new Float32Array(2);
    adamw.gradNormSquared.cpu({ out: cpuNorm, grads: scaled }, { n });
    adamw.update.cpu({ ...cpu, norm: cpuNorm }, sizes);
    assertClose(cpu.params, want.params, { atol: 1e-7, rtol: 1e-7 }, "cpu params");
    // GPU: f32 norm, ~1e-7 relative from the float64 one.
    const g = {
      params: await upload(ops, start.params),
      grads: await upload(ops, scaled),
      m: await upload(ops, start.m),
      v: await upload(ops, start.v),
      norm: await upload(ops, new Float32Array(2)),
    };
    ops.run(adamw.gradNormSquared, { out: g.norm, grads: g.grads }, { n });
    ops.run(adamw.update, g, sizes);
    assertClose(await ops.read(g.params), want.params, { atol: 1e-6, rtol: 1e-6 }, "gpu params");
    assertClose(await ops.read(g.m), want.m, { atol: 1e-6, rtol: 1e-6 }, "gpu m");
    // An overflow: one gradient is Inf (its square makes the norm Inf): nothing changes, on either backend.
    const broken = scaled.slice();
    broken[400] = Infinity;
    const after = { params: await ops.read(g.params), m: await ops.read(g.m), v: await ops.read(g.v) };
    ops.write(g.grads, broken);
    ops.run(adamw.gradNormSquared, { out: g.norm, grads: g.grads }, { n });
    ops.run(adamw.update, g, sizes);
    assert.deepEqual(await ops.read(g.params), after.params, "gpu: a skipped step writes nothing");
    assert.deepEqual(await ops.read(g.v), after.v);
    const before = cpu.params.slice();
    adamw.gradNormSquared.cpu({ out: cpuNorm, grads: broken }, { n });
    adamw.update.cpu({ ...cpu, grads: broken, norm: cpuNorm }, sizes);
    assert.deepEqual(cpu.params, before, "cpu: a skipped step writes nothing");
    // Without skipNonFinite the same Inf poisons the update (the skip is what protects it).
    adamw.update.cpu({ ...cpu, grads: broken, norm: cpuNorm }, { ...sizes, skipNonFinite: false });
    assert.ok(cpu.params.some((x) => !Number.isFinite(x)));
  },
});
