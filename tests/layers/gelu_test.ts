/**
 * GELU in all its forms: the scalar reference against float64 math and finite differences; the WebAssembly SIMD
 * kernels and the GPU kernels against the scalar reference, on awkward lengths, outputs poisoned with NaN, GPU inputs
 * out to ±30 (where a naive tanh overflows).
 *
 * WASM tolerance: the kernels compute in float32 (tanh through a ~1 ulp polynomial), so each element is within a few
 * float32 ulps of the float64 reference: |got - want| <= 1e-6 · (|want| + scale), scale being the size of the terms
 * involved; an indexing slip is off by O(1).
 */
import { CpuKernels } from "../../cpu/kernels.ts";
import { gelu as geluOp, geluBackward, geluForward } from "../../layers/gelu.ts";
import { assertClose } from "../_assert.ts";
import { randn, rng, uniform } from "../_random.ts";
import { adapterAvailable, oneWorkgroupOps, poisoned as gpuPoisoned, testOps, upload } from "../gpu/_helpers.ts";
import { f64, poisoned } from "./_check.ts";
import { Arena } from "../cpu/_wasm.ts";

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

// Views of one shared memory whose starts are not always 16-byte aligned.
const arena = new Arena({ mib: 32, seed: 7, skew: (n) => 4 * (n % 5) });

/** |got - want| <= rtol · (|want| + scale) per element (see the module comment). */
function near(scale: number, rtol = 1e-6) {
  return { atol: rtol * scale, rtol };
}

const LENGTHS = [1, 3, 4, 7, 65537, 70001]; // tails of 0-3 lanes, more than one 65536-element chunk

Deno.test("gelu: wasm forward/backward match the scalar reference on awkward lengths", async () => {
  const k = await CpuKernels.create(arena.memory, 2, { parallelMinFlops: 0 });
  try {
    for (const n of LENGTHS) {
      arena.reset();
      // GELU over [-6, 6].
      const x = arena.random(n, 6),
        dout = arena.random(n),
        out = arena.alloc(n).fill(NaN),
        dinp = arena.alloc(n).fill(NaN);
      const wOut = new Float32Array(n), wDinp = new Float32Array(n);
      k.geluForward({ out, inp: x }, { N: n });
      geluForward({ out: wOut, inp: x }, { N: n });
      assertClose(out, wOut, near(1), `gelu out n=${n}`);
      k.geluBackward({ dinp, inp: x, dout }, { N: n });
      geluBackward({ dinp: wDinp, inp: x, dout }, { N: n });
      assertClose(dinp, wDinp, near(1), `gelu dinp n=${n}`);
    }
  } finally {
    k.close();
  }
});

Deno.test({
  name: "gelu: gpu forward/backward on 1001 and 3001 elements (|x| up to 30; one workgroup's loop) vs CPU",
  ignore: !adapterAvailable,
  fn: async () => {
    // 1001 elements on the usual grid; 3001 on a grid of one workgroup (256 threads, four elements each a step), so
    // the grid-stride loop takes three steps, the last one partial.
    for (const [ops, N] of [[await testOps(), 1001], [await oneWorkgroupOps(), 3001]] as const) {
      const inp = uniform(rng(1), N, 4);
      inp.set([30, -30, 12, -12, 0]);
      const dout = uniform(rng(2), N);
      const out = new Float32Array(N);
      const dinp = new Float32Array(N);
      geluForward({ out, inp }, { N });
      geluBackward({ dinp, inp, dout }, { N });
      const g = { inp: await upload(ops, inp), dout: await upload(ops, dout) };
      const gout = await gpuPoisoned(ops, N);
      const gdinp = await gpuPoisoned(ops, N);
      ops.run(geluOp.forward, { out: gout, inp: g.inp }, { N });
      ops.run(geluOp.backward, { dinp: gdinp, inp: g.inp, dout: g.dout }, { N });
      // A few f32 operations per element (tanh in f32 vs float64): 1e-6 absolute + relative.
      const tol = { atol: 1e-6, rtol: 1e-6 };
      const d1 = assertClose(await ops.read(gout), out, tol, `gelu out N=${N}`);
      const d2 = assertClose(await ops.read(gdinp), dinp, tol, `gelu dinp N=${N}`);
      console.log(`  max abs diff: gelu N=${N} ${Math.max(d1, d2).toExponential(1)}`);
    }
  },
});
